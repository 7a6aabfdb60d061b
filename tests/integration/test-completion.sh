#!/usr/bin/env bash
# Bash completion for infusionctl (issue 10): completion/infusionctl.bash,
# loaded as bash loads it, driven as bash drives it (COMP_WORDS,
# COMP_CWORD, COMP_LINE, COMP_POINT), in plain non-interactive bash: once
# with bash-completion's main script (_init_completion) when it is
# installed, once without it (the fallback).
#
# The verbs, sub-verbs and options expected are parsed from
# `infusionctl --help`, so the completion cannot drift from the CLI
# unnoticed. Drug ids, care areas and alarm ids come from the real daemon
# on a private bus; what is expected of them from the sample library's
# JSON and the alarm the test raises.
#   test-completion.sh INFUSIOND INFUSIONCTL BUS_CONF COMPLETION LIBRARY
# Lists of words are passed split on purpose.
# shellcheck disable=SC2046,SC2086
set -euo pipefail
infusiond=$1 ctl=$2 bus_conf=$3 compl=$4 library=$5

. "$(dirname "$0")/sim-daemon.sh"

tmp=$(mktemp -d /tmp/infusionctl-completion-XXXXXX)
# start_sim_daemon replaces this trap with its cleanup; see below.
trap 'rm -rf "$tmp"' EXIT

# Checks run in command substitutions too: count failures in a file.
check_fail() { echo "FAIL: $*" >&2; echo x >>"$tmp/failures"; }

# bash-completion's main script, if installed.
bc_main=
bc_datadir=$(pkg-config --variable=datadir bash-completion 2>/dev/null) || bc_datadir=/usr/share
for f in "$bc_datadir/bash-completion/bash_completion" /usr/share/bash-completion/bash_completion; do
  if [ -r "$f" ]; then bc_main=$f; break; fi
done
modes=(plain)
if [ -n "$bc_main" ]; then
  modes+=(bash-completion)
else
  echo "bash-completion is not installed: the fallback only"
fi

# The driver: a fresh bash per completion, nothing from rc files.
#   driver MODE COMPLETION_FILE BC_MAIN WORD...
# WORD... are COMP_WORDS as bash splits the line (an "=" is a word of its
# own); the last is the word being completed ("" for a new one). Prints
# `complete -p infusionctl`, then COMPREPLY one a line.
cat > "$tmp/driver.sh" <<'DRIVER'
mode=$1 compl=$2 bc_main=$3
shift 3
if [ "$mode" = bash-completion ]; then
  . "$bc_main" || exit 90
  declare -F _init_completion >/dev/null || exit 91
fi
. "$compl" || exit 92
spec=$(complete -p infusionctl) || exit 93
echo "$spec"
fn=$(sed -n 's/.* -F \([^ ]*\) .*/\1/p' <<<"$spec")
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE=
for w in "${COMP_WORDS[@]}"; do
  case $w:$COMP_LINE in
    =:* | *:*=) COMP_LINE+=$w ;;
    *:) COMP_LINE=$w ;;
    *) COMP_LINE+=" $w" ;;
  esac
