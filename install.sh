#!/bin/sh
# install.sh: install, upgrade or remove carpha on FreeBSD. POSIX sh.
#
# usage: install.sh [--prefix DIR] [--python PATH] [--dry-run] [--restart-devd]
#        install.sh --uninstall [--purge] [--prefix DIR] [--dry-run]
#
# Where files land (PREFIX defaults to /usr/local; DESTDIR, if set, is a
# staging root put in front of every path, and nothing outside it is touched):
#   lib/carpha                -> PREFIX/lib/pythonX.Y/site-packages/carpha (+ __pycache__)
#   (generated)               -> PREFIX/bin/carpha, PREFIX/bin/carpha-garp
#   hooks/*                   -> PREFIX/libexec/carpha/
#   hooks/rc.d/*              -> PREFIX/etc/rc.d/
#   devd/carpha.conf          -> PREFIX/etc/devd/carpha.conf
#   ifstated/*.sample         -> PREFIX/etc/ifstated.conf.carpha.sample
#   examples/three-servers.yaml -> PREFIX/etc/carpha.yaml.sample (never over carpha.yaml)
#   (generated)               -> PREFIX/etc/cron.d/carpha
#   man/*.[58]                -> PREFIX/share/man/man[58]/*.gz
#   (generated)               -> PREFIX/share/carpha/manifest (what was installed, with cksums)
# Every path inside these files is written from PREFIX. No pip: the package
# is copied, so staging never uninstalls a running copy, and the scripts
# name their library directory, so it works whatever PREFIX is.
#
# Files edited since they were installed are never overwritten silently:
# under PREFIX/etc the edited file is kept and the new one written next to
# it as NAME.carpha-new; elsewhere the edited one is saved as
# NAME.carpha-old. --uninstall removes what the manifest lists, keeps
# edited files, carpha.yaml and /var/db/carpha unless --purge.
#
# Exit: 0 done; 64 bad usage; 69 no usable Python or PyYAML; 73 cannot write.
# Dependencies: pkg install python311 py311-yaml
set -eu

me=install.sh
usage() {
	cat <<'EOF'
usage: install.sh [--prefix DIR] [--python PATH] [--dry-run] [--restart-devd]
       install.sh --uninstall [--purge] [--prefix DIR] [--dry-run]
  --prefix DIR     installation prefix (default /usr/local, or $PREFIX)
  --python PATH    absolute path of the Python 3.9+ that runs carpha
                   (default: $PYTHON, else the newest /usr/local/bin/python3.N)
  -n, --dry-run    say what would change, change nothing
  --restart-devd   run `service devd restart` afterwards to load the devd rule
  --uninstall      remove what a previous install put in place
  --purge          with --uninstall: also remove carpha.yaml and /var/db/carpha
Environment: DESTDIR (staging root: nothing outside it is touched), PREFIX, PYTHON.
EOF
}
die() { code=$1; shift; echo "$me: $*" >&2; exit "$code"; }

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
PYTHON=${PYTHON:-}
mode=install dry_run=0 purge=0 restart_devd=0
while [ $# -gt 0 ]; do
	case $1 in
	--prefix) [ $# -ge 2 ] || die 64 "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
	--prefix=*) PREFIX=${1#*=}; shift ;;
	--python) [ $# -ge 2 ] || die 64 "--python needs a path"; PYTHON=$2; shift 2 ;;
	--python=*) PYTHON=${1#*=}; shift ;;
	-n|--dry-run) dry_run=1; shift ;;
	--restart-devd) restart_devd=1; shift ;;
	--uninstall) mode=uninstall; shift ;;
	--purge) purge=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; die 64 "unknown argument: $1" ;;
	esac
done

