#!/bin/sh
# Installs the Debian packages that building and testing need.  As root it
# runs apt-get; otherwise it prints the exact command and fails.
#
# Packages such as nginx and apache2 start their daemons when installed.
# The tests start their own on loopback ports, so during the install a
# policy-rc.d (exit 101: "action forbidden") keeps new daemons from
# starting; it is removed afterwards.  A system nginx or apache2 that is
# already running is left alone: nothing here stops a service.
set -eu

PKGS="build-essential pkg-config libfcgi-dev libfcgi-bin libyajl-dev
libcurl4-openssl-dev libssl-dev nginx-light apache2 libapache2-mod-fcgid
spawn-fcgi curl openssl valgrind wrk mandoc python3 perl psmisc procps
iproute2 util-linux bsdutils systemd groff-base passwd
clang libclang-rt-dev clang-tidy cppcheck"

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

# invoke-rc.d and deb-systemd-invoke ask /usr/sbin/policy-rc.d before they
# start a service.  One that is already there (containers ship one) is
# kept as it is.
policy=${VEO_POLICY_RC_D:-/usr/sbin/policy-rc.d}	# (tests/deps.t points it elsewhere)
ours=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# Written by veo-callback tests/lib/install-deps.sh for the install only.\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	ours=1
	trap 'rm -f "$policy"' EXIT
	trap 'exit 130' INT TERM
fi
apt-get install -y -qq --no-install-recommends $missing >&2
if [ -n "$ours" ]; then
	rm -f "$policy"
	trap - EXIT
fi
exit 0
