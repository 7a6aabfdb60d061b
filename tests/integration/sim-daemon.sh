# Sourced by the shell integration tests: a private bus and the real
# daemon on the sim backend in virtual time, in a temp dir of their own.
#   start_sim_daemon NAME INFUSIOND BUS_CONF
# sets work (the dir: infusiond.conf, history.db, daemon.log), exports
# DBUS_SYSTEM_BUS_ADDRESS, returns once the daemon owns its name, and on
# exit stops both and removes the dir. fail MESSAGE prints the daemon's
# log and exits 1. The words of INFUSIOND_WRAPPER, if set (valgrind ...),
# go before the daemon's argv; a sanitizer or valgrind report in the
# daemon's log fails the test (scripts/sanitize).
. "$(dirname "${BASH_SOURCE[0]}")/sim-conf.sh"
work= daemon_pid= bus_pid=
# Seconds the daemon gets to start and to stop: valgrind makes it slow.
bound_s=20
[ -z "${INFUSIOND_WRAPPER:-}" ] || bound_s=240
cleanup() {
  local rc=$? report=''
  if [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null; then
    # SIGTERM, as systemd stops it, so leak checks run at exit; bounded.
    python3 "$(dirname "${BASH_SOURCE[0]}")/wait-exit.py" "$daemon_pid" $bound_s || true
    kill -9 "$daemon_pid" 2>/dev/null || true
  fi
  [ -n "$bus_pid" ] && { kill "$bus_pid" 2>/dev/null || true; }
  if [ -n "$work" ]; then
    report=$(grep -m1 -o -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' \
      -e 'VALGRIND-ERROR-BEGIN' "$work/daemon.log" 2>/dev/null) || true
    if [ -n "$report" ]; then
      echo "FAIL: the daemon's log has \"$report\" (a sanitizer or valgrind report)"
      cat "$work/daemon.log"
      rc=1
    fi
    rm -rf "$work"
  fi
  exit "$rc"
}
fail() { echo "FAIL: $*"; echo "--- daemon log"; cat "$work/daemon.log"; exit 1; }

start_sim_daemon() {
  local name=$1 infusiond=$2 bus_conf=$3
  work=$(mktemp -d "/tmp/infusiond-$name-XXXXXX")
  trap cleanup EXIT
  dbus-daemon --config-file="$bus_conf" --fork --print-address=3 --print-pid=4 3>"$work/address" 4>"$work/pid"
  bus_pid=$(cat "$work/pid")
  export DBUS_SYSTEM_BUS_ADDRESS=$(head -n1 "$work/address")
  write_sim_conf "$work/infusiond.conf" "$work/history.db"
  ${INFUSIOND_WRAPPER:-} "$infusiond" --config "$work/infusiond.conf" 2>"$work/daemon.log" &
  daemon_pid=$!
  # Block until the daemon owns its name (it takes it only once ready).
  gdbus wait --address "$DBUS_SYSTEM_BUS_ADDRESS" --timeout "$bound_s" org.infusiond.pump1 ||
    fail "daemon did not start"
}
