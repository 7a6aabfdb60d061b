#!/usr/bin/env bash
# The configuration `meson install` and the .deb put in /etc/infusiond
# (config/installed-conf.sh): it must refuse to start, with exactly one
# error, until someone chooses a backend; with `backend = sim` chosen it
# must load as a real-time pump whose database lives in the state
# directory.
#   test-installed-conf.sh INFUSIOND INSTALLED_CONF EXPECTED_DB_PATH
set -u
infusiond=$1 installed=$2 expected_db=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

out=$("$infusiond" --check-config --config "$installed" 2>&1)
rc=$?
echo "$out"
[ "$rc" -eq 6 ] || fail "the installed config exited $rc, not 6 (not configured)"
errors=$(grep -c "^$installed: " <<<"$out")
[ "$errors" -eq 1 ] || fail "expected one error (the backend), got $errors"
grep -qx "$installed: \[pump\] backend: missing (required)" <<<"$out" ||
  fail "the one error is not the missing backend"

grep -qx "path = $expected_db" "$installed" ||
  fail "the database is not $expected_db"

# Choose the sim as the header says, with the database moved to a
# directory this test may write, and it loads.
sed -e 's|^# backend = rig .*|backend = sim|' -e "s|^path = .*|path = $dir/history.db|" \
  "$installed" > "$dir/chosen.conf"
out=$("$infusiond" --check-config --config "$dir/chosen.conf" 2>&1)
rc=$?
echo "$out"
[ "$rc" -eq 0 ] || fail "with backend = sim it exited $rc"
grep -qx "clock = real" "$installed" || fail "the sim clock is not real"
! grep -q "^clock = virtual" "$installed" || fail "a virtual clock is set"
[ ! -e "$dir/history.db" ] || fail "--check-config created the database"
echo "PASS: refuses with one error until a backend is chosen; loads with backend = sim, clock real, database $expected_db"
