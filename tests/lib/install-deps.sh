#!/bin/sh
# Installs the Debian packages that building and testing need.  As root it
# runs apt-get; otherwise it prints the exact command and fails.
set -eu

PKGS="build-essential pkg-config libfcgi-dev libfcgi-bin libyajl-dev
libcurl4-openssl-dev libssl-dev nginx-light apache2 libapache2-mod-fcgid
spawn-fcgi curl openssl valgrind wrk mandoc python3 perl psmisc procps
iproute2 util-linux bsdutils systemd groff-base"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
	echo "missing packages; run as root: apt-get update && $cmd" >&2
	exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# The nginx and apache2 packages start their daemons on install; the tests
# start their own on loopback ports, so stop the system ones if they came up.
apt-get install -y -qq --no-install-recommends $missing >&2
for svc in nginx apache2; do
	command -v service >/dev/null 2>&1 && service "$svc" stop >/dev/null 2>&1 || true
done
exit 0