# PREFIX goes into sed expressions, #! lines and Python string literals.
case $PREFIX in
/*) ;;
*) die 64 "--prefix must be an absolute path, not $PREFIX" ;;
esac
case $PREFIX in
*[!A-Za-z0-9_./-]*) die 64 "--prefix may contain only letters, digits and _ . / -" ;;
esac
PREFIX=$(printf '%s\n' "$PREFIX" | sed 's|/*$||')
[ -n "$PREFIX" ] || die 64 "--prefix / is not supported"
case $DESTDIR in
''|/*) ;;
*) die 64 "DESTDIR must be an absolute path, not $DESTDIR" ;;
esac
[ "$purge" = 0 ] || [ "$mode" = uninstall ] || die 64 "--purge goes with --uninstall"
if [ "$restart_devd" = 1 ] && [ -n "$DESTDIR" ]; then
	die 64 "--restart-devd with DESTDIR: a staged install must not touch the running devd"
fi

here=$(cd "$(dirname "$0")" && pwd)
root=$DESTDIR$PREFIX
manifest_rel=share/carpha/manifest
manifest=$root/$manifest_rel

say() { echo "$*"; }
warn() { echo "$me: warning: $*" >&2; }
warnings=0

# --- Python -----------------------------------------------------------------------

find_python() {
	if [ -z "$PYTHON" ]; then
		for candidate in /usr/local/bin/python3.13 /usr/local/bin/python3.12 \
		    /usr/local/bin/python3.11 /usr/local/bin/python3.10 /usr/local/bin/python3.9 \
		    /usr/local/bin/python3; do
			if [ -x "$candidate" ]; then PYTHON=$candidate; break; fi
		done
	fi
	[ -n "$PYTHON" ] || die 69 "no Python 3 found; pkg install python311 py311-yaml, or pass --python"
	case $PYTHON in
	/*) ;;
	*) die 64 "PYTHON must be an absolute path (devd and cron have no /usr/local on PATH): $PYTHON" ;;
	esac
	case $PYTHON in
	*[!A-Za-z0-9_./+-]*) die 64 "the Python path may contain only letters, digits and _ . / + -" ;;
	esac
	[ -x "$PYTHON" ] || die 69 "$PYTHON is not an executable"
	"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null ||
		die 69 "$PYTHON is not Python 3.9 or later"
	pyver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
	if ! "$PYTHON" -c 'import yaml' 2>/dev/null; then
		suffix=$(echo "$pyver" | tr -d .)
		if [ -n "$DESTDIR" ]; then
			# A port's staging host need not have its RUN_DEPENDS.
			warn "$PYTHON cannot import yaml (PyYAML): carpha will not run until py$suffix-yaml is installed"
		else
			die 69 "$PYTHON cannot import yaml (PyYAML): pkg install py$suffix-yaml"
		fi
	fi
	sitelib_rel=lib/python$pyver/site-packages
}

# --- the payload: every file as it will be installed, under $payload ----------------

# /usr/local, as the sources spell it, rewritten to PREFIX.
prefixed() { sed "s|/usr/local|$PREFIX|g" "$1"; }

python_wrapper() {
	# $1 module, $2 the call; a #! with an absolute interpreter (devd's PATH
	# lacks /usr/local) and the library directory first on sys.path, so the
	# scripts work whatever PREFIX is and never pick up another copy.
	cat <<EOF
#!$PYTHON
# carpha, installed by install.sh under $PREFIX.
import os
import sys

sys.path.insert(0, "$PREFIX/$sitelib_rel")
os.environ.setdefault("CARPHA_CONFIG", "$PREFIX/etc/carpha.yaml")
from $1 import main  # noqa: E402

sys.exit($2)
EOF
}

build_payload() {
	payload=$work/payload
	mkdir -p "$payload/bin" "$payload/libexec/carpha" "$payload/etc/rc.d" "$payload/etc/devd" \
	    "$payload/etc/cron.d" "$payload/share/man/man5" "$payload/share/man/man8" "$payload/share/carpha" \
	    "$payload/$sitelib_rel"

	python_wrapper carpha.cli.main 'main()' > "$payload/bin/carpha"
	python_wrapper carpha.host.garp 'main()' > "$payload/bin/carpha-garp"

	for hook in "$here"/hooks/*; do
		[ -f "$hook" ] || continue
		name=${hook##*/}
		if head -n 1 "$hook" | grep -q python; then
			# The hook's own call: its last line, e.g. sys.exit(main([...])).
			module=$(sed -n 's/^from \(carpha\.[a-z_.]*\) import main$/\1/p' "$hook")
			call=$(sed -n 's/^sys\.exit(\(.*\))$/\1/p' "$hook")
			if [ -z "$module" ] || [ -z "$call" ]; then
				die 70 "hooks/$name: cannot find its import and sys.exit lines"
			fi
			python_wrapper "$module" "$call" > "$payload/libexec/carpha/$name"
		else
			prefixed "$hook" > "$payload/libexec/carpha/$name"
		fi
	done
	for script in "$here"/hooks/rc.d/*; do
		[ -f "$script" ] && prefixed "$script" > "$payload/etc/rc.d/${script##*/}"
	done
	prefixed "$here/devd/carpha.conf" > "$payload/etc/devd/carpha.conf"
	prefixed "$here/ifstated/ifstated.conf.sample" > "$payload/etc/ifstated.conf.carpha.sample"
	prefixed "$here/examples/three-servers.yaml" > "$payload/etc/carpha.yaml.sample"

	# cron(8) reads system crontabs (with a user field) from /etc/cron.d and
	# /usr/local/etc/cron.d (usr.sbin/cron/cron/pathnames.h: SYSCRONTABS,
	# LOCALSYSCRONTABS). `check --repair` logs its findings and repairs to
	# syslog itself; errors go to syslog through logger(1), not to root's
	# mailbox once a minute; standard output (the plugin report) is dropped.
	cat > "$payload/etc/cron.d/carpha" <<EOF
