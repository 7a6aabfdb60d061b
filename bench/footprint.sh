#!/usr/bin/env bash
# Footprint of the real daemon on a private bus, sim backend, real clock:
# start-up time to READY=1, RSS idle and infusing, idle CPU and wakeups,
# binary sizes. Prints a table and writes bench/results/footprint.csv.
#
#   bench/footprint.sh [--seconds N] [BUILD_DIR]     (N default 60, BUILD_DIR default build)
set -euo pipefail

seconds=60 build=build
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=${2:?--seconds needs a value}; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    -*) echo "footprint: unknown option $1" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "footprint: --seconds must be a positive integer" >&2; exit 2; }

src=$(cd "$(dirname "$0")/.." && pwd)
infusiond=$build/daemon/infusiond ctl=$build/ctl/infusionctl bus_conf=$src/tests/integration/bus.conf
runs=5 settle=5

work= daemon_pid= bus_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  if [ -n "$bus_pid" ]; then kill "$bus_pid" 2>/dev/null || true; fi
  [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() {
  echo "footprint: FAIL: $*" >&2
  if [ -n "$work" ] && [ -s "$work/daemon.log" ]; then echo "--- daemon log (tail)" >&2; tail -n 20 "$work/daemon.log" >&2; fi
  exit 1
}

for f in "$infusiond" "$ctl"; do [ -x "$f" ] || die "$f not found or not executable (build first, or pass BUILD_DIR)"; done
[ -f "$bus_conf" ] || die "$bus_conf not found"
for c in dbus-daemon gdbus; do command -v "$c" >/dev/null || die "$c not installed"; done
infusiond=$(realpath "$infusiond") ctl=$(realpath "$ctl")

work=$(mktemp -d /tmp/infusiond-footprint-XXXXXX)
dbus-daemon --config-file="$bus_conf" --fork --print-address=3 --print-pid=4 3>"$work/address" 4>"$work/pid" \
  || die "dbus-daemon did not start"
bus_pid=$(cat "$work/pid")
bus=$(head -n1 "$work/address")
export DBUS_SYSTEM_BUS_ADDRESS=$bus
unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID

write_conf() { # $1 = config file, $2 = database path
  cat > "$1" <<CONF
[pump]
backend = sim
[mechanism]
lead_pitch_mm = 1.0
steps_per_rev = 200
microsteps = 16
syringe_inner_diameter_mm = 26.6
syringe_volume_ml = 60
[database]
path = $2
[simulation]
clock = real
CONF
}

now_ns() { date +%s%N; }
name_owned() { gdbus call --address "$bus" --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.NameHasOwner org.infusiond.pump1 2>/dev/null | grep -q true; }

# --- start-up: exec to READY=1 -------------------------------------------------
# With python3: bind an AF_UNIX datagram socket, set NOTIFY_SOCKET, time from
# just before exec to the READY=1 datagram. Without it: poll the bus until the
# daemon owns its name (it takes it only once ready), which adds polling delay.
# Each run gets a fresh database (so every run creates the schema).
startup_py='
import os, socket, subprocess, sys, time
exe, conf, sock, log = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sock)
env = dict(os.environ, NOTIFY_SOCKET=sock)
with open(log, "ab") as lf:
    t0 = time.monotonic_ns()
    p = subprocess.Popen([exe, "--config", conf], env=env, stdout=subprocess.DEVNULL, stderr=lf)
    deadline = time.monotonic() + 20
    ms = None
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            msg = s.recv(4096)
        except socket.timeout:
            break
        if b"READY=1" in msg.split(b"\n"):
            ms = (time.monotonic_ns() - t0) / 1e6
            break
    p.terminate()
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill(); p.wait()
if ms is None:
    sys.exit("no READY=1 within 20 s")
print("%.3f" % ms)
'
if command -v python3 >/dev/null; then
  startup_method="READY=1 on NOTIFY_SOCKET (python3 AF_UNIX datagram socket)"
else
  startup_method="bus name org.infusiond.pump1 owned (polled via NameHasOwner; includes polling delay)"
