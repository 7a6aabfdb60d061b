#!/usr/bin/env bash
# A config with a misspelt key: infusiond must refuse to start, exit
# non-zero, and name the file, the line and the key.
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
if [ "$rc" -eq 0 ]; then echo "FAIL: infusiond exited 0 on a misspelt key"; exit 1; fi
if ! grep -q "$conf:8: syringe_inner_diametre_mm" <<<"$out"; then
  echo "FAIL: the error does not name $conf:8: syringe_inner_diametre_mm"; exit 1
fi
if [ -e "$dir/history.db" ]; then echo "FAIL: the database was created before the config was checked"; exit 1; fi
echo "PASS: exit $rc, file, line and key named"
