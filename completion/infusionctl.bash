# bash completion for infusionctl(1)                      -*- shell-script -*-
#
# Installed as bash-completion's completionsdir/infusionctl (loaded on
# demand), or sourced by hand. Works with bash-completion 2.x
# (_init_completion) and, more plainly, without it.
#
# Verbs, sub-verbs, each verb's options and the values that can be listed
# (modes, formats, sim arguments, dose units) are known here. Care areas,
# drug ids and active alarm ids are asked of the daemon with infusionctl,
# bounded by a short timeout; with no daemon they are quietly not offered.
# Keep the verbs and options in step with ctl/infusionctl.c: the test
# tests/integration/test-completion.sh compares them with `--help`.

# Seconds a question to the daemon may take before completion gives up.
: "${INFUSIONCTL_COMPLETION_TIMEOUT:=2}"

_infusionctl_verbs='status program start pause resume stop alarms silence ack
    monitor demand pca library history export audit sim'
_infusionctl_common_opts='--channel --help --version'
_infusionctl_program_opts='--mode --rate --vtbi --kvo --duration --ramp-up
    --ramp-down --step --loading-volume --loading-rate --dose-volume --interval
    --doses --care-area --drug --concentration --dose --unit --weight --height
    --confirm-soft-limits --reason --pca-dose-ml --pca-dose --lockout
    --max-doses-per-hour --limit-ml --limit-dose --limit-window --basal-ml-per-h
    --basal-dose --loading-dose-ml --loading-dose --pca-bolus-rate
    --limit-kvo-rate --new-patient'
# Options that take no value; every other option takes one.
_infusionctl_flag_opts='--help --version --json --csv --confirm-soft-limits
    --new-patient'
_infusionctl_modes='continuous volume-time multistep loading intermittent ramp pca'

# Run infusionctl, bounded in time, silent on failure. $1: the program.
_infusionctl_ask() {
    local ctl=$1
    shift
    if command -v timeout >/dev/null 2>&1; then
        timeout -k 1 "$INFUSIONCTL_COMPLETION_TIMEOUT" "$ctl" "$@" </dev/null 2>/dev/null
    else
        "$ctl" "$@" </dev/null 2>/dev/null
    fi
}

# Drug ids of the library ($2: only those available in this care area).
_infusionctl_drugs() {
    local ctl=$1 area=${2-}
    if [[ -n $area ]]; then
        _infusionctl_ask "$ctl" library list --care-area "$area"
    else
        _infusionctl_ask "$ctl" library list
    fi | awk 'NR == 1 && $1 != "ID" { exit } NR > 1 && NF { print $1 }'
}

# Care area ids of the library.
_infusionctl_care_areas() {
    _infusionctl_ask "$1" library |
        awk '/^CARE AREA/ { t = 1; next } t && NF { print $1 }'
}

# Ids of the active alarms of channel $2.
_infusionctl_alarm_ids() {
    _infusionctl_ask "$1" --channel "$2" alarms --json |
        grep -o '"id":"[^"\\]*"' | sed 's/^"id":"//; s/"$//'
}