# carpha: every minute, check this node and make its reality match its CARP role.
# Installed by install.sh; findings are logged by carpha, errors as daemon.err, tag carpha.
SHELL=/bin/sh
PATH=/sbin:/bin:/usr/sbin:/usr/bin:$PREFIX/sbin:$PREFIX/bin
*	*	*	*	*	root	$PREFIX/bin/carpha check --repair 2>&1 >/dev/null | /usr/bin/logger -t carpha -p daemon.err
EOF

	for page in "$here"/man/*.[58]; do
		[ -f "$page" ] || continue
		name=${page##*/}
		# -n: no name or time stamp, so the same page gives the same bytes.
		gzip -9 -n -c "$page" > "$payload/share/man/man${name##*.}/$name.gz"
	done

	# The package, byte-compiled for $PYTHON with checked-hash .pyc files
	# (PEP 552): their bytes depend only on the source, so a re-install
	# changes nothing, and -d names the installed path in tracebacks.
	(cd "$here/lib" && find carpha -name '*.py' ! -path '*/__pycache__/*') | sort > "$work/modules"
	while read -r module; do
		mkdir -p "$payload/$sitelib_rel/${module%/*}"
		cp "$here/lib/$module" "$payload/$sitelib_rel/$module"
	done < "$work/modules"
	"$PYTHON" -m compileall -q --invalidation-mode checked-hash -d "$PREFIX/$sitelib_rel/carpha" \
	    "$payload/$sitelib_rel/carpha" >/dev/null || die 70 "$PYTHON could not compile the package"
}

