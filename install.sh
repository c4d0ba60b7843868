#!/bin/sh
# Install carpha on FreeBSD. POSIX sh; the layout mirrors where files land:
#   lib/carpha          -> the Python package (pip, into $PYTHON's site-packages)
#   hooks/*             -> $PREFIX/libexec/carpha/       (devd/ifstated entry points)
#   hooks/rc.d/*        -> $PREFIX/etc/rc.d/             (carpha_heartbeat, carpha_boot;
#                          /usr/local in them rewritten to $PREFIX)
#   devd/carpha.conf    -> $PREFIX/etc/devd/carpha.conf
#   examples/*.yaml     -> $PREFIX/etc/carpha.yaml.sample (never over a real config)
#   ifstated/*.sample   -> $PREFIX/etc/ifstated.conf.carpha.sample
#   cron                -> $PREFIX/etc/cron.d/carpha      (drift check every minute)
# Dependencies first: pkg install python311 py311-pip py311-yaml
# Environment: PYTHON (default: newest /usr/local/bin/python3.N), PREFIX
# (/usr/local), DESTDIR (staging root), CARPHA_SKIP_PIP=1 (files only).
set -eu

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${PYTHON:-}" ]; then
	for candidate in /usr/local/bin/python3.13 /usr/local/bin/python3.12 \
	    /usr/local/bin/python3.11 /usr/local/bin/python3.10 /usr/local/bin/python3.9 \
	    /usr/local/bin/python3; do
		if [ -x "$candidate" ]; then PYTHON=$candidate; break; fi
	done
fi
case "${PYTHON:-/}" in /*) ;; *) echo "install.sh: PYTHON must be an absolute path (devd has no PATH)" >&2; exit 64 ;; esac
if [ -z "${PYTHON:-}" ] || [ ! -x "$PYTHON" ]; then
	echo "install.sh: no Python 3 found; pkg install python311 py311-yaml, or set PYTHON" >&2
	exit 69
fi
case "$PYTHON" in /*) ;; *) echo "install.sh: PYTHON must be an absolute path (devd has no PATH)" >&2; exit 64 ;; esac

if [ "${CARPHA_SKIP_PIP:-0}" != 1 ]; then
	"$PYTHON" -m pip install --no-deps ${DESTDIR:+--root "$DESTDIR"} "$here"
fi

libexec=$DESTDIR$PREFIX/libexec/carpha
etc=$DESTDIR$PREFIX/etc
rcd=$etc/rc.d
install -d -m 0755 "$libexec" "$etc/devd" "$etc/cron.d" "$rcd"

# Hooks: absolute interpreter in the #! line (devd's PATH lacks /usr/local).
for hook in "$here"/hooks/*; do
	[ -f "$hook" ] || continue          # hooks/rc.d is installed below
	name=$(basename "$hook")
	tmp=$libexec/.$name.tmp
	if head -n 1 "$hook" | grep -q python; then
		{ echo "#!$PYTHON"; tail -n +2 "$hook"; } > "$tmp"
	else
		cp "$hook" "$tmp"
	fi
	chmod 0555 "$tmp"
	mv -f "$tmp" "$libexec/$name"
done

# rc.d scripts, found by rc(8) through local_startup ($PREFIX/etc/rc.d is the
# default only for PREFIX=/usr/local). They name /usr/local paths; rewrite those.
prefix_sed=$(printf '%s\n' "$PREFIX" | sed 's/[\\|&]/\\&/g')
for script in "$here"/hooks/rc.d/*; do
	[ -f "$script" ] || continue
	name=$(basename "$script")
	tmp=$rcd/.$name.tmp
	if [ "$PREFIX" = /usr/local ]; then
		cp "$script" "$tmp"
	else
		sed "s|/usr/local|$prefix_sed|g" "$script" > "$tmp"
	fi
	chmod 0555 "$tmp"
	mv -f "$tmp" "$rcd/$name"
done

install -m 0444 "$here/devd/carpha.conf" "$etc/devd/carpha.conf"
install -m 0444 "$here/ifstated/ifstated.conf.sample" "$etc/ifstated.conf.carpha.sample"
install -m 0444 "$here/examples/three-servers.yaml" "$etc/carpha.yaml.sample"

# cron(8) on FreeBSD reads system crontabs (with a user field, like
# /etc/crontab) from /etc/cron.d and /usr/local/etc/cron.d.
cron=$etc/cron.d/carpha
{
	echo "# carpha: check every minute that this node's reality matches its CARP role"
	echo "SHELL=/bin/sh"
	echo "PATH=/sbin:/bin:/usr/sbin:/usr/bin:$PREFIX/sbin:$PREFIX/bin"
	echo "*	*	*	*	*	root	$PREFIX/bin/carpha reconcile >/dev/null"
} > "$cron.tmp"
chmod 0444 "$cron.tmp"
mv -f "$cron.tmp" "$cron"

echo "installed carpha under $DESTDIR$PREFIX"
if [ ! -e "$DESTDIR$PREFIX/etc/carpha.yaml" ]; then
	echo "next: cp $PREFIX/etc/carpha.yaml.sample $PREFIX/etc/carpha.yaml (root-owned, mode 0600),"
	echo "      edit it, run 'carpha config check', then 'service devd restart';"
	echo "      sysrc carpha_heartbeat_enable=YES carpha_boot_enable=YES"
	echo "      service carpha_heartbeat start"
else
	echo "next: sysrc carpha_heartbeat_enable=YES carpha_boot_enable=YES (once),"
	echo "      service carpha_heartbeat restart"
fi
