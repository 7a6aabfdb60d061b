#!/usr/bin/env bash
# Run one libFuzzer target for a bounded time over a copy of its committed
# corpus, so new inputs never land in the source tree.
#
#   run-fuzz.sh TARGET CORPUS_DIR DICT_OR_EMPTY BUILD_DIR
#
# Seconds: $FUZZ_SECONDS, else $FUZZ_SECONDS_DEFAULT (meson's fuzz_seconds).
# Every committed seed runs first (regressions), then libFuzzer mutates.
# A crash, leak, sanitizer report, timeout (10 s per input) or broken
# invariant exits non-zero; the input is kept as
# BUILD_DIR/artifacts/<target>-crash-... and the work dir is kept too. The
# last lines of the log are the target's execs and coverage.
set -euo pipefail

target=$1 corpus=$2 dict=$3 build=$4
name=$(basename "$target")
seconds=${FUZZ_SECONDS:-${FUZZ_SECONDS_DEFAULT:-25}}
case "$seconds" in
  ''|*[!0-9]*|0) echo "$name: FUZZ_SECONDS must be a whole number of seconds above 0, not '$seconds'" >&2; exit 2 ;;
esac

mkdir -p "$build/work" "$build/artifacts"
work=$(mktemp -d "$build/work/$name.XXXXXX")
mkdir "$work/corpus"
cp -R "$corpus/." "$work/corpus/"
# The targets' scratch files (a config, a history database) go to a tmpfs
# when there is one: SQLite's fsyncs on a disk cut the execs tenfold.
shm=${FUZZ_SCRATCH:-/dev/shm}
[ -d "$shm" ] && [ -w "$shm" ] || shm=$work
scratch=$(mktemp -d "$shm/infusiond-$name.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
      -artifact_prefix="$build/artifacts/$name-")
[ -z "$dict" ] || args+=(-dict="$dict")

rc=0
TMPDIR=$scratch ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  "$target" "${args[@]}" "$work/corpus" >"$work/log" 2>&1 || rc=$?

if [ "$rc" -ne 0 ]; then
  tail -n 200 "$work/log"
  echo "$name: FINDING (exit $rc): input in $build/artifacts/, log and corpus in $work" >&2
  exit 1
fi
tail -n 25 "$work/log"
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1 | cut -d' ' -f2)
corp=$(ls "$work/corpus" | wc -l)
echo "$name: no finding; $execs execs in $seconds s, coverage $cov, corpus $corp inputs (seeds $(ls "$corpus" | wc -l))"
rm -rf "$work"
