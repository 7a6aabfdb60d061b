#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Debian packages scripts/package built into DIST, checked as an admin
# would meet them (issue 10):
#  1. the native .deb holds every file the package promises and nothing
#     else: the same files `meson install --prefix=/usr` installs (so a
#     DESTDIR install matches the package), plus Debian's own docs;
#     /etc/infusiond/infusiond.conf is its one conffile; its version is
#     meson's project version;
#  2. lintian reports no tag that is not overridden in debian/ (each
#     override says why), at every level including info and pedantic, for
#     each architecture's .changes;
#  3. installed for real on this machine's own system, inside a throwaway
#     copy of it (an overlayfs over / in a private mount namespace, then
#     chroot), so the host is untouched:
#      - dpkg -L lists every file; the account, the role groups and
#        /var/lib/infusiond exist;
#      - systemd-analyze verify of the installed unit prints nothing (man
#        pages included: they are installed);
#      - man -l renders each installed page without a warning;
#      - bash-completion loads infusionctl's completion from where the
#        package put it, and it offers --help's verbs; the journal catalog
#        is compiled in;
#      - the installed config refuses to start, naming the missing backend;
#      - with the sim chosen, the daemon runs as infusiond on this root's
#        own system bus (the installed policy) and infuses; an upgrade
#        during the infusion, whose packaged config changed too, keeps the
#        admin's config (the new one left as .dpkg-dist), the database and
#        the infusion; a removal is refused while the channel is running
#        or paused, and goes with INFUSIOND_FORCE_REMOVE=1; it keeps the
#        config and the database; a purge removes the config but keeps
#        the database byte for byte, and the account;
#  4. each cross-built .deb (arm64, armhf) present: the right architecture
#     and ELF machine, the same files as the native one, and its library
#     dependencies computed (not empty).
#
#   test-deb.sh DIST VERSION SOURCE_ROOT
# Exit 77 when DIST holds no native .deb: run bash scripts/package first
# (.ci/run does). Runs as root (dpkg, mounts); skips otherwise.
set -uo pipefail

dist=${1:?usage: test-deb.sh DIST VERSION SOURCE_ROOT}
version=${2:?}
srcroot=${3:?}
native=$(dpkg --print-architecture)
deb=$dist/infusiond_${version}_${native}.deb
changes=$dist/infusiond_${version}_${native}.changes

if [ ! -e "$deb" ]; then
  echo "SKIP: no $deb: build it with bash scripts/package"
  exit 77
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: installing a package needs root"
  exit 77
fi

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

work=$(mktemp -d /tmp/infusiond-test-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT

# ---- 1. contents -----------------------------------------------------------
files_of() { dpkg-deb -c "$1" | awk '$1 !~ /^d/ {sub(/^\./, "", $6); print $6}' | sort; }
files_of "$deb" > "$work/deb-files"

# What meson installs with the package's prefix, from the build description
# alone (no build needed). Man pages are compressed by the package.
meson setup "$work/meson" "$srcroot" --prefix=/usr -Dtests=false -Dman=enabled >/dev/null ||
  fail "meson setup --prefix=/usr failed"
meson introspect "$work/meson" --installed |
  python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin).values()))' |
  sed 's|^\(/usr/share/man/.*\)$|\1.gz|' | sort > "$work/meson-files"
# What Debian adds: its own docs, and lintian's overrides.
printf '%s\n' /usr/share/doc/infusiond/README.Debian /usr/share/doc/infusiond/changelog.gz \
  /usr/share/doc/infusiond/copyright /usr/share/lintian/overrides/infusiond |
  cat - "$work/meson-files" | sort > "$work/expected-files"
if diff -u "$work/expected-files" "$work/deb-files" > "$work/files.diff"; then
  ok "the .deb holds exactly meson's installed files ($(wc -l < "$work/meson-files")) and Debian's 4"
else
  fail "the .deb's files differ from meson install --prefix=/usr (- meson, + .deb):"
  cat "$work/files.diff"