done
COMP_POINT=${#COMP_LINE}
COMP_TYPE=9 COMP_KEY=9
COMPREPLY=()
"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
DRIVER

mode=
# offered WORD...: what the completion offers for the last word, one a line.
offered() {
  local out rc=0
  out=$(bash --norc --noprofile "$tmp/driver.sh" "$mode" "$compl" "$bc_main" "$ctl" "$@" 2>"$tmp/stderr") || rc=$?
  if [ "$rc" != 0 ]; then
    check_fail "[$mode] the driver exited $rc for: $* ($(cat "$tmp/stderr"))"
    return 0
  fi
  if [ -s "$tmp/stderr" ]; then
    check_fail "[$mode] the completion wrote to stderr for: $*: $(cat "$tmp/stderr")"
  fi
  if [ "$(head -n1 <<<"$out")" != "complete -F _infusionctl infusionctl" ]; then
    check_fail "[$mode] complete -p infusionctl said: $(head -n1 <<<"$out")"
  fi
  tail -n +2 <<<"$out" | sed '/^$/d'
}
# expect_has LABEL OFFERED WORD...: each WORD is among OFFERED.
expect_has() {
  local label=$1 got=$2 w
  shift 2
  for w in "$@"; do
    grep -qxF -- "$w" <<<"$got" || check_fail "[$mode] $label: '$w' not offered (offered: $(tr '\n' ' ' <<<"$got"))"
  done
}
# expect_not LABEL OFFERED WORD...: no WORD is among OFFERED.
expect_not() {
  local label=$1 got=$2 w
  shift 2
  for w in "$@"; do
    if grep -qxF -- "$w" <<<"$got"; then check_fail "[$mode] $label: '$w' offered"; fi
  done
}
# expect_exactly LABEL OFFERED WORD...: OFFERED is the set of WORDs.
expect_exactly() {
  local label=$1 got=$2
  shift 2
  local want
  want=$(printf '%s\n' "$@" | sort -u)
  [ "$(sort -u <<<"$got")" = "$want" ] ||
    check_fail "[$mode] $label: offered $(sort -u <<<"$got" | tr '\n' ' '), expected $(tr '\n' ' ' <<<"$want")"
}

# ---- what --help says -----------------------------------------------------
help=$("$ctl" --help)
# "Commands:" lines start with two spaces and the verb; sub-verbs of
# library, sim and audit follow as a lower-case second word.
commands=$(sed -n '/^Commands:/,/^Options:/p' <<<"$help")
verbs=$(grep -oE '^  [a-z][a-z-]*' <<<"$commands" | tr -d ' ' | sort -u)
[ "$(wc -l <<<"$verbs")" -ge 15 ] || { echo "FAIL: too few verbs parsed from --help: $verbs"; exit 1; }
subverbs() { grep -oE "^  $1 [a-z][a-z-]*" <<<"$commands" | awk '{ print $2 }' | sort -u; }
library_subverbs=$(subverbs library)
sim_subverbs=$(subverbs sim)
audit_subverbs=$(subverbs audit)
if [ -z "$library_subverbs" ] || [ -z "$sim_subverbs" ] || [ -z "$audit_subverbs" ]; then
  echo "FAIL: no sub-verbs parsed from --help"
  exit 1
fi
# Every long option in the options and settings sections.
options=$(sed -n '/^Options:/,/^Examples:/p' <<<"$help" | grep -oE -- '--[a-z][a-z-]*' | sort -u)
[ "$(wc -l <<<"$options")" -ge 40 ] || { echo "FAIL: too few options parsed from --help: $options"; exit 1; }
modes_help=$(sed -n '/--mode=MODE/,/--rate/p' <<<"$help" | sed '$d' | grep -oE '[a-z][a-z-]+' | grep -vxE 'mode|rate|the|default|or' | sort -u)

# The sample library: drug ids, those of Pediatrics, care areas.
drugs=$(python3 -c 'import json,sys; [print(d["id"]) for d in json.load(open(sys.argv[1]))["drugs"]]' "$library")
peds_drugs=$(python3 -c 'import json,sys; [print(d["id"]) for d in json.load(open(sys.argv[1]))["drugs"] if "Pediatrics" in d["limits"]]' "$library")
areas=$(python3 -c 'import json,sys; [print(a["id"]) for a in json.load(open(sys.argv[1]))["care_areas"]]' "$library")
adult_only=$(comm -23 <(sort <<<"$drugs") <(sort <<<"$peds_drugs") | head -n1)
[ -n "$adult_only" ] || { echo "FAIL: every sample drug is in Pediatrics"; exit 1; }

# ---- without the daemon ----------------------------------------------------
# No bus at all: the daemon's words are quietly not offered.
static_checks() {
  local got v o all

  got=$(offered "")
  expect_exactly "first word" "$got" $verbs
  got=$(offered st)
  expect_exactly "first word 'st'" "$got" $(grep '^st' <<<"$verbs")
  # Options before the verb are skipped over, values included.
  got=$(offered --channel 0 "")
  expect_exactly "first word after --channel 0" "$got" $verbs
  got=$(offered -c 0 --json st)
  expect_exactly "'st' after -c 0 --json" "$got" $(grep '^st' <<<"$verbs")

  # Sub-verbs.
  expect_exactly "library sub-verbs" "$(offered library "")" $library_subverbs
  expect_exactly "sim sub-verbs" "$(offered sim "")" $sim_subverbs
  expect_exactly "audit sub-verbs" "$(offered audit "")" $audit_subverbs
  expect_exactly "sim door" "$(offered sim door "")" open closed
  expect_exactly "sim occlude" "$(offered sim occlude "")" on off
  expect_has "sim fail-sensor" "$(offered sim fail-sensor "")" pressure-downstream plunger-position battery-voltage
  expect_has "sim fail-sensor SENSOR" "$(offered sim fail-sensor pressure-upstream "")" ok stuck gone
  expect_exactly "sim press-pca takes nothing" "$(offered sim press-pca "")"

  # A verb's options after it; not another verb's.
  got=$(offered program --)
  expect_has "program options" "$got" --rate --vtbi --mode --drug --care-area --dose --unit --step \
    --confirm-soft-limits --reason --pca-dose-ml --lockout --new-patient --channel
  expect_not "program options" "$got" --json --csv --format --db --count
  got=$(offered program --rate 5 --vtbi 10 --d)
  expect_exactly "program --d" "$got" --drug --dose --dose-volume --doses --duration
  expect_has "status options" "$(offered status --)" --json --channel
  expect_not "status options" "$(offered status --)" --rate --csv
  expect_has "history options" "$(offered history --)" --since --until --drug --json --csv
  expect_has "export options" "$(offered export --)" --format --since --until --drug --output
  expect_not "export options" "$(offered export --)" --json --csv
  expect_has "pca options" "$(offered pca --)" --json --count
  expect_has "library list options" "$(offered library list --)" --care-area
  expect_has "audit verify options" "$(offered audit verify --)" --db
  expect_exactly "start has no options but the common ones" "$(offered start --)" --channel --help --version

  # Every long option of --help is offered after some verb.
  all=$( { offered --; for v in $verbs; do offered "$v" --; done
           offered library list --; offered audit verify --; } | sort -u)
  for o in $options; do
    grep -qxF -- "$o" <<<"$all" || check_fail "[$mode] $o (in --help) is offered after no verb"
  done

  # Values that can be listed.
  got=$(offered program --mode "")
  expect_exactly "--mode values" "$got" $modes_help
  expect_exactly "--mode r" "$(offered program --mode r)" ramp
  expect_exactly "--mode=r" "$(offered program --mode = r)" ramp
  expect_exactly "--format values" "$(offered export --format "")" hl7 fhir
  expect_exactly "--format=f" "$(offered export --format = f)" fhir
  expect_has "--since values" "$(offered history --since -)" -24h -7d
  # A value is not taken for the verb: program's options still follow.
  expect_has "program after --mode ramp" "$(offered --mode ramp program --ra)" --rate --ramp-up --ramp-down
  # Files.
  touch "$tmp/lib-a.json" "$tmp/lib-b.json"
  expect_exactly "library import FILE" "$(offered library import "$tmp/lib-")" "$tmp/lib-a.json" "$tmp/lib-b.json"
  expect_exactly "audit verify --db FILE" "$(offered audit verify --db "$tmp/lib-a")" "$tmp/lib-a.json"
  expect_exactly "export --output=FILE" "$(offered export --output = "$tmp/lib-b")" "$tmp/lib-b.json"
  # Units without a daemon: every unit the library format allows.
  expect_has "--unit without a daemon" "$(offered program --unit "")" units/h mcg/kg/min mg/m2/h mL/h
}

export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/no-such-bus"
for mode in "${modes[@]}"; do
  static_checks
  start=$(date +%s%N)
  expect_exactly "--drug with no daemon" "$(offered program --drug "")"
  expect_exactly "ack with no daemon" "$(offered ack "")"
  expect_exactly "--care-area with no daemon" "$(offered program --care-area "")"
  elapsed_ms=$((($(date +%s%N) - start) / 1000000))
  [ "$elapsed_ms" -lt 3000 ] || check_fail "[$mode] completion without a daemon took $elapsed_ms ms"
done

# A daemon that never answers: completion gives up after its timeout.
printf '#!/bin/sh\nexec sleep 30\n' > "$tmp/infusionctl"
chmod +x "$tmp/infusionctl"
for mode in "${modes[@]}"; do
  start=$(date +%s%N)
  out=$(bash --norc --noprofile "$tmp/driver.sh" "$mode" "$compl" "$bc_main" "$tmp/infusionctl" ack "" 2>&1) ||
    check_fail "[$mode] the driver failed with a hung infusionctl: $out"
  elapsed_ms=$((($(date +%s%N) - start) / 1000000))
  [ "$elapsed_ms" -lt 5000 ] || check_fail "[$mode] completion with a hung infusionctl took $elapsed_ms ms"
  [ "$(tail -n +2 <<<"$out" | sed '/^$/d')" = "" ] || check_fail "[$mode] a hung infusionctl gave: $out"
done

# bash-completion loads it on demand from completionsdir/infusionctl, as
# installed.
if [ -n "$bc_main" ]; then
  mkdir -p "$tmp/user/completions"
  cp "$compl" "$tmp/user/completions/infusionctl"
  out=$(BASH_COMPLETION_USER_DIR=$tmp/user bash --norc --noprofile -c \
    '. "$1"; __load_completion infusionctl && complete -p infusionctl' _ "$bc_main" 2>&1) || true
  [ "$out" = "complete -F _infusionctl infusionctl" ] ||
    check_fail "bash-completion did not load completions/infusionctl on demand: $out"
fi

# ---- with the daemon -------------------------------------------------------
start_sim_daemon completion "$infusiond" "$bus_conf"
# sim-daemon.sh's cleanup replaced the trap: remove tmp there too, and
# keep the exit status for cleanup, which exits with it.
cleanup_all() {
  local rc=$?
  set +e
  rm -rf "$tmp"
  (exit "$rc")
  cleanup
}
trap cleanup_all EXIT

for mode in "${modes[@]}"; do
  # No library yet: no drugs, no error.
  expect_exactly "--drug with no library" "$(offered program --drug "")"
done

out=$("$ctl" library import "$library") || fail "library import: $out"

for mode in "${modes[@]}"; do
  expect_exactly "--drug (every drug of the library)" "$(offered program --drug "")" $drugs
  expect_exactly "history --drug" "$(offered history --drug "")" $drugs
  expect_exactly "library show" "$(offered library show "")" $drugs
  expect_exactly "--drug=hep" "$(offered program --drug = hep)" $(grep '^hep' <<<"$drugs")
  # A program's drugs are those of its care area.
  got=$(offered program --care-area Pediatrics --drug "")
  expect_exactly "--drug in Pediatrics" "$got" $peds_drugs
  expect_not "--drug in Pediatrics" "$got" "$adult_only"
  expect_exactly "--care-area" "$(offered program --care-area "")" $areas
  expect_exactly "library list --care-area" "$(offered library list --care-area "")" $areas
  expect_exactly "--unit of heparin" "$(offered program --drug heparin --unit "")" units/h
  expect_exactly "ack with no alarm" "$(offered ack "")"
done

# An alarm: the door opens during an infusion.
"$ctl" program --drug heparin --care-area ICU --dose 1000 --unit units/h --vtbi 5 >/dev/null || fail "program"
"$ctl" start || fail "start"
"$ctl" sim door open || fail "sim door open"
"$ctl" sim advance 2s >/dev/null || fail "sim advance"
id=$("$ctl" alarms --json | grep -oE '"id":"door-open-[0-9]+"' | cut -d'"' -f4)
[ -n "$id" ] || fail "no door-open alarm: $("$ctl" alarms)"

for mode in "${modes[@]}"; do
  expect_exactly "ack (the active alarm)" "$(offered ack "")" "$id"
  expect_exactly "ack door" "$(offered ack door)" "$id"
  expect_exactly "ack x" "$(offered ack x)"
  expect_exactly "-c 0 ack" "$(offered -c 0 ack "")" "$id"
  # Channel 1 does not exist: nothing, quietly.
  expect_exactly "--channel 1 ack" "$(offered --channel 1 ack "")"
  expect_exactly "ack takes one id" "$(offered ack "$id" "")"
done

# What a person at the prompt sees, for the log.
mode=${modes[-1]}
echo "[$mode] $(bash --norc --noprofile "$tmp/driver.sh" "$mode" "$compl" "$bc_main" "$ctl" "" | head -n1)"
echo "[$mode] infusionctl <TAB>: $(offered "" | tr '\n' ' ')"
echo "[$mode] infusionctl program --care-area Pediatrics --drug <TAB>: $(offered program --care-area Pediatrics --drug "" | tr '\n' ' ')"
echo "[$mode] infusionctl ack <TAB>: $(offered ack "" | tr '\n' ' ')"

"$ctl" sim door closed >/dev/null
"$ctl" sim advance 1s >/dev/null
"$ctl" ack "$id" || fail "ack $id"
for mode in "${modes[@]}"; do
  expect_exactly "ack after the alarm was acknowledged" "$(offered ack "")"
done

failures=0
[ -s "$tmp/failures" ] && failures=$(wc -l <"$tmp/failures")
if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "completion: ${modes[*]}: every check passed ($(wc -l <<<"$verbs") verbs, $(wc -l <<<"$options") options)"
