#!/usr/bin/env bash
# The journal catalog (catalog/infusiond.catalog) against the code: it
# compiles with journalctl into a catalog database (in a private root, not
# the host's), and it explains exactly the MESSAGE_IDs that daemon/log.h
# defines: none missing, none stale, each with a Subject.
# Usage: test-catalog.sh CATALOG LOG_H
set -euo pipefail
catalog=${1:?usage: $0 CATALOG LOG_H} log_h=${2:?usage: $0 CATALOG LOG_H}
command -v journalctl >/dev/null || { echo "SKIP: journalctl is not installed"; exit 77; }

root=$(mktemp -d /tmp/infusiond-catalog-XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/lib/systemd/catalog"
cp "$catalog" "$root/usr/lib/systemd/catalog/infusiond.catalog"
out=$(journalctl --root="$root" --update-catalog 2>&1) || { echo "FAIL: journalctl --update-catalog: $out"; exit 1; }
# journalctl names parse errors but still exits 0 for some: fail on any output.
[ -z "$out" ] || { echo "FAIL: journalctl --update-catalog printed: $out"; exit 1; }
listed=$(journalctl --root="$root" --list-catalog)
echo "$listed"

status=0
defined=$(sed -n 's/^#define MESSAGE_ID_[A-Z_]* *"\([0-9a-f]\{32\}\)".*/\1/p' "$log_h" | sort)
[ -n "$defined" ] || { echo "FAIL: no MESSAGE_ID in $log_h"; exit 1; }
for id in $defined; do
  grep -q "^$id infusiond: ." <<<"$listed" || { echo "FAIL: MESSAGE_ID $id ($log_h) has no catalog entry with a Subject"; status=1; }
done
for id in $(awk '{ print $1 }' <<<"$listed"); do
  grep -qx "$id" <<<"$defined" || { echo "FAIL: the catalog explains $id, which $log_h does not define"; status=1; }
done
[ "$status" -eq 0 ] && echo "PASS: $(wc -l <<<"$defined") MESSAGE_IDs, each explained"
exit "$status"
