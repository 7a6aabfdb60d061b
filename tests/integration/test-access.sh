#!/usr/bin/env bash
# Access control, for real: every method of every interface, called by
# each role from its own uid, on a dbus-daemon configured like Debian's
# system bus with the shipped policy file, against the daemon running as
# its own unprivileged account. Two layers are checked apart:
#   bus     the shipped policy (systemd/org.infusiond.pump1.conf): a denied
#           call gets org.freedesktop.DBus.Error.AccessDenied and
#           dbus-daemon logs it ("Rejected send message", with the uid);
#   daemon  the same system bus with the policy opened wide (as a wrong
#           local drop-in would): the daemon's own check (daemon/access.c)
#           must refuse with org.infusiond.pump1.Error.AccessDenied and
#           write one audit row with the caller's uid for each refusal.
# Both must give the table below. Also: nobody but the daemon's account
# (and root) may own org.infusiond.pump1, and every method the daemon
# publishes is in this table (so a new method cannot go untested).
#
# The accounts and role groups live in a private mount namespace (bind
# mounts over /etc/passwd and /etc/group): the host's user database is
# not touched. Needs root, as TESTING.md says; exits 77 (skip) otherwise.
#
# Usage: test-access.sh INFUSIOND POLICY_FILE NO_REPLY_CALLS
set -euo pipefail
infusiond=${1:?usage: $0 INFUSIOND POLICY_FILE NO_REPLY_CALLS} policy=${2:?usage: $0 INFUSIOND POLICY_FILE NO_REPLY_CALLS}
no_reply_calls=${3:?usage: $0 INFUSIOND POLICY_FILE NO_REPLY_CALLS}

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root (clients run as other uids; a system-like bus)"
  exit 77
fi
for tool in unshare setpriv gdbus sqlite3 dbus-daemon; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
if [ -z "${INFUSIOND_ACCESS_NS:-}" ]; then
  INFUSIOND_ACCESS_NS=1 exec unshare --mount --propagation private -- "$0" "$@"
fi

. "$(dirname "$0")/sim-conf.sh"

# --- accounts: the daemon's own and one per role (uids unused on Debian) ---
declare -A UID_OF=([infusiond]=64100 [viewer]=64101 [clinician]=64102 [patient]=64103
                   [pharmacy]=64104 [history]=64105)
ROLES=(viewer clinician patient pharmacy history)

work=$(mktemp -d /tmp/infusiond-access-XXXXXX)
chmod 0755 "$work"
bus_pid= daemon_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null
  [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for log in daemon.log bus.log; do [ -s "$work/$log" ] && { echo "--- $log"; tail -n 40 "$work/$log"; }; done
  exit 1
}

{ grep -v -E '^(infusiond|acc-)' /etc/passwd
  echo "infusiond:x:64100:64100:infusion pump daemon:$work:/usr/sbin/nologin"
  for r in "${ROLES[@]}"; do echo "acc-$r:x:${UID_OF[$r]}:${UID_OF[$r]}:$r:/nonexistent:/usr/sbin/nologin"; done
} > "$work/passwd"
{ grep -v -E '^(infusiond|acc-)' /etc/group
  echo "infusiond:x:64100:"
  for r in "${ROLES[@]}"; do echo "acc-$r:x:${UID_OF[$r]}:"; done
  # A ward's worth of members (over 8 KB): the daemon must still find
  # the group (getgrnam_r needs a larger buffer than the usual one).
  echo "infusiond-clinician:x:64202:acc-clinician$(printf ',nurse%04d' $(seq 1000))"
  echo "infusiond-patient:x:64203:acc-patient"
  echo "infusiond-pharmacy:x:64204:acc-pharmacy"
  echo "infusiond-history:x:64205:acc-history"
} > "$work/group"
chmod 0644 "$work/passwd" "$work/group"
mount --bind "$work/passwd" /etc/passwd
mount --bind "$work/group" /etc/group
[ "$(id -nG acc-clinician)" = "acc-clinician infusiond-clinician" ] || fail "test accounts did not resolve"