mode_of() {
	case $1 in
	bin/*|libexec/*|etc/rc.d/*) echo 0555 ;;
	*) echo 0444 ;;
	esac
}

# --- installing ----------------------------------------------------------------------

# The cksum recorded for a path in the previous manifest, if any.
recorded_sum() {
	[ -f "$manifest" ] || return 0
	awk -v path="$1" '$3 == path { print $1 " " $2; exit }' "$manifest"
}
sum_of() { cksum < "$1" | awk '{ print $1 " " $2 }'; }

put() {
	# put SRC DST MODE: write atomically (a temporary file, then mv).
	if [ "$dry_run" = 1 ]; then return 0; fi
	# mkdir, not install -d: that would also chmod existing system directories.
	(umask 022 && mkdir -p "${2%/*}") || die 73 "cannot create ${2%/*}"
	if ! { cp "$1" "$2.carpha-tmp" && chmod "$3" "$2.carpha-tmp" && mv -f "$2.carpha-tmp" "$2"; }; then
		die 73 "cannot write $2"
	fi
}

count_new=0 count_updated=0 count_same=0 count_kept=0

install_one() {
	rel=$1
	src=$payload/$rel
	dst=$root/$rel
	perm=$(mode_of "$rel")
	if [ -f "$dst" ] && cmp -s "$src" "$dst"; then
		count_same=$((count_same + 1))
		[ "$dry_run" = 1 ] || chmod "$perm" "$dst"
		return 0
	fi
	if [ ! -e "$dst" ]; then
		# One line per file, except the package's modules (counted below).
		case $rel in "$sitelib_rel"/*) [ "$dry_run" = 1 ] && say "${verb}install $dst" ;; *) say "${verb}install $dst" ;; esac
		put "$src" "$dst" "$perm"
		count_new=$((count_new + 1))
		return 0
	fi
	if [ "$(recorded_sum "$rel")" = "$(sum_of "$dst")" ]; then
		say "${verb}update $dst"
		put "$src" "$dst" "$perm"
		count_updated=$((count_updated + 1))
		return 0
	fi
	warnings=$((warnings + 1))
	case $rel in
	etc/*)
		warn "$dst was edited (or not installed by this script): kept; this version is in $dst.carpha-new"
		put "$src" "$dst.carpha-new" "$perm"
		count_kept=$((count_kept + 1))
		;;
	*)
		warn "$dst was edited (or not installed by this script): replaced; the old one is $dst.carpha-old"
		if [ "$dry_run" = 0 ]; then cp -p "$dst" "$dst.carpha-old" || die 73 "cannot write $dst.carpha-old"; fi
		put "$src" "$dst" "$perm"
		count_updated=$((count_updated + 1))
		;;
	esac
}

do_install() {
	find_python
	build_payload
	(cd "$payload" && find . -type f | sed 's|^\./||' | sort) > "$work/files"
	if [ -n "$DESTDIR" ]; then
		say "staging carpha under $DESTDIR (for $PREFIX); nothing outside it is touched"
	fi
	for old in "$root/$sitelib_rel"/carpha-*.dist-info "$root/$sitelib_rel"/carpha-*.egg-info; do
		[ -e "$old" ] || continue
		warn "$old: a pip-installed carpha is also there; remove it with: $PYTHON -m pip uninstall carpha"
		warnings=$((warnings + 1))
	done

	while read -r rel; do install_one "$rel"; done < "$work/files"

	# Modules dropped since the last install (only those it recorded and
	# nobody edited) go too, or they would linger as importable stale code.
	if [ -f "$manifest" ]; then
		awk '{ print $3 }' "$manifest" | sort > "$work/previous"
		comm -23 "$work/previous" "$work/files" | while read -r rel; do
			[ -f "$root/$rel" ] || continue
			if [ "$(recorded_sum "$rel")" = "$(sum_of "$root/$rel")" ]; then
				say "${verb}remove $root/$rel (no longer part of carpha)"
				[ "$dry_run" = 1 ] || rm -f "$root/$rel"
			fi
		done
	fi

	# The manifest: cksum and path of every file this version installs.
	while read -r rel; do
		printf '%s %s\n' "$(sum_of "$payload/$rel")" "$rel"
	done < "$work/files" > "$work/manifest"
	if ! { [ -f "$manifest" ] && cmp -s "$work/manifest" "$manifest"; }; then
		put "$work/manifest" "$manifest" 0444
	fi

	total=$((count_new + count_updated + count_same + count_kept))
	say "carpha: ${verb}installed under $root: $total files ($count_new new, $count_updated updated," \
	    "$count_same unchanged, $count_kept kept as edited)"
	next_steps
}

next_steps() {
	if [ "$PREFIX" != /usr/local ]; then
		# devd reads /etc/devd and /usr/local/etc/devd (the options block of
		# /etc/devd.conf), cron /etc/cron.d and /usr/local/etc/cron.d, rc(8)
		# the directories in local_startup.
		warn "PREFIX is $PREFIX: devd, cron and rc(8) do not look there by themselves:"
		warn "  add  directory \"$PREFIX/etc/devd\";  to the options block of /etc/devd.conf"
		warn "  copy $PREFIX/etc/cron.d/carpha to /etc/cron.d/carpha"
		warn "  add $PREFIX/etc/rc.d to local_startup in /etc/rc.conf"
		warnings=$((warnings + 1))
	fi
	[ "$dry_run" = 0 ] || return 0
	if [ "$restart_devd" = 1 ]; then
		say "service devd restart"
		service devd restart || die 69 "service devd restart failed"
	elif [ -z "$DESTDIR" ]; then
		say "load the devd rule with: service devd restart"
	fi
	[ -z "$DESTDIR" ] || return 0
	if [ ! -e "$PREFIX/etc/carpha.yaml" ]; then
		say "next: cp $PREFIX/etc/carpha.yaml.sample $PREFIX/etc/carpha.yaml; chmod 0600 $PREFIX/etc/carpha.yaml"
		say "      edit it, then: carpha config check && carpha simulate -c $PREFIX/etc/carpha.yaml"
		say "      sysrc carpha_heartbeat_enable=YES carpha_boot_enable=YES"
		say "      service carpha_heartbeat start; service devd restart"
	else
		say "next: carpha config check && service carpha_heartbeat restart"
	fi
}

# --- uninstalling -------------------------------------------------------------------

remove_file() {
	say "${verb}remove $1"
	[ "$dry_run" = 1 ] || rm -f "$1"
}

do_uninstall() {
	if [ ! -f "$manifest" ]; then
		die 69 "$manifest not found: nothing installed by install.sh under $root"
	fi
	removed=0
	while read -r crc size rel; do
		dst=$root/$rel
		[ -f "$dst.carpha-new" ] && remove_file "$dst.carpha-new"
		[ -f "$dst" ] || continue
		if [ "$(sum_of "$dst")" = "$crc $size" ] || [ "$purge" = 1 ]; then
			remove_file "$dst"
			removed=$((removed + 1))
		else
			warn "$dst was edited since it was installed: kept (--purge removes it)"
			warnings=$((warnings + 1))
		fi
	done < "$manifest"
	remove_file "$manifest"
	if [ "$purge" = 1 ]; then
		for path in "$root/etc/carpha.yaml" "$DESTDIR/var/db/carpha" "$DESTDIR/var/run/carpha"; do
			[ -e "$path" ] || continue
			say "${verb}remove $path"
			[ "$dry_run" = 1 ] || rm -rf "$path"
		done
	else
		for path in "$root/etc/carpha.yaml" "$DESTDIR/var/db/carpha"; do
			[ -e "$path" ] && say "kept $path (--purge removes it)"
		done
	fi
	if [ "$dry_run" = 0 ]; then
		# Directories only carpha uses, deepest first, if empty.
		for dir in "$root"/lib/python*/site-packages/carpha; do
			[ -d "$dir" ] || continue
			find "$dir" -depth -type d -name __pycache__ -exec rmdir {} \; 2>/dev/null || :
			find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null || :
		done
		rmdir "$root/libexec/carpha" "$root/share/carpha" 2>/dev/null || :
	fi
	say "carpha: ${verb}removed $removed files from $root"
	if [ -z "$DESTDIR" ] && [ "$dry_run" = 0 ]; then
		say "the devd rule is gone; run: service devd restart"
	fi
}

verb=
[ "$dry_run" = 0 ] || verb="would "
work=$(mktemp -d "${TMPDIR:-/tmp}/carpha-install.XXXXXX") || die 73 "cannot create a temporary directory"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

if [ "$mode" = install ]; then do_install; else do_uninstall; fi
exit 0
