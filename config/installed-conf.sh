#!/bin/sh
# SPDX-License-Identifier: MIT
# Make the installed /etc/infusiond/infusiond.conf from config/sim.conf, so
# the installed file documents every key exactly as the example does:
#
#   installed-conf.sh SIM_CONF STATE_DIR DOC_DIR OUT
#
# It differs from the example in three lines, each of which must match
# exactly once (an edit to sim.conf that moves one fails the build here
# rather than shipping a wrong file):
#  - no backend: infusiond refuses to start until someone chooses sim or
#    rig. A fresh install on a pump rig must never run a simulated pump
#    that delivers nothing while it shows an infusion running;
#  - the database under STATE_DIR (the unit's StateDirectory=), not in the
#    working directory;
#  - the simulation clock real: a virtual clock moves only when a test
#    tells it to, which no installed pump does.
# tests/integration/test-installed-conf.sh holds the result to this.
set -eu

sim=$1 state_dir=$2 doc_dir=$3 out=$4

once() { # once PATTERN: PATTERN must match exactly one line of SIM_CONF
	n=$(grep -c -- "$1" "$sim" || true)
	if [ "$n" != 1 ]; then
		echo "installed-conf.sh: $sim: expected one line matching '$1', found $n" >&2
		exit 1
	fi
}
edit() { # edit PATTERN REPLACEMENT
	once "$1"
	script="$script
s|$1|$2|"
}
drop() { # drop PATTERN
	once "$1"
	script="$script
\|$1|d"
}

script=
edit '^backend = sim$' '# backend = rig    ; or sim. Required: see the top of this file.'
edit '^path = infusiond-sim\.db$' "path = $state_dir/history.db"
edit '^clock = virtual$' 'clock = real'
# The example's title and its note on this very file.
drop '^# infusiond configuration: a simulated syringe pump\.$'
drop '^# The installed /etc/infusiond/infusiond.conf is made from this file by$'
drop '^# config/installed-conf.sh: no backend chosen, real time, the database in$'
drop '^# /var/lib/infusiond\.$'
edit '^# The example runs from a checkout; an installed pump uses$' '# The unit runs infusiond with StateDirectory=infusiond: systemd creates'
edit '^# /var/lib/infusiond/history.db (systemd creates that directory)\.$' "# $state_dir owned by infusiond."

{
	cat <<HEADER
# /etc/infusiond/infusiond.conf: infusiond's configuration, as installed.
# Every key is described below and in infusiond.conf(5).
#
# This file chooses no hardware, so infusiond refuses to start with it
# ("[pump] backend: missing (required)"). Choose one in [pump]:
#  - backend = rig: the pump rig's own devices. Set [mechanism] to the pump's
#    and add the board's sections: see rpi-stepper.conf and beaglebone.conf
#    in $doc_dir/examples, and HARDWARE.md there.
#  - backend = sim: a simulated pump, to try infusiond out. It drives no
#    motor: never use it on a pump that treats a patient.
# Then check the file and start the daemon:
#   infusiond --check-config && systemctl enable --now infusiond
HEADER
	sed -e "$script" "$sim"
} > "$out.tmp"
mv "$out.tmp" "$out"