# Run as one of the accounts. Always called in a subshell (command
# substitution or &): the exec makes $! the process itself, so kill
# reaches the daemon and not a shell around it.
as_user() { local u=$1; shift; exec setpriv --reuid="${UID_OF[$u]}" --regid="${UID_OF[$u]}" --init-groups -- "$@"; }

# --- the method table: interface.member, object, gdbus arguments, roles ---
# "all" is every caller (the viewer role). Arguments are GVariant texts,
# one per gdbus argument, separated by ";". They are valid in form;
# an allowed call may still fail on its merits (InvalidState ...): only
# AccessDenied counts as a refusal.
CH=/org/infusiond/pump1/channel/0 LIB=/org/infusiond/pump1/library
HIST=/org/infusiond/pump1/history SIM=/org/infusiond/pump1/simulator MGR=/org/infusiond/pump1
TABLE=$(cat <<'T'
Channel.Program|CH|{'RateMlPerHour': <1.0>, 'VtbiMl': <1.0>}|clinician
Channel.Start|CH||clinician
Channel.Titrate|CH|{'RateMlPerHour': <2.0>}|clinician
Channel.Bolus|CH|{'BolusMl': <0.1>}|clinician
Channel.Pause|CH||clinician
Channel.Resume|CH||clinician
Channel.Stop|CH||clinician
Channel.AcknowledgeAlarm|CH|'no-such-alarm'|clinician
Channel.SilenceAlarms|CH||clinician
Channel.PcaDemand|CH||patient
Channel.GetPcaDemands|CH|uint32 5|clinician history
DrugLibrary.Import|LIB|'{}'|pharmacy
DrugLibrary.Export|LIB||all
DrugLibrary.ListDrugs|LIB|''|all
DrugLibrary.GetDrug|LIB|'no-such-drug'|all
History.Infusions|HIST|int64 0;int64 0;@a{sv} {}|clinician history
History.Events|HIST|int64 0;int64 0;@a{sv} {}|clinician history
History.Alarms|HIST|int64 0;int64 0;@a{sv} {}|clinician history
History.Export|HIST|'json';int64 0;int64 0;@a{sv} {}|clinician history
Simulator.AdvanceTime|SIM|uint64 1000|clinician
Simulator.SetOcclusion|SIM|false|clinician
Simulator.SetUpstreamOcclusion|SIM|false|clinician
Simulator.InjectAir|SIM|0.0|clinician
Simulator.PrimeLine|SIM||clinician
Simulator.SetDoorOpen|SIM|false|clinician
Simulator.SetBattery|SIM|true;100.0|clinician
Simulator.FailSensor|SIM|'pressure';'ok'|clinician
Simulator.SetMotorGain|SIM|1.0|clinician
Simulator.StallMotor|SIM|false|clinician
Simulator.PressPcaButton|SIM||clinician
Simulator.HangControlLoop|SIM|uint64 0|clinician
org.freedesktop.DBus.Properties.GetAll|CH|'org.infusiond.pump1.Channel'|all
org.freedesktop.DBus.Introspectable.Introspect|CH||all
org.freedesktop.DBus.Peer.Ping|MGR||all
org.freedesktop.DBus.ObjectManager.GetManagedObjects|MGR||all
T
)

# --- a system bus like Debian's: its own system.conf, our policy ---------
# The stock file minus what a private instance must not do (run as
# messagebus, fork, write /run/dbus/pid, include the host's other
# policies), listening in $work. EXTRA is appended after our policy.
write_bus_conf() {
  local out=$1 extra=$2
  sed -e '/<user>/d' -e '/<fork\/>/d' -e '/<pidfile>/d' -e '/<syslog\/>/d' \
      -e '/<servicehelper>/d' -e '/<standard_system_servicedirs\/>/d' \
      -e '/<includedir>/d' -e '/<include /d' -e '/<include>/d' \
      -e "s|<listen>.*</listen>|<listen>unix:path=$work/system_bus_socket</listen>|" \
      -e "s|</busconfig>|  <include>$policy</include>\n$extra\n</busconfig>|" \
      /usr/share/dbus-1/system.conf > "$out"
  grep -q "$work/system_bus_socket" "$out" || fail "could not write $out"
}