# Dose units: the library's ($2: only that drug's), else every unit the
# library format allows (docs/LIBRARY.md, "Units").
_infusionctl_units() {
    local ctl=$1 drug=${2-} units a p t
    units=$(_infusionctl_ask "$ctl" library list |
        awk -v d="$drug" 'NR == 1 && $1 != "ID" { exit }
                          NR > 1 && NF && (d == "" || $1 == d) { print $NF }' | sort -u)
    if [[ -n $units ]]; then
        printf '%s\n' "$units"
        return
    fi
    for a in mL g mg mcg ng units milliunits mEq mmol; do
        for p in '' /kg /m2; do
            for t in /min /h; do
                printf '%s\n' "$a$p$t"
            done
        done
    done
}

# COMPREPLY: the words of $1 that start with $cur.
_infusionctl_reply() {
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

_infusionctl_filedir() {
    if declare -F _filedir >/dev/null; then
        _filedir
    else
        compopt -o filenames 2>/dev/null
        local IFS=$'\n'
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
}

_infusionctl() {
    # shellcheck disable=SC2034 # split: set by _init_completion -s
    local cur prev words cword split
    if declare -F _init_completion >/dev/null; then
        _init_completion -s || return
    else
        # Without bash-completion: "=" is a word of its own in COMP_WORDS
        # (COMP_WORDBREAKS), so --drug=hep arrives as --drug = hep.
        COMPREPLY=()
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]-}
        if [[ $cur == = ]]; then
            cur=''
        elif [[ $prev == = ]]; then
            prev=${COMP_WORDS[COMP_CWORD - 2]-}
        fi
        [[ $cword -le 0 ]] && return
    fi

    local ctl=${words[0]}
    [[ $ctl == infusionctl || -z $ctl ]] || command -v "$ctl" >/dev/null 2>&1 || ctl=infusionctl

    # The positional words before the cursor (verb, sub-verb, arguments),
    # the options given, their values, and the channel.
    local -a pos=()
    local -A given=()
    local i w channel=0 opts_done=false
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        [[ $w == = ]] && continue
        if $opts_done || [[ $w != -* || $w == - ]]; then
            pos+=("$w")
            continue
        fi
        case $w in
        --)
            opts_done=true
            ;;
        --*=*)
            given[${w%%=*}]=${w#*=}
            ;;
        -c?*)
            given[--channel]=${w#-c}
            ;;
        -c | --*)
            [[ $w == -c ]] && w=--channel
            if [[ " ${_infusionctl_flag_opts//$'\n'/ } " == *" $w "* ]]; then
                given[$w]=1
            else
                # The value: the next word (or the one after a lone "=").
                ((i + 1 < cword)) && [[ ${words[i + 1]} == = ]] && ((i++))
                ((i + 1 < cword)) && given[$w]=${words[i + 1]}
                ((i++))
            fi
            ;;
        esac
    done
    [[ -n ${given[--channel]-} ]] && channel=${given[--channel]}
    local verb=${pos[0]-} n=${#pos[@]}

    # The value of an option.
    local opt=$prev
    [[ $opt == -c ]] && opt=--channel
    # (getopt takes the next word as the value, even one that starts with -.)
    if [[ $opt == --* && " ${_infusionctl_flag_opts//$'\n'/ } " != *" $opt "* ]]; then
        case $opt in
        --mode)
            _infusionctl_reply "$_infusionctl_modes"
            ;;
        --format)
            _infusionctl_reply 'hl7 fhir'
            ;;
        --care-area)
            _infusionctl_reply "$(_infusionctl_care_areas "$ctl")"
            ;;
        --drug)
            # For a program, the drugs of its care area when it is given.
            local area=
            [[ $verb == program ]] && area=${given[--care-area]-}
            _infusionctl_reply "$(_infusionctl_drugs "$ctl" "$area")"
            ;;
        --unit)
            _infusionctl_reply "$(_infusionctl_units "$ctl" "${given[--drug]-}")"
            ;;
        --since | --until)
            _infusionctl_reply 'now -1h -24h -7d -30d'
            ;;
        --output | --db)
            _infusionctl_filedir
            ;;
        --*)
            # A number, a duration, text: nothing to offer.
            ;;
        esac
        return
    fi

    # The options of the verb.
    local verb_opts=
    case $verb in
    status | alarms) verb_opts='--json' ;;
    pca) verb_opts='--json --count' ;;
    program) verb_opts=$_infusionctl_program_opts ;;
    library) [[ ${pos[1]-} == list ]] && verb_opts='--care-area' ;;
    history) verb_opts='--since --until --drug --json --csv' ;;
    export) verb_opts='--format --since --until --drug --output' ;;
    audit) verb_opts='--db' ;;
    esac

    if [[ $cur == -* ]]; then
        _infusionctl_reply "$verb_opts $_infusionctl_common_opts"
        return
    fi

    # Verbs, sub-verbs and their arguments.
    local words_now=
    if ((n == 0)); then
        words_now=$_infusionctl_verbs
    else
        case $verb/$((n - 1))/${pos[1]-} in
        ack/0/*)
            words_now=$(_infusionctl_alarm_ids "$ctl" "$channel")
            ;;
        library/0/*)
            words_now='list show import export'
            ;;
        library/1/show)
            words_now=$(_infusionctl_drugs "$ctl")
            ;;
        library/1/import | library/1/export)
            _infusionctl_filedir
            return
            ;;
        audit/0/*)
            words_now='verify'
            ;;
        sim/0/*)
            words_now='advance occlude upstream air door battery fail-sensor
                motor-gain stall outputs press-pca'
            ;;
        sim/1/occlude | sim/1/upstream | sim/1/stall)
            words_now='on off'
            ;;
        sim/1/door)
            words_now='open closed'
            ;;
        sim/1/battery)
            words_now='mains'
            ;;
        sim/1/fail-sensor)
            words_now='pressure-downstream pressure-upstream plunger-position battery-voltage'
            ;;
        sim/2/fail-sensor)
            words_now='ok read-error stuck out-of-range gone'
            ;;
        *)
            # No more arguments: the verb's options, if any.
            words_now=$verb_opts
            ;;
        esac
    fi
    _infusionctl_reply "$words_now"
} &&
    complete -F _infusionctl infusionctl

# ex: filetype=sh
