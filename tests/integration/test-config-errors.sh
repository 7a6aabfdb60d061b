#!/usr/bin/env bash
# A config with a misspelt key: infusiond must refuse to start, exit 6
# ("not configured": the unit's RestartPreventExitStatus=6 then leaves it
# stopped rather than failing every 2 s), and name the file, the line and
# the key. A wrong command line exits 2 (infusiond(8), EXIT STATUS).
set -u
infusiond=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
conf=$dir/misspelt.conf
cat > "$conf" <<CONF
[pump]
backend = sim

[mechanism]
lead_pitch_mm = 1.0
steps_per_rev = 200
microsteps = 16
syringe_inner_diametre_mm = 26.6
syringe_volume_ml = 60

[database]
path = $dir/history.db
CONF
out=$("$infusiond" --config "$conf" 2>&1)
rc=$?
echo "$out"
if [ "$rc" -ne 6 ]; then echo "FAIL: infusiond exited $rc on a misspelt key, not 6"; exit 1; fi
if ! grep -q "$conf:8: syringe_inner_diametre_mm" <<<"$out"; then
  echo "FAIL: the error does not name $conf:8: syringe_inner_diametre_mm"; exit 1
fi
if [ -e "$dir/history.db" ]; then echo "FAIL: the database was created before the config was checked"; exit 1; fi
# --check-config says the same, with the same status.
"$infusiond" --check-config --config "$conf" >/dev/null 2>&1
rc=$?
if [ "$rc" -ne 6 ]; then echo "FAIL: --check-config exited $rc on a misspelt key, not 6"; exit 1; fi
"$infusiond" --no-such-option >/dev/null 2>&1
rc=$?
if [ "$rc" -ne 2 ]; then echo "FAIL: an unknown option exited $rc, not 2"; exit 1; fi
"$infusiond" --config "$conf" extra-argument >/dev/null 2>&1
rc=$?
if [ "$rc" -ne 2 ]; then echo "FAIL: an extra argument exited $rc, not 2"; exit 1; fi
echo "PASS: exit 6, file, line and key named; a wrong command line exits 2"
