#!/bin/sh
# The real-kernel lab's Debian packages (lib/carpha/lab/netns.py PACKAGES):
# installed with apt-get when missing and run as root; otherwise says what
# is missing (the lab then skips with the reason). Run by `make lab`.
set -eu
missing=
for pair in ip:iproute2 bridge:iproute2 ucarp:ucarp ping:iputils-ping keepalived:keepalived; do
	tool=${pair%%:*}
	package=${pair#*:}
	if ! PATH=/usr/sbin:/sbin:/usr/bin:/bin command -v "$tool" >/dev/null 2>&1; then
		case " $missing " in *" $package "*) ;; *) missing="$missing $package" ;; esac
	fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "lab: installing$missing"
	# shellcheck disable=SC2086
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; } >/dev/null ||
		echo "lab: could not install$missing; the lab skips what needs them" >&2
else
	echo "lab: missing$missing (not root or no apt-get); the lab skips what needs them" >&2
fi
