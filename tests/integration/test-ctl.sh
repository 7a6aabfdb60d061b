#!/usr/bin/env bash
# infusionctl end to end: a private bus, the real daemon in virtual time,
# the sample library, and the commands a person types.
set -euo pipefail
infusiond=$1 ctl=$2 bus_conf=$3 library=$4

. "$(dirname "$0")/sim-daemon.sh"
start_sim_daemon ctl "$infusiond" "$bus_conf"

out=$("$ctl" library import "$library") || fail "library import: $out"
grep -q "Imported library 2026-11 sample v1, sha256 [0-9a-f]\{64\}" <<<"$out" || fail "import said: $out"

# The issue's command, exactly.
out=$("$ctl" program --drug heparin --care-area ICU --dose 1000 --unit units/h --vtbi 50) || fail "program: $out"
echo "$out"
grep -q "20.000 mL/h" <<<"$out" || fail "program did not show 20.000 mL/h: $out"

# A hard limit is refused with a non-zero exit and the limit named.
if out=$("$ctl" program --drug heparin --care-area ICU --dose 5000 --vtbi 50 2>&1); then fail "5000 units/h was accepted"; fi
grep -q "HardLimit" <<<"$out" || fail "no HardLimit: $out"
grep -q "3000 units/h" <<<"$out" || fail "limit not named: $out"

# The program in force is unchanged, and runs.
"$ctl" start
"$ctl" sim advance 30m >/dev/null
out=$("$ctl" status --json)
grep -q '"State":"running"' <<<"$out" || fail "not running: $out"
grep -q '"RateMlPerHour":20' <<<"$out" || fail "rate changed: $out"
grep -q '"VolumeInfusedMl":9.99' <<<"$out" || grep -q '"VolumeInfusedMl":10' <<<"$out" || fail "volume after 30 min: $out"
"$ctl" stop

# Alarms as a nurse at the bedside meets them: the door opens mid-infusion.
"$ctl" program --drug heparin --care-area ICU --dose 1000 --unit units/h --vtbi 5 >/dev/null
"$ctl" start
"$ctl" sim door open
"$ctl" sim advance 2s >/dev/null
out=$("$ctl" alarms) || fail "alarms: $out"
grep -q "door-open" <<<"$out" || fail "no door-open alarm listed: $out"
grep -q "high" <<<"$out" || fail "door-open not high: $out"
id=$(grep -o "door-open-[0-9]*" <<<"$out" | head -n1)
out=$("$ctl" silence) || fail "silence: $out"
grep -q "Alarm audio paused" <<<"$out" || fail "silence said: $out"
out=$("$ctl" alarms) || fail "alarms after silence: $out"
grep -q "Alarm audio paused until" <<<"$out" || fail "pause not shown: $out"
# Its cause remains: refused, and it says why.
if out=$("$ctl" ack "$id" 2>&1); then fail "ack with the door open was accepted"; fi
grep -q "AlarmCauseActive" <<<"$out" || fail "ack refusal said: $out"
"$ctl" sim door closed
"$ctl" sim advance 1s >/dev/null
"$ctl" ack "$id" || fail "ack after closing the door"
out=$("$ctl" alarms --json)
grep -q '"alarms":\[\]' <<<"$out" || fail "alarms left after ack: $out"
out=$("$ctl" sim outputs) || fail "sim outputs: $out"
grep -q "buzzer" <<<"$out" || fail "outputs table: $out"
"$ctl" resume
"$ctl" stop

# PCA as the patient meets it: a basic PCA where basic infusions are allowed.
out=$("$ctl" program --care-area Med-Surg --mode pca --pca-dose-ml 1 --lockout 10m --max-doses-per-hour 4 \
      --limit-ml 10 --limit-window 4h --vtbi 50 --pca-bolus-rate 120 --new-patient) || fail "program pca: $out"
grep -q "^Programmed (pca): 1 mL a demand, lockout 10 min, at most 4 an hour, limit 10 mL in any 4 h" <<<"$out" \
  || fail "program pca said: $out"
"$ctl" start
"$ctl" sim advance 1s >/dev/null
# Granted: exit 0, and when the next may come.
out=$("$ctl" demand) || fail "first demand not granted (exit $?): $out"
grep -q "^Granted: demand [0-9]*; next demand allowed in [0-9]" <<<"$out" || fail "demand said: $out"
# A minute on (past the 250 ms debounce and the 30 s dose, inside the lockout): exit 1.
"$ctl" sim advance 1m >/dev/null
rc=0
out=$("$ctl" demand) || rc=$?
[ "$rc" = 4 ] || fail "demand in the lockout exited $rc: $out"
grep -q "^Denied (lockout): demand [0-9]*; next demand allowed in [0-9]" <<<"$out" || fail "demand in lockout said: $out"
out=$("$ctl" pca) || fail "pca: $out"
grep -q "Demands: 2 (1 granted)" <<<"$out" || fail "pca counts: $out"
grep -q "Limit: 10 mL in any 4 h" <<<"$out" || fail "pca limit: $out"
grep -q "dbus *granted *1.000" <<<"$out" || fail "pca history: $out"
out=$("$ctl" pca --json) || fail "pca --json: $out"
python3 -m json.tool <<<"$out" >/dev/null || fail "pca --json is not JSON: $out"
grep -q '"pca_demands_total":2,"pca_demands_granted":1,' <<<"$out" || fail "pca --json counts: $out"
# Newest first.
grep -q '"demands":\[{"id":[0-9]*,"utc_usec":[0-9]*,"source":"dbus","outcome":"lockout"' <<<"$out" \
  || fail "pca --json demands: $out"
# The button takes the same path. Pump time stands still between calls:
# without the advance the press would fall within the 250 ms debounce of
# the last demand and merge into it.
"$ctl" sim advance 1s >/dev/null
"$ctl" sim press-pca || fail "sim press-pca"
"$ctl" sim advance 1s >/dev/null
out=$("$ctl" pca) || fail "pca after the button: $out"
grep -q "Demands: 3 (1 granted)" <<<"$out" || fail "pca counts after the button: $out"
grep -q "simulator *lockout" <<<"$out" || fail "button press not listed: $out"
out=$("$ctl" status) || fail "status in pca: $out"
grep -q "PCA: 1 mL, lockout 10 min, 4/h, limit [0-9.]* of 10 mL per 4 h; demands 3 (1 granted); next in " <<<"$out" \
  || fail "status PCA line: $out"
"$ctl" stop
echo "PASS"
