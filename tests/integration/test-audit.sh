#!/usr/bin/env bash
# The audit chain shows tampering: commands through the real daemon, then
# one byte of one audit row changed with the sqlite3 shell, as anyone who
# can write the file could. `infusionctl audit verify` must name that row
# and exit non-zero; the untouched file verifies.
set -euo pipefail
infusiond=$1 ctl=$2 bus_conf=$3 library=$4

work=$(mktemp -d /tmp/infusiond-audit-XXXXXX)
daemon_pid= bus_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null
  [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- daemon log"; cat "$work/daemon.log"; exit 1; }

dbus-daemon --config-file="$bus_conf" --fork --print-address=3 --print-pid=4 3>"$work/address" 4>"$work/pid"
bus_pid=$(cat "$work/pid")
export DBUS_SYSTEM_BUS_ADDRESS=$(head -n1 "$work/address")

cat > "$work/infusiond.conf" <<CONF
[pump]
backend = sim
[mechanism]
lead_pitch_mm = 1.0
steps_per_rev = 200
microsteps = 16
syringe_inner_diameter_mm = 26.6
syringe_volume_ml = 60
[database]
path = $work/history.db
[simulation]
clock = virtual
CONF
"$infusiond" --config "$work/infusiond.conf" 2>"$work/daemon.log" &
daemon_pid=$!
gdbus wait --address "$DBUS_SYSTEM_BUS_ADDRESS" --timeout 20 org.infusiond.pump1 || fail "daemon did not start"

"$ctl" library import "$library" >/dev/null
"$ctl" program --drug heparin --care-area ICU --dose 1000 --unit units/h --vtbi 50 >/dev/null
"$ctl" start
"$ctl" sim advance 10m >/dev/null
"$ctl" stop
rows=$(sqlite3 "file:$work/history.db?mode=ro" "SELECT count(*) FROM audit")
[ "$rows" -ge 4 ] || fail "only $rows audit rows"

# Intact, while the daemon runs and writes.
out=$("$ctl" audit verify --db "$work/history.db") || fail "an intact chain failed: $out"
echo "$out"
grep -q "intact" <<<"$out" || fail "verify did not say intact: $out"

# The journal-side witness: the head at start-up is logged.
grep -q "Audit chain head at start-up" "$work/daemon.log" || fail "no audit head logged at start-up"

# One byte of row 3: the guard trigger is only a guard, dropped here.
before=$(sqlite3 "$work/history.db" "SELECT method FROM audit WHERE id = 3")
sqlite3 "$work/history.db" "DROP TRIGGER audit_no_update;
  UPDATE audit SET method = substr(method, 1, 2) || char(unicode(substr(method, 3, 1)) + 1) || substr(method, 4)
   WHERE id = 3;"
after=$(sqlite3 "$work/history.db" "SELECT method FROM audit WHERE id = 3")
[ "$before" != "$after" ] && [ ${#before} -eq ${#after} ] || fail "the byte was not changed: $before / $after"
echo "row 3 method: $before -> $after"

rc=0
out=$("$ctl" audit verify --db "$work/history.db" 2>&1) || rc=$?
echo "$out"
[ "$rc" -eq 1 ] || fail "verify of a changed chain exited $rc, not 1"
grep -q "row 3" <<<"$out" || fail "verify did not name row 3: $out"

# The daemon is still there, and its History reads go on.
busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" call org.infusiond.pump1 /org/infusiond/pump1/history \
  org.infusiond.pump1.History Infusions 'xxa{sv}' 0 0 0 >/dev/null || fail "History after the tampering"
echo "PASS"
