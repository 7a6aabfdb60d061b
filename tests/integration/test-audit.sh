#!/usr/bin/env bash
# The audit chain shows tampering: commands through the real daemon, then
# one byte of one audit row changed with the sqlite3 shell, as anyone who
# can write the file could. `infusionctl audit verify` must name that row
# and exit non-zero; the untouched file verifies.
set -euo pipefail
infusiond=$1 ctl=$2 bus_conf=$3 library=$4

. "$(dirname "$0")/sim-daemon.sh"
start_sim_daemon audit "$infusiond" "$bus_conf"

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