fi
# The files the issue names, each by its place on Debian 12.
promised=(
  /usr/sbin/infusiond /usr/bin/infusionctl
  /lib/systemd/system/infusiond.service
  /usr/share/dbus-1/system.d/org.infusiond.pump1.conf
  /usr/lib/sysusers.d/infusiond.conf /usr/lib/tmpfiles.d/infusiond.conf
  /lib/udev/rules.d/60-infusiond.rules
  /etc/infusiond/infusiond.conf
  /usr/lib/systemd/catalog/infusiond.catalog
  /usr/share/bash-completion/completions/infusionctl
  /usr/share/man/man8/infusiond.8.gz /usr/share/man/man1/infusionctl.1.gz
  /usr/share/man/man5/infusiond.conf.5.gz /usr/share/man/man5/org.infusiond.pump1.5.gz
  /usr/share/doc/infusiond/README.md /usr/share/doc/infusiond/API.md
  /usr/share/doc/infusiond/SAFETY.md /usr/share/doc/infusiond/HARDWARE.md
  /usr/share/doc/infusiond/examples/sim.conf
  /usr/share/doc/infusiond/copyright
)
missing=0
for f in "${promised[@]}"; do
  grep -qx "$f" "$work/deb-files" || { fail "the .deb lacks $f"; missing=1; }
done
[ "$missing" -eq 1 ] || ok "the .deb holds all ${#promised[@]} promised files"

dpkg-deb -e "$deb" "$work/control"
if [ "$(cat "$work/control/conffiles" 2>/dev/null)" = /etc/infusiond/infusiond.conf ]; then
  ok "one conffile: /etc/infusiond/infusiond.conf"
else
  fail "conffiles is not just /etc/infusiond/infusiond.conf: $(cat "$work/control/conffiles" 2>/dev/null)"
fi
deb_version=$(dpkg-deb -f "$deb" Version)
[ "$deb_version" = "$version" ] && ok "version $deb_version, as meson.build" ||
  fail "the .deb is version $deb_version but meson.build says $version (debian/changelog?)"

# ---- 2. lintian ------------------------------------------------------------
if [ -e "$changes" ]; then
  # The boards' packages too, when built: the same rules for each.
  for a in arm64 armhf; do
    x=$dist/infusiond_${version}_${a}.changes
    [ ! -e "$x" ] || lintian --pedantic --display-info --fail-on error,warning,info,pedantic "$x" >/dev/null 2>&1 ||
      fail "lintian finds tags in $x: lintian --pedantic --display-info $x"
  done
  # Shown with the overrides and their reasons; judged without them
  # (--show-overrides makes --fail-on count the overridden tags too).
  echo "# lintian --pedantic --display-info --show-overrides $changes"
  lintian --pedantic --display-info --show-overrides "$changes" 2>&1 |
    grep -v '^running with root privileges' | tee "$work/lintian"
  lintian --pedantic --display-info --fail-on error,warning,info,pedantic "$changes" >/dev/null 2>&1
  rc=$?
  [ "$rc" -eq 0 ] && ok "lintian: every tag left is overridden ($(grep -c '^O:' "$work/lintian") override(s), each justified in debian/)" ||
    fail "lintian exited $rc: a tag above is neither fixed nor overridden"
else
  fail "no $changes for lintian"
fi

# ---- 3. install, upgrade, remove, purge in a throwaway root ---------------
# The upgrade's package: this one with a higher version, nothing else
# changed, as a rebuild of the next release would be for the maintainer
# scripts and the conffile.
# Its packaged config differs by a comment, as any edit of config/sim.conf
# makes it: with the admin's edits too, dpkg must keep theirs.
dpkg-deb -R "$deb" "$work/next"
sed -i "s/^Version: .*/Version: ${version}+upgradetest1/" "$work/next/DEBIAN/control"
echo "# A comment the next version added." >> "$work/next/etc/infusiond/infusiond.conf"
(cd "$work/next" && sed -i "s|^[0-9a-f]*  etc/infusiond/infusiond.conf\$|$(md5sum etc/infusiond/infusiond.conf)|" DEBIAN/md5sums)
dpkg-deb -b "$work/next" "$work/next.deb" >/dev/null
cp "$deb" "$work/this.deb"

cat > "$work/inside.sh" <<'INSIDE'
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
# What follows overwrites and purges: only ever in the throwaway root.
if [ "$(stat -f -c %T /)" != overlayfs ] || [ ! -e /tmp/pkg/deb-files ]; then
  echo "FAIL: not in the throwaway root"; exit 1
fi
echo "# in the throwaway root"
# A machine with infusiond installed: start from none, as a new one would.
if dpkg-query -W -f='${Status}' infusiond 2>/dev/null | grep -q installed; then
  INFUSIOND_FORCE_REMOVE=1 dpkg -P infusiond >/dev/null 2>&1 || { fail "cannot purge the infusiond already here"; exit 1; }
fi