start_bus_and_daemon() {
  local conf=$1
  rm -f "$work/system_bus_socket" "$work/bus.log" "$work/daemon.log" "$work/address"
  # The address comes through a FIFO: the read returns when dbus-daemon
  # has written it (bounded), not after a polling sleep.
  mkfifo "$work/address"
  dbus-daemon --config-file="$conf" --nofork --nosyslog --print-address=3 3>"$work/address" 2>"$work/bus.log" &
  bus_pid=$!
  DBUS_SYSTEM_BUS_ADDRESS=
  read -r -t 20 DBUS_SYSTEM_BUS_ADDRESS <"$work/address" || true
  [ -n "$DBUS_SYSTEM_BUS_ADDRESS" ] || fail "dbus-daemon did not start"
  export DBUS_SYSTEM_BUS_ADDRESS

  mkdir -p "$work/state"
  chown "${UID_OF[infusiond]}:${UID_OF[infusiond]}" "$work/state"
  write_sim_conf "$work/infusiond.conf" "$work/state/history.db"
  as_user infusiond ${INFUSIOND_WRAPPER:-} "$infusiond" --config "$work/infusiond.conf" 2>"$work/daemon.log" &
  daemon_pid=$!
  gdbus wait --address "$DBUS_SYSTEM_BUS_ADDRESS" --timeout 60 org.infusiond.pump1 || fail "daemon did not start"
}

# SIGTERM, as systemd stops it, so a sanitizer's exit-time checks run
# (scripts/sanitize); a report in its log fails the test.
stop_bus_and_daemon() {
  local report
  kill "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=
  kill "$bus_pid"; wait "$bus_pid" || true; bus_pid=
  report=$(grep -m1 -o -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' \
    -e 'VALGRIND-ERROR-BEGIN' "$work/daemon.log") || true
  [ -z "$report" ] || fail "the daemon's log has \"$report\" (a sanitizer or valgrind report)"
}

# The error name of one call by ROLE, or "ok".
call_as() {
  local role=$1 method=$2 obj=$3 args=$4 iface member out
  iface=${method%.*} member=${method##*.}
  [[ $iface == *.* ]] || iface=org.infusiond.pump1.$iface
  local -a argv=()
  [ -n "$args" ] && IFS=';' read -r -a argv <<<"$args"
  if out=$(as_user "$role" gdbus call --address "$DBUS_SYSTEM_BUS_ADDRESS" --dest org.infusiond.pump1 \
             --object-path "$obj" --method "$iface.$member" "${argv[@]}" 2>&1); then
    echo ok
  else
    sed -n 's/.*GDBus\.Error:\([A-Za-z0-9_.]*\):.*/\1/p' <<<"$out" | head -n1 | grep . || echo "unnamed: $out"
  fi
}

obj_path() { case $1 in CH) echo $CH ;; LIB) echo $LIB ;; HIST) echo $HIST ;; SIM) echo $SIM ;; MGR) echo $MGR ;; esac; }
allowed() { local roles=$1 role=$2; [ "$roles" = all ] || [[ " $roles " == *" $role "* ]]; }
audit_denials() {
  sqlite3 "file:$work/state/history.db?mode=ro" \
    "SELECT count(*) FROM audit WHERE outcome = 'org.infusiond.pump1.Error.AccessDenied'"
}

declare -A VERDICT_BUS VERDICT_DAEMON
status=0 failures=()

# --- layer 1: the shipped policy on a system-like bus --------------------
write_bus_conf "$work/system-bus.conf" ""
start_bus_and_daemon "$work/system-bus.conf"

