# Sourced by the shell integration tests: a private bus and the real
# daemon on the sim backend in virtual time, in a temp dir of their own.
#   start_sim_daemon NAME INFUSIOND BUS_CONF
# sets work (the dir: infusiond.conf, history.db, daemon.log), exports
# DBUS_SYSTEM_BUS_ADDRESS, returns once the daemon owns its name, and
# kills both and removes the dir on exit. fail MESSAGE prints the daemon's
# log and exits 1.
work= daemon_pid= bus_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null
  [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
  [ -n "$work" ] && rm -rf "$work"
}
fail() { echo "FAIL: $*"; echo "--- daemon log"; cat "$work/daemon.log"; exit 1; }

start_sim_daemon() {
  local name=$1 infusiond=$2 bus_conf=$3
  work=$(mktemp -d "/tmp/infusiond-$name-XXXXXX")
  trap cleanup EXIT
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
  # Block until the daemon owns its name (it takes it only once ready).
  gdbus wait --address "$DBUS_SYSTEM_BUS_ADDRESS" --timeout 20 org.infusiond.pump1 || fail "daemon did not start"
}