dpkg -i /tmp/pkg/this.deb > /tmp/pkg/install.log 2>&1 || { cat /tmp/pkg/install.log; fail "dpkg -i failed"; exit 1; }
sed 's/^/  | /' /tmp/pkg/install.log | grep -v "Reading database\|^  | (Reading"
dpkg -L infusiond | sort > /tmp/pkg/listed
missing=0
while read -r f; do
  grep -qx "$f" /tmp/pkg/listed || { fail "dpkg -L does not list $f"; missing=1; }
  [ -e "$f" ] || { fail "$f is not installed"; missing=1; }
done < /tmp/pkg/deb-files
[ "$missing" -eq 1 ] || ok "dpkg -L lists, and the system holds, all $(wc -l < /tmp/pkg/deb-files) files"

getent passwd infusiond >/dev/null && ok "account infusiond" || fail "no account infusiond"
for g in infusiond-clinician infusiond-patient infusiond-pharmacy infusiond-history gpio iio; do
  getent group "$g" >/dev/null || fail "no group $g"
done
id -nG infusiond | tr ' ' '\n' | grep -qx gpio || fail "infusiond is not in group gpio"
[ "$(stat -c '%U:%G %a' /var/lib/infusiond 2>/dev/null)" = "infusiond:infusiond 750" ] &&
  ok "/var/lib/infusiond infusiond:infusiond 0750" ||
  fail "/var/lib/infusiond is $(stat -c '%U:%G %a' /var/lib/infusiond 2>&1)"