# Every method the daemon publishes is in the table (as root: may read all).
published=$(for o in $MGR $CH $LIB $HIST $SIM; do
  busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" introspect org.infusiond.pump1 "$o" |
    awk '$1 ~ /^org\.infusiond\.pump1\./ && $2 == "interface" { iface = $1 }
         $1 ~ /^\./ && $2 == "method" && iface != "" { sub(/^org\.infusiond\.pump1\./, "", iface); print iface $1 }
         $2 == "interface" && $1 !~ /^org\.infusiond\.pump1\./ { iface = "" }'
done | sort -u)
[ -n "$published" ] || fail "introspection listed no methods"
for m in $published; do
  grep -q "^$m|" <<<"$TABLE" || { echo "FAIL: $m is published but not in this test's table"; status=1; }
done

bus_denied=0
while IFS='|' read -r method obj args roles; do
  for role in "${ROLES[@]}"; do
    r=$(call_as "$role" "$method" "$(obj_path "$obj")" "$args")
    VERDICT_BUS[$method,$role]=$r
    [ "$r" = org.freedesktop.DBus.Error.AccessDenied ] && bus_denied=$((bus_denied + 1))
  done
done <<<"$TABLE"

# Nobody but the daemon's account and root may own the name: ask while the
# daemon holds it (the policy is checked before the queue is).
for role in "${ROLES[@]}"; do
  out=$(as_user "$role" gdbus call --address "$DBUS_SYSTEM_BUS_ADDRESS" --dest org.freedesktop.DBus \
          --object-path /org/freedesktop/DBus --method org.freedesktop.DBus.RequestName \
          org.infusiond.pump1 4 2>&1) && r=ok || r=$(sed -n 's/.*GDBus\.Error:\([A-Za-z0-9_.]*\):.*/\1/p' <<<"$out")
  VERDICT_BUS[own,$role]=$r
done

# dbus-daemon logged each refusal with the caller's uid.
logged=$(grep -c 'Rejected send message' "$work/bus.log" || true)
stop_bus_and_daemon

# --- layer 2: the policy opened wide, the daemon alone decides -----------
write_bus_conf "$work/open-bus.conf" \
  '  <policy context="default"><allow send_destination="org.infusiond.pump1"/></policy>'
