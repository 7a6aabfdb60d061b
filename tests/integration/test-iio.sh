#!/usr/bin/env bash
# A real pressure transducer on the sim: the daemon reads an ADS1115
# through libiio's local backend over umockdev's /sys, while it runs.
#  1. A pressure that changes shows in PressureMmHg after the calibration.
#  2. The battery's time left comes from its voltage on the ADC's second
#     input (power = iio, a discharge table): a voltage that reads the
#     same for 10 min on battery is a stuck sensor, and the time left is
#     then unknown (battery-low); one that moves is not.
#  3. A sensor file that starts failing raises the sensor-failure alarm.
# The pump model still drives the plunger, in virtual time.
set -euo pipefail
infusiond=$1 ctl=$2 bus_conf=$3

work=$(mktemp -d /tmp/infusiond-iio-XXXXXX)
daemon_pid= bus_pid=
cleanup() {
  local rc=$? report=''
  # SIGTERM (umockdev-run passes it on), bounded, so leak checks run at exit.
  if [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null; then
    python3 "$(dirname "$0")/wait-exit.py" "$daemon_pid" 20 || true
    kill -9 "$daemon_pid" 2>/dev/null || true
  fi
  [ -n "$bus_pid" ] && { kill "$bus_pid" 2>/dev/null || true; }
  # A sanitizer's report in the daemon's log fails the test (scripts/sanitize).
  report=$(grep -m1 -o -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' \
    "$work/daemon.log" 2>/dev/null) || true
  if [ -n "$report" ]; then
    echo "FAIL: the daemon's log has \"$report\" (a sanitizer report)"
    cat "$work/daemon.log"
    rc=1
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- daemon log"; cat "$work/daemon.log"; exit 1; }

dbus-daemon --config-file="$bus_conf" --fork --print-address=3 --print-pid=4 3>"$work/address" 4>"$work/pid"
bus_pid=$(cat "$work/pid")
export DBUS_SYSTEM_BUS_ADDRESS=$(head -n1 "$work/address")

# The ADC as the ti-ads1015 driver shows it: raw counts and a scale in
# mV per count (0.125 at the ±4.096 V range). Values end in \n as in sysfs.
cat > "$work/ads1115.umockdev" <<'DEV'
P: /devices/platform/soc/i2c-1/1-0048/iio:device0
N: iio:device0
E: DEVNAME=/dev/iio:device0
E: SUBSYSTEM=iio
A: name=ads1115\n
A: in_voltage0_raw=1000\n
A: in_voltage0_scale=0.125\n
A: in_voltage0_sampling_frequency=860\n
A: in_voltage1_raw=15600\n
A: in_voltage1_scale=0.125\n
DEV

# Calibration: 100 mV is 0 mmHg, 1100 mV is 1000 mmHg, so mmHg = mV - 100.
cat > "$work/infusiond.conf" <<CONF
[pump]
backend = sim
sensors = iio
power = iio
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
[pressure_downstream]
device = ads1115
channel = voltage0
low_mv = 100
low_mmhg = 0
high_mv = 1100
high_mmhg = 1000
sampling_frequency_hz = 128
# One cell through a 1/2 divider: 15600 counts = 1950 mV = 3.9 V.
[battery_voltage]
device = ads1115
channel = voltage1
low_mv = 0
low_v = 0
high_mv = 2100
high_v = 4.2
CONF

# umockdev-run tells its child where the testbed is: keep it for the test.
cat > "$work/wrap" <<'WRAP'
#!/bin/sh
echo "$UMOCKDEV_DIR" > "$TESTBED_FILE"
exec "$@"
WRAP
chmod +x "$work/wrap"
TESTBED_FILE=$work/testbed umockdev-run --device "$work/ads1115.umockdev" -- \
  "$work/wrap" "$infusiond" --config "$work/infusiond.conf" 2>"$work/daemon.log" &
daemon_pid=$!
gdbus wait --address "$DBUS_SYSTEM_BUS_ADDRESS" --timeout 20 org.infusiond.pump1 || fail "daemon did not start"
adc=$(cat "$work/testbed")/sys/devices/platform/soc/i2c-1/1-0048/iio:device0
grep -q "sensors iio" "$work/daemon.log" || fail "the daemon does not say it reads IIO sensors"

pressure() {
  busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" get-property org.infusiond.pump1 \
    /org/infusiond/pump1/channel/0 org.infusiond.pump1.Channel PressureMmHg | awk '{print $2}'
}

# The backend wrote the ADC's conversion rate from the config (libiio
# writes the string's NUL too; sysfs would stop at it).
rate=$(tr -d '\0' < "$adc/in_voltage0_sampling_frequency")
[ "$rate" = "128" ] || fail "sampling_frequency is $rate, not 128"

# At start: 1000 counts * 0.125 = 125 mV = 25 mmHg.
p=$(pressure); [ "$p" = "25" ] || fail "PressureMmHg at start is $p, expected 25"
echo "start: raw 1000 -> $p mmHg"

# The transducer sees more pressure: 2400 counts = 300 mV = 200 mmHg.
# As sysfs does, the new value appears whole: written aside, then renamed
# (a plain echo would show the daemon an empty file for a moment).
echo 2400 > "$adc/raw.new" && mv "$adc/raw.new" "$adc/in_voltage0_raw"
"$ctl" sim advance 1s >/dev/null
p=$(pressure); [ "$p" = "200" ] || fail "PressureMmHg after raw 2400 is $p, expected 200"
echo "changed: raw 2400 -> $p mmHg"

# No alarm so far.
out=$("$ctl" alarms)
grep -q "sensor-failure" <<<"$out" && fail "sensor failure before any fault: $out"

# The battery voltage, alive: it moves within every 10 minutes.
"$ctl" sim advance 9m >/dev/null
grep -q "battery-low" <<<"$("$ctl" alarms)" && fail "battery-low after 9 min of one voltage: $("$ctl" alarms)"
echo 15599 > "$adc/raw1.new" && mv "$adc/raw1.new" "$adc/in_voltage1_raw"
"$ctl" sim advance 9m >/dev/null
grep -q "battery-low" <<<"$("$ctl" alarms)" && fail "battery-low although the voltage moved 9 min ago: $("$ctl" alarms)"
# Then frozen: 10 min on one reading.
"$ctl" sim advance 2m >/dev/null
out=$("$ctl" alarms)
echo "$out"
grep -q "^battery-low-[0-9]* .*time left is unknown: its voltage has read 3.8998 V for 10 min" <<<"$out" ||
  fail "no battery-low alarm for a battery voltage stuck 10 min: $out"
# Alive again: the time left is known, and the alarm goes with its cause.
echo 15598 > "$adc/raw1.new" && mv "$adc/raw1.new" "$adc/in_voltage1_raw"
"$ctl" sim advance 1s >/dev/null
grep -q "battery-low" <<<"$("$ctl" alarms)" && fail "battery-low stayed after the voltage moved: $("$ctl" alarms)"
# A battery reading full may be held there by a charger this backend
# cannot see: not judged, however long it holds.
echo 16800 > "$adc/raw1.new" && mv "$adc/raw1.new" "$adc/in_voltage1_raw"
"$ctl" sim advance 15m >/dev/null
grep -q "battery-low" <<<"$("$ctl" alarms)" && fail "battery-low for a full battery held at 4.2 V: $("$ctl" alarms)"
echo "battery voltage: frozen 10 min -> time left unknown; moved -> cleared; full and steady -> not judged"

# The sensor file starts failing (the device went away from the bus):
# a few failed reads are tolerated, then the alarm.
rm "$adc/in_voltage0_raw"
"$ctl" sim advance 2s >/dev/null
out=$("$ctl" alarms)
echo "$out"
grep -q "^sensor-failure-[0-9]* *high .*pressure-downstream: read-error" <<<"$out" ||
  fail "no high sensor-failure alarm naming the pressure sensor: $out"
# The last good value stays the last good value; it is not taken for a new one.
p=$(pressure); [ "$p" = "200" ] || fail "PressureMmHg after the failure is $p"

# Start is refused while the sensor is failed: no delivery without it.
"$ctl" program --rate 10 --vtbi 1 >/dev/null 2>&1 || true
if out=$("$ctl" start 2>&1); then fail "Start accepted with a failed pressure sensor: $out"; fi
echo "start refused: $out"
echo "iio: OK"
