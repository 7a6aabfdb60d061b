#!/bin/sh
# SPDX-License-Identifier: MIT
# The man pages (issue 10): each built page must render with man -l at 80
# columns without a warning (groff -ww: every warning, undefined macros
# included), and must not drift from the code:
#  - every verb of infusionctl (its verbs table in ctl/infusionctl.c and
#    the commands of its --help, sub-verbs included) and every option its
#    --help lists must be in infusionctl(1);
#  - every key of config/keys.c must be in infusiond.conf(5), under its
#    own section's heading, and every section heading there must be a
#    section of the config.
# Usage: test-man.sh INFUSIONCTL LIST_CONFIG_KEYS INFUSIONCTL_C PAGE...
# Exit 77 (skipped) when scdoc (no pages built) or man is missing.

set -u

infusionctl=${1:?usage: $0 INFUSIONCTL LIST_CONFIG_KEYS INFUSIONCTL_C PAGE...}
list_keys=${2:?}
infusionctl_c=${3:?}
shift 3

if [ $# -eq 0 ]; then
        echo "SKIP: no man pages were built (scdoc not installed; -Dman=auto)"
        exit 77
fi
if ! command -v man >/dev/null 2>&1; then
        echo "SKIP: man not installed (Debian: man-db)"
        exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
fail() {
        echo "FAIL: $*"
        status=1
}

export LC_ALL=C.UTF-8 MANWIDTH=80 MANPAGER=cat PAGER=cat
unset MANOPT MANROFFOPT

# 1. Each page renders, and groff and man say nothing about it.
ctl_page= conf_page=
for page in "$@"; do
        name=$(basename "$page")
        case $name in
        infusionctl.1) ctl_page=$page ;;
        infusiond.conf.5) conf_page=$page ;;
        esac
        if ! man -P cat --warnings=w -l "$page" >"$tmp/$name.txt" 2>"$tmp/$name.err"; then
                fail "man -l $name failed:"
                cat "$tmp/$name.err"
                continue
        fi
        if [ -s "$tmp/$name.err" ]; then
                fail "man -l $name printed warnings:"
                cat "$tmp/$name.err"
                continue
        fi
        if [ "$(wc -l <"$tmp/$name.txt")" -lt 20 ]; then
                fail "man -l $name rendered only $(wc -l <"$tmp/$name.txt") lines"
                continue
        fi
        echo "ok: $name renders ($(wc -l <"$tmp/$name.txt") lines, no warnings)"
        # Without hyphenation, for the word checks below.
        MANROFFOPT=-rHY=0 man -P cat -l "$page" >"$tmp/$name.plain" 2>/dev/null
done
[ -n "$ctl_page" ] || fail "no infusionctl.1 among the pages"
[ -n "$conf_page" ] || fail "no infusiond.conf.5 among the pages"

# 2. infusionctl(1) against infusionctl.
if [ -n "$ctl_page" ] && [ -s "$tmp/infusionctl.1.plain" ]; then
        ctl_txt=$tmp/infusionctl.1.plain
        "$infusionctl" --help >"$tmp/help" || fail "infusionctl --help failed"
        # The verbs table: { "status",  0, 0, ... } between "verbs[] = {" and "};".
        sed -n '/^static const Verb verbs\[\] = {/,/^};/s/^[[:space:]]*{ *"\([a-z-]*\)".*/\1/p' \
                "$infusionctl_c" >"$tmp/verbs"
        [ -s "$tmp/verbs" ] || fail "found no verbs table in $infusionctl_c"
        # --help's commands: the first word (and a sub-verb) of each entry.
        sed -n '/^Commands:/,/^Options:/s/^  \([a-z][a-z-]*\)\( [a-z][a-z-]*\)\{0,1\}.*/\1\2/p' \
                "$tmp/help" >"$tmp/commands"
        [ -s "$tmp/commands" ] || fail "found no commands in infusionctl --help"
        n=0
        while read -r verb; do
                n=$((n + 1))
                grep -q "^  $verb\( \|$\)" "$tmp/help" || fail "verb '$verb' of the verbs table is not in infusionctl --help"
                grep -Eq "(^|[[:space:]])$verb( |$)" "$ctl_txt" || fail "verb '$verb' is not in infusionctl(1)"
        done <"$tmp/verbs"
        echo "ok: $n verbs of the verbs table checked"
        n=0
        while read -r cmd; do
                n=$((n + 1))
                # "sim advance DURATION": the page must name "sim advance".
                verb=${cmd%% *}
                grep -qx "$verb" "$tmp/verbs" || fail "command '$verb' of --help is not in the verbs table"
                grep -Fq "$cmd" "$ctl_txt" || fail "command '$cmd' (infusionctl --help) is not in infusionctl(1)"
        done <"$tmp/commands"
        echo "ok: $n commands of infusionctl --help checked"
        grep -o -- '--[a-z][a-z-]*' "$tmp/help" | sort -u >"$tmp/options"
        n=0
        while read -r opt; do
                n=$((n + 1))
                grep -Eq -- "(^|[^a-z-])$opt([^a-z-]|$)" "$ctl_txt" || fail "option '$opt' (infusionctl --help) is not in infusionctl(1)"
        done <"$tmp/options"
        echo "ok: $n options of infusionctl --help checked"
fi

# 3. infusiond.conf(5) against config/keys.c, section by section: the
# text under each "[section]" subsection heading, up to the next heading.
if [ -n "$conf_page" ] && [ -s "$tmp/infusiond.conf.5.plain" ]; then
        "$list_keys" >"$tmp/keys" || fail "$list_keys failed"
        [ -s "$tmp/keys" ] || fail "$list_keys listed no keys"
        awk -v dir="$tmp" '
                /^   \[[a-z_]+\]$/ { sec = $1; gsub(/[][]/, "", sec); print sec > (dir "/headings"); next }
                /^[^ ]/ { sec = "" }
                sec != "" { print > (dir "/section-" sec) }
        ' "$tmp/infusiond.conf.5.plain"
        n=0
        while read -r section key; do
                n=$((n + 1))
                if [ ! -f "$tmp/section-$section" ]; then
                        fail "section [$section] has no heading in infusiond.conf(5)"
                        continue
                fi
                grep -qw -- "$key" "$tmp/section-$section" ||
                        fail "key '$key' is not under [$section] in infusiond.conf(5)"
        done <"$tmp/keys"
        echo "ok: $n keys of config/keys.c checked"
        while read -r heading; do
                cut -d' ' -f1 "$tmp/keys" | grep -qx "$heading" ||
                        fail "infusiond.conf(5) has a section [$heading] the config does not know"
        done <"$tmp/headings"
fi

exit $status