fi
startup=()
for i in $(seq 1 "$runs"); do
  write_conf "$work/start$i.conf" "$work/start$i.db"
  if command -v python3 >/dev/null; then
    ms=$(python3 -c "$startup_py" "$infusiond" "$work/start$i.conf" "$work/notify$i.sock" "$work/daemon.log") \
      || die "start-up run $i: daemon did not send READY=1"
  else
    t0=$(now_ns)
    "$infusiond" --config "$work/start$i.conf" 2>>"$work/daemon.log" &
    daemon_pid=$!
    until name_owned; do
      kill -0 "$daemon_pid" 2>/dev/null || die "start-up run $i: daemon exited"
      [ $(( $(now_ns) - t0 )) -lt 20000000000 ] || die "start-up run $i: name not owned within 20 s"
    done
    ms=$(awk -v d=$(( $(now_ns) - t0 )) 'BEGIN { printf "%.3f", d / 1e6 }')
    kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=
  fi
  startup+=("$ms")
  # The name must be released before the next run.
  for _ in $(seq 100); do name_owned || break; sleep 0.05; done
done
startup_median=$(printf '%s\n' "${startup[@]}" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')

# --- the long-running daemon ------------------------------------------------------
write_conf "$work/infusiond.conf" "$work/history.db"
"$infusiond" --config "$work/infusiond.conf" 2>>"$work/daemon.log" &
daemon_pid=$!
gdbus wait --address "$bus" --timeout 20 org.infusiond.pump1 || die "daemon did not take its bus name"

proc=/proc/$daemon_pid
alive() { kill -0 "$daemon_pid" 2>/dev/null || die "daemon exited"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "$proc/status"; }
cpu_ticks() { sed 's/^.*) //' "$proc/stat" | awk '{ print $12 + $13 }'; }   # utime + stime (fields 14, 15)
vol_switches() { cat "$proc"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches:/ { s += $2 } END { print s }'; }
clk_tck=$(getconf CLK_TCK)

sleep "$settle"; alive
rss_idle=$(rss_kb)
threads_idle=$(ls "$proc/task" | wc -l)

t0=$(now_ns); c0=$(cpu_ticks); v0=$(vol_switches)
sleep "$seconds"; alive
t1=$(now_ns); c1=$(cpu_ticks); v1=$(vol_switches)
elapsed=$(awk -v d=$(( t1 - t0 )) 'BEGIN { printf "%.3f", d / 1e9 }')
cpu_idle=$(awk -v c=$(( c1 - c0 )) -v e="$elapsed" -v h="$clk_tck" 'BEGIN { printf "%.3f", 100 * c / (e * h) }')
wakeups=$(awk -v v=$(( v1 - v0 )) -v e="$elapsed" 'BEGIN { printf "%.2f", v / e }')

out=$("$ctl" program --rate 10 --vtbi 50 2>&1) || die "infusionctl program: $out"
out=$("$ctl" start 2>&1) || die "infusionctl start: $out"
sleep "$settle"; alive
out=$("$ctl" status --json 2>&1) || die "infusionctl status: $out"
grep -q '"State":"running"' <<<"$out" || die "not running after start: $out"
rss_infusing=$("rss_kb")
out=$("$ctl" stop 2>&1) || die "infusionctl stop: $out"

# --- binaries ------------------------------------------------------------------------
size_d=$(stat -c %s "$infusiond") size_c=$(stat -c %s "$ctl")
rows=(
  "startup_median,$startup_median,ms"
  "startup_runs,$runs,count"
  "rss_idle,$rss_idle,kB"
  "rss_infusing,$rss_infusing,kB"
  "threads_idle,$threads_idle,count"
  "cpu_idle,$cpu_idle,%"
  "wakeups_idle,$wakeups,per_s"
  "idle_window,$elapsed,s"
  "infusiond_file,$size_d,bytes"
  "infusionctl_file,$size_c,bytes"
)
if command -v size >/dev/null; then
  for b in infusiond:"$infusiond" infusionctl:"$ctl"; do
    read -r text data bss _ < <(size "${b#*:}" | awk 'NR == 2')
    rows+=("${b%%:*}_text,$text,bytes" "${b%%:*}_data,$data,bytes" "${b%%:*}_bss,$bss,bytes")
  done
fi

echo "infusiond footprint ($build, sim backend, real clock)"
echo "start-up: $startup_method; runs (ms): ${startup[*]}"
echo "idle: measured ${settle} s after start-up, over ${elapsed} s; infusing: 10 mL/h, ${settle} s after start"
printf '%-20s %14s  %s\n' metric value unit
for r in "${rows[@]}"; do IFS=, read -r m v u <<<"$r"; printf '%-20s %14s  %s\n' "$m" "$v" "$u"; done

mkdir -p "$src/bench/results"
{ echo "metric,value,unit"; printf '%s\n' "${rows[@]}"; } > "$src/bench/results/footprint.csv"
echo "wrote $src/bench/results/footprint.csv"