out=$(systemd-analyze verify /lib/systemd/system/infusiond.service 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
  ok "systemd-analyze verify of the installed unit prints nothing"
else
  fail "systemd-analyze verify exited $rc and printed:"; printf '%s\n' "$out"
fi

for page in /usr/share/man/man8/infusiond.8.gz /usr/share/man/man1/infusionctl.1.gz \
            /usr/share/man/man5/infusiond.conf.5.gz /usr/share/man/man5/org.infusiond.pump1.5.gz; do
  text=$(MANWIDTH=80 man -l --warnings "$page" 2>/tmp/pkg/man.err)
  if [ $? -eq 0 ] && [ ! -s /tmp/pkg/man.err ] && [ "$(printf '%s\n' "$text" | wc -l)" -gt 20 ]; then
    ok "man -l $page: $(printf '%s\n' "$text" | wc -l) lines, no warning"
  else
    fail "man -l $page:"; cat /tmp/pkg/man.err
  fi
done

# bash-completion loads the installed file on demand (its fallback for a
# command without one would be "complete -F _minimal"), and it offers the
# verbs of `infusionctl --help` for the first word.
spec=$(bash -c '. /usr/share/bash-completion/bash_completion; _completion_loader infusionctl 2>/dev/null; complete -p infusionctl' 2>&1)
[ "$spec" = "complete -F _infusionctl infusionctl" ] && ok "bash-completion loads it: $spec" ||
  fail "bash-completion does not load infusionctl's completion: $spec"
verbs=$(infusionctl --help | sed -n '/^Commands:/,/^Options:/p' | grep -oE '^  [a-z][a-z-]*' | tr -d ' ' | sort -u)
offered=$(bash -c '. /usr/share/bash-completion/bash_completion; _completion_loader infusionctl
  COMP_WORDS=(infusionctl ""); COMP_CWORD=1; COMP_LINE="infusionctl "; COMP_POINT=${#COMP_LINE}
  _infusionctl infusionctl "" infusionctl; printf "%s\n" "${COMPREPLY[@]}"' 2>/dev/null | sort -u)
[ "$(wc -l <<<"$verbs")" -ge 15 ] && [ "$offered" = "$verbs" ] &&
  ok "the installed completion offers the $(wc -l <<<"$verbs") verbs of --help" ||
  fail "the installed completion offers [$(echo $offered)], --help lists [$(echo $verbs)]"

journalctl --update-catalog 2>/dev/null
n=$(journalctl --list-catalog 2>/dev/null | grep -c "infusiond" || true)
[ "$n" -gt 0 ] && ok "journalctl --list-catalog: $n infusiond entries" || fail "the journal catalog has no infusiond entry"

out=$(infusiond --check-config 2>&1)
rc=$?
if [ "$rc" -eq 6 ] && grep -qx "/etc/infusiond/infusiond.conf: \[pump\] backend: missing (required)" <<<"$out"; then
  ok "the installed config refuses to start (exit 6): backend missing"
else
  fail "infusiond --check-config on the installed config exited $rc: $out"
fi

# An admin chooses the sim, and the daemon runs as the package set it up:
# as infusiond, on this root's own system bus (Debian's system.conf with
# the installed policy), writing its history in /var/lib/infusiond.
sed -i 's|^# backend = rig .*|backend = sim ; chosen by the admin|' /etc/infusiond/infusiond.conf
infusiond --check-config >/dev/null 2>&1 || fail "the admin's config does not load"
conf_sum=$(md5sum < /etc/infusiond/infusiond.conf)
mkdir -p /run/dbus
dbus-daemon --system --fork || { fail "the system bus did not start"; exit 1; }
setpriv --reuid=infusiond --regid=infusiond --init-groups infusiond > /tmp/pkg/daemon.log 2>&1 &
daemon_pid=$!
# The daemon takes its bus name once its self-test passed: wait for that
# event, bounded, rather than poll.
gdbus wait --system --timeout 20 org.infusiond.pump1 && infusionctl status >/dev/null 2>&1 ||
  { cat /tmp/pkg/daemon.log; fail "the installed daemon did not answer"; exit 1; }
state() { infusionctl status --json | grep -o '"State":"[a-z]*"' | sed 's/.*:"\(.*\)"/\1/'; }
infusionctl program --rate 100 --vtbi 10 >/dev/null && infusionctl start >/dev/null ||
  fail "the installed daemon did not start an infusion"
[ "$(state)" = running ] && ok "the installed daemon, as infusiond on the system bus, is infusing" ||
  fail "the channel is $(state), not running"
db_inode=$(stat -c %i /var/lib/infusiond/history.db)
[ -n "$conf_sum" ] && [ -n "$db_inode" ] || { fail "no config or no database to follow"; exit 1; }

# Upgrade during the infusion, to a version whose packaged config changed
# too, as an unattended upgrade does it (keep the admin's file).
dpkg --force-confdef --force-confold -i /tmp/pkg/next.deb > /tmp/pkg/upgrade.log 2>&1 ||
  { cat /tmp/pkg/upgrade.log; fail "the upgrade failed"; }
[ "$(dpkg-query -W -f='${Version}' infusiond)" = "$(dpkg-deb -f /tmp/pkg/next.deb Version)" ] &&
  ok "upgraded to $(dpkg-query -W -f='${Version}' infusiond) during the infusion" || fail "the upgrade did not take"
[ "$(md5sum < /etc/infusiond/infusiond.conf)" = "$conf_sum" ] && ok "upgrade: the admin's config is kept" ||
  fail "upgrade: the admin's config changed"
[ -s /etc/infusiond/infusiond.conf.dpkg-dist ] && ok "upgrade: the new packaged config waits beside it (.dpkg-dist)" ||
  fail "upgrade: no infusiond.conf.dpkg-dist"
kill -0 "$daemon_pid" 2>/dev/null && [ "$(state)" = running ] &&
  ok "upgrade: the daemon was not stopped; the infusion runs on" || fail "upgrade: the infusion did not survive"
[ "$(stat -c %i /var/lib/infusiond/history.db 2>/dev/null)" = "$db_inode" ] &&
  ok "upgrade: the database is the same file" || fail "upgrade: the database was replaced or removed"

# Removal is refused while the patient depends on the daemon.
infusionctl pause >/dev/null
for st in paused running; do
  [ "$st" = running ] && infusionctl resume >/dev/null
  if dpkg -r infusiond > /tmp/pkg/refused.log 2>&1; then
    fail "dpkg -r removed the package while the channel was $st"; break
  fi
  grep -q "not removed: the pump reports an infusion in progress (state: $st)" /tmp/pkg/refused.log &&
    [ -x /usr/sbin/infusiond ] && kill -0 "$daemon_pid" 2>/dev/null && [ "$(state)" = "$st" ] &&
    ok "remove refused while $st: $(grep -m1 'not removed' /tmp/pkg/refused.log)" ||
    { cat /tmp/pkg/refused.log; fail "the refusal while $st did not leave everything as it was"; }
done
# A wedged daemon must still be removable: forced, it goes while infusing.
INFUSIOND_FORCE_REMOVE=1 dpkg -r infusiond > /tmp/pkg/remove.log 2>&1 ||
  { cat /tmp/pkg/remove.log; fail "dpkg -r with INFUSIOND_FORCE_REMOVE=1 failed"; }
[ ! -e /usr/sbin/infusiond ] && ok "removed while running with INFUSIOND_FORCE_REMOVE=1" ||
  fail "the forced remove left /usr/sbin/infusiond"
# No systemd here to stop it: stop it as systemd would, then the bus.
kill -TERM "$daemon_pid"
timeout 10 tail --pid="$daemon_pid" -f /dev/null || fail "the daemon did not stop on SIGTERM"
kill "$(cat /run/dbus/pid)" 2>/dev/null || true
[ "$(sqlite3 -readonly /var/lib/infusiond/history.db 'PRAGMA integrity_check' 2>&1)" = ok ] &&
  ok "the history database passes integrity_check" || fail "the history database is damaged"
db_sum=$(md5sum < /var/lib/infusiond/history.db)
[ "$(md5sum < /etc/infusiond/infusiond.conf)" = "$conf_sum" ] && ok "remove: the config stays" ||
  fail "remove: the config changed or went"
[ "$(stat -c %i /var/lib/infusiond/history.db 2>/dev/null)" = "$db_inode" ] && ok "remove: the database stays" ||
  fail "remove: the database went"

dpkg -P infusiond > /tmp/pkg/purge.log 2>&1 || { cat /tmp/pkg/purge.log; fail "dpkg -P failed"; }
sed 's/^/  | /' /tmp/pkg/purge.log
[ ! -e /etc/infusiond/infusiond.conf ] && ok "purge: the config is gone" || fail "purge left the config"
[ "$(md5sum < /var/lib/infusiond/history.db 2>/dev/null)" = "$db_sum" ] && ok "purge: the database stays, byte for byte" ||
  fail "purge: the database changed or went"
getent passwd infusiond >/dev/null && ok "purge: the account stays (it owns the records)" || fail "purge removed the account"
dpkg-query -W infusiond >/dev/null 2>&1 && fail "infusiond is still known to dpkg after purge"
exit $((failures > 0 ? 1 : 0))
INSIDE

mkdir -p "$work/pkg" "$work/ovl"
cp "$work/this.deb" "$work/next.deb" "$work/inside.sh" "$work/deb-files" "$work/pkg/"
echo "# install, upgrade, remove and purge in a throwaway copy of this system"
unshare --mount --fork bash -euo pipefail -c '
  w=$1
  mount -t tmpfs tmpfs "$w/ovl"
  mkdir "$w/ovl/up" "$w/ovl/work" "$w/ovl/root"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$w/ovl/up,workdir=$w/ovl/work" "$w/ovl/root"
  r=$w/ovl/root
  mount --rbind /dev "$r/dev"
  mount -t proc proc "$r/proc"
  mount --rbind /sys "$r/sys"
  mount -t tmpfs tmpfs "$r/run"
  mount -t tmpfs tmpfs "$r/tmp"
  mkdir "$r/tmp/pkg"
  cp "$w"/pkg/* "$r/tmp/pkg/"
  exec chroot "$r" bash /tmp/pkg/inside.sh
' inside "$work" < /dev/null 2>&1 | tee "$work/inside.log"
rc=${PIPESTATUS[0]}
if ! grep -q "^# in the throwaway root" "$work/inside.log"; then
  fail "could not set up the throwaway root (unshare, overlayfs, chroot: needs root outside an unprivileged container)"
elif [ "$rc" -ne 0 ]; then
  fail "checks failed inside the installed system (above)"
fi

# ---- 4. the boards' packages -----------------------------------------------
for a in arm64 armhf; do
  x=$dist/infusiond_${version}_${a}.deb
  if [ ! -e "$x" ]; then echo "# no $a package in $dist"; continue; fi
  [ "$(dpkg-deb -f "$x" Architecture)" = "$a" ] || fail "$x says Architecture $(dpkg-deb -f "$x" Architecture)"
  files_of "$x" > "$work/$a-files"
  diff -u "$work/deb-files" "$work/$a-files" >/dev/null || fail "$a's files differ from $native's"
  rm -rf "$work/$a" && dpkg-deb -x "$x" "$work/$a"
  want=$([ "$a" = arm64 ] && echo AArch64 || echo ARM)
  for b in usr/sbin/infusiond usr/bin/infusionctl; do
    m=$(readelf -h "$work/$a/$b" 2>/dev/null | sed -n 's/^ *Machine: *//p')
    [ "$m" = "$want" ] || fail "$a: $b is for '$m', not $want"
  done
  deps=$(dpkg-deb -f "$x" Depends)
  for lib in libc6 libsystemd0 libsqlite3-0 libgpiod2 libiio0; do
    grep -q "\b$lib (>=" <<<"$deps" || fail "$a: Depends lacks $lib: $deps"
  done
  ok "$a: $want binaries, the same files, Depends: $deps"
done

if [ "$failures" -eq 0 ]; then echo "PASS"; else echo "FAIL: $failures"; exit 1; fi