start_bus_and_daemon "$work/open-bus.conf"
daemon_denied=0 audit_ok=1
while IFS='|' read -r method obj args roles; do
  for role in "${ROLES[@]}"; do
    before=$(audit_denials)
    r=$(call_as "$role" "$method" "$(obj_path "$obj")" "$args")
    VERDICT_DAEMON[$method,$role]=$r
    after=$(audit_denials)
    if [ "$r" = org.infusiond.pump1.Error.AccessDenied ]; then
      daemon_denied=$((daemon_denied + 1))
      short=${method#org.infusiond.pump1.}
      row=$(sqlite3 "file:$work/state/history.db?mode=ro" \
              "SELECT uid || ' ' || method FROM audit ORDER BY id DESC LIMIT 1")
      if [ "$after" -ne $((before + 1)) ] || [ "$row" != "${UID_OF[$role]} $short" ]; then
        echo "FAIL: refusal of $method for $role: audit rows $before -> $after, last row '$row'"
        audit_ok=0
      fi
    elif [ "$after" -ne "$before" ]; then
      echo "FAIL: $method for $role was not refused ($r) but wrote an AccessDenied audit row"
      audit_ok=0
    fi
  done
done <<<"$TABLE"

# Calls that ask for no reply, and calls through Properties.Set. sd-bus
# runs a handler after a filter that does not say "handled", and a refusal
# sent to a call that wants no reply is not sent at all: the check must
# hold for these too. As the viewer: Program, then Start.
viewer_uid=${UID_OF[viewer]}
state_before=$(busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" get-property org.infusiond.pump1 $CH \
                 org.infusiond.pump1.Channel State)
denied_before=$(audit_denials)
# Both on one connection, then a Ping on it: its answer means both passed
# the check (tests/integration/no-reply-calls.c), no polling needed.
(as_user viewer "$no_reply_calls" "$CH") || failures+=("FAIL: the no-reply calls could not be sent")
state_after=$(busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" get-property org.infusiond.pump1 $CH \
                org.infusiond.pump1.Channel State)
viewer_ok=$(sqlite3 "file:$work/state/history.db?mode=ro" \
  "SELECT count(*) FROM audit WHERE outcome = 'ok' AND (uid = $viewer_uid OR uid IS NULL)")
echo "no-reply calls as the viewer: state $state_before -> $state_after, refusals audited $((\
  $(audit_denials) - denied_before)) of 2, 'ok' rows by the viewer $viewer_ok"
if [ "$state_after" != "$state_before" ] || [ "$viewer_ok" -ne 0 ] ||
   [ "$(audit_denials)" -ne $((denied_before + 2)) ]; then
  failures+=("FAIL: calls without a reply got past the daemon's check")
  status=1
fi
# No property can be set, by anyone: sd-bus refuses, every role alike.
for role in "${ROLES[@]}"; do
  out=$(as_user "$role" gdbus call --address "$DBUS_SYSTEM_BUS_ADDRESS" --dest org.infusiond.pump1 \
          --object-path $CH --method org.freedesktop.DBus.Properties.Set \
          org.infusiond.pump1.Channel State "<'running'>" 2>&1) && r=ok ||
    r=$(sed -n 's/.*GDBus\.Error:\([A-Za-z0-9_.]*\):.*/\1/p' <<<"$out")
  case "$r" in
    org.freedesktop.DBus.Error.PropertyReadOnly|org.freedesktop.DBus.Error.AccessDenied) ;;
    *) failures+=("FAIL: Properties.Set of State as $role: $r"); status=1 ;;
  esac
done

stop_bus_and_daemon

# --- a flood of refused calls ----------------------------------------------
# Each is still refused by name, but a caller's refusals are audited one by
# one only up to the limit a window (daemon/denial-limit.h: 60 a minute),
# and the rest in one row saying how many (at the window's end, or when the
# daemon stops), so a looping client cannot fill the history's disk. On a
# freshly started daemon, so the viewer's window opens with the flood.
start_bus_and_daemon "$work/open-bus.conf"
flood=300
last_id=$(sqlite3 "file:$work/state/history.db?mode=ro" "SELECT coalesce(max(id), 0) FROM audit")
viewer_rows() {
  sqlite3 "file:$work/state/history.db?mode=ro" "SELECT count(*) FROM audit WHERE id > $last_id AND \
    uid = $viewer_uid AND outcome = 'org.infusiond.pump1.Error.AccessDenied' AND method <> 'AccessDenied'"
}
flood_start=$SECONDS
named=$(as_user viewer bash -c 'for _ in $(seq '$flood'); do
    gdbus call --address "$DBUS_SYSTEM_BUS_ADDRESS" --dest org.infusiond.pump1 --object-path '$CH' \
      --method org.infusiond.pump1.Channel.Start 2>&1; done; true' | grep -c "GDBus.Error:org.infusiond.pump1.Error.AccessDenied")
flood_s=$((SECONDS - flood_start))
audited=$(viewer_rows)
ping=$(call_as viewer org.freedesktop.DBus.Peer.Ping "$MGR" "")
stop_bus_and_daemon
# One window a minute, at most 60 audited in each.
windows=$((flood_s / 60 + 1))
counted=$(sqlite3 "file:$work/state/history.db?mode=ro" "SELECT message FROM audit WHERE id > $last_id AND \
    uid = $viewer_uid AND method = 'AccessDenied'" |
  sed -n 's/^\([0-9]*\) more refused calls from uid '"$viewer_uid"' within 60 s were not audited one by one.*/\1/p' |
  awk '{ n += $1 } END { print n + 0 }')
echo "a flood of $flood refused calls as the viewer in $flood_s s: $named refused by name, $audited audited one by" \
  "one, $counted counted in summary rows; Ping after: $ping"
[ "$named" -eq "$flood" ] || { failures+=("FAIL: $((flood - named)) of $flood flooding calls were not refused by name"); status=1; }
[ "$audited" -le $((60 * windows)) ] ||
  { failures+=("FAIL: $audited refusals audited one by one in $windows window(s) of 60"); status=1; }
[ $((audited + counted)) -eq "$flood" ] ||
  { failures+=("FAIL: of $flood refusals, $audited audited and $counted counted: each must be one or the other"); status=1; }
[ "$counted" -gt 0 ] || { failures+=("FAIL: no summary row counted the refusals not audited"); status=1; }
[ "$ping" = ok ] || { failures+=("FAIL: the daemon did not answer Ping during the flood's aftermath: $ping"); status=1; }

# --- the table ------------------------------------------------------------
# Each cell: allow or deny as designed; "!" marks a layer that disagreed.
printf '\n%-48s' "role x method (bus policy / daemon check)"
for role in "${ROLES[@]}"; do printf ' %-10s' "$role"; done
echo
while IFS='|' read -r method obj args roles; do
  printf '%-48s' "$method"
  for role in "${ROLES[@]}"; do
    b=${VERDICT_BUS[$method,$role]} d=${VERDICT_DAEMON[$method,$role]}
    if allowed "$roles" "$role"; then
      want=allow
      bad_b=$([ "$b" = org.freedesktop.DBus.Error.AccessDenied ] || [[ $b == unnamed* ]] && echo 1 || echo 0)
      bad_d=$([ "$d" = org.infusiond.pump1.Error.AccessDenied ] || [ "$d" = org.freedesktop.DBus.Error.AccessDenied ] ||
              [[ $d == unnamed* ]] && echo 1 || echo 0)
    else
      want=deny
      bad_b=$([ "$b" = org.freedesktop.DBus.Error.AccessDenied ] && echo 0 || echo 1)
      bad_d=$([ "$d" = org.infusiond.pump1.Error.AccessDenied ] && echo 0 || echo 1)
    fi
    cell=$want
    [ "$bad_b" = 1 ] && cell="$cell !bus"
    [ "$bad_d" = 1 ] && cell="$cell !daemon"
    if [ "$bad_b" = 1 ] || [ "$bad_d" = 1 ]; then
      status=1
      failures+=("FAIL: $method as $role: want $want; bus said $b; daemon said $d")
    fi
    printf ' %-10s' "$cell"
  done
  echo
done <<<"$TABLE"
printf '%-48s' "own the name org.infusiond.pump1"
for role in "${ROLES[@]}"; do
  r=${VERDICT_BUS[own,$role]}
  if [ "$r" = org.freedesktop.DBus.Error.AccessDenied ]; then printf ' %-10s' deny
  else printf ' %-10s' "allow !bus"; status=1; failures+=("FAIL: $role could own the name: $r"); fi
done
echo
echo
[ "${#failures[@]}" -eq 0 ] || printf '%s\n' "${failures[@]}"

echo "bus policy: $bus_denied calls refused by dbus-daemon, $logged logged by it (with uid)"
[ "$logged" -ge "$bus_denied" ] || { echo "FAIL: dbus-daemon logged $logged of $bus_denied refusals"; status=1; }
echo "daemon check: $daemon_denied calls refused by the daemon, each with one audit row naming uid and method"
[ "$audit_ok" = 1 ] || status=1
[ "$bus_denied" -gt 0 ] && [ "$daemon_denied" -eq "$bus_denied" ] ||
  { echo "FAIL: the layers refused different numbers of calls ($bus_denied, $daemon_denied)"; status=1; }

[ "$status" -eq 0 ] && echo PASS
exit "$status"
