#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks the systemd unit (the build-tree copy, whose ExecStart= is the
# daemon built here):
#  1. `systemd-analyze verify` must print nothing at all and exit 0 (unknown
#     keys and bad values are only warnings with exit 0, so output is what
#     counts);
#  2. `systemd-analyze security --offline=true` must rate its exposure at
#     2.5 or lower (issue 9); the score and every exposure still counted
#     are printed, so the log shows what is left and the unit's comments
#     say why each is.
# Usage: test-unit-verify.sh UNIT_FILE [MAX_EXPOSURE]
# Exit 77 (skipped) when systemd-analyze or the daemon executable is missing.

set -u

unit=${1:?usage: $0 UNIT_FILE [MAX_EXPOSURE]}
max_exposure=${2:-2.5}

if ! command -v systemd-analyze >/dev/null 2>&1; then
        echo "SKIP: systemd-analyze not installed"
        exit 77
fi
if [ ! -r "$unit" ]; then
        echo "FAIL: no unit file at $unit"
        exit 1
fi

# verify fails on a missing ExecStart= binary: skip until the daemon is built.
exec_start=$(sed -n 's/^ExecStart=[-@:+!]*\([^ ]*\).*/\1/p' "$unit" | head -n 1)
if [ -z "$exec_start" ]; then
        echo "FAIL: no ExecStart= in $unit"
        exit 1
fi
if [ ! -x "$exec_start" ]; then
        echo "SKIP: $exec_start is not built yet"
        exit 77
fi

status=0

echo "# systemd-analyze verify --man=no $unit"
out=$(systemd-analyze verify --man=no "$unit" 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then
        echo "FAIL: systemd-analyze verify exited $rc and printed:"
        printf '%s\n' "${out:-(nothing)}"
        status=1
else
        echo "ok: verify is silent"
fi

echo "# systemd-analyze security --offline=true $unit"
out=$(systemd-analyze security --offline=true "$unit" 2>&1)
rc=$?
# Keep the table out of the log unless something is wrong; the last line is
# "→ Overall exposure level for NAME: 0.8 SAFE 😀".
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p' | tail -n 1)
if [ $rc -ne 0 ] || [ -z "$score" ]; then
        echo "FAIL: systemd-analyze security exited $rc; it printed:"
        printf '%s\n' "$out"
        status=1
elif awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s > m) }'; then
        printf '%s\n' "$out"
        echo "FAIL: exposure $score is above $max_exposure"
        status=1
else
        printf '%s\n' "$out" | grep '^✗' || true
        echo "ok: exposure $score (at most $max_exposure)"
fi

exit $status
