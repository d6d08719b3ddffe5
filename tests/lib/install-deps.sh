#!/bin/sh
# Installs the Debian packages that building and testing need.  As root it
# runs apt-get; otherwise it prints the exact command and fails.
#
# Packages such as nginx and apache2 start their daemons when installed.
# The tests start their own on loopback ports, so during the install a
# policy-rc.d (exit 101: "action forbidden") keeps new daemons from
# starting; it is removed afterwards.  A system nginx or apache2 that is
# already running is left alone: nothing here stops a service
# (tests/deps.t).
set -eu

PKGS="build-essential pkg-config libfcgi-dev libfcgi-bin libyajl-dev
libcurl4-openssl-dev libssl-dev nginx-light apache2 libapache2-mod-fcgid
spawn-fcgi curl openssl valgrind wrk mandoc python3 perl psmisc procps
iproute2 util-linux bsdutils systemd groff-base passwd strace
clang libclang-rt-dev clang-tidy cppcheck
dpkg-dev xz-utils libc-ares-dev libnghttp2-dev zlib1g-dev
aria2 python3-flask python3-requests"
# (clang with libclang-rt-dev: the libFuzzer targets, tests/fuzz.t; clang,
# clang-tidy and cppcheck: make analyze, tests/analyze.t; passwd: useradd
# for tests/privsep.t; strace: tests/cgi.t proves that an identical repeat
# makes no fsync and takes no lock, tests/growth.t counts what a sweep
# opens.  The line before last: the static build, mk/static.mk:
# apt-get source curl, c-ares, nghttp2 and zlib as static libraries for
# tools/build-static-curl.sh.  The last line: make bench, aria2c for
# bench/download.sh, Flask and requests for the sample receiver of
# bench/delivery.sh)

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done

# The static spooler's libcurl is built from Debian's source package
# (tools/build-static-curl.sh), so apt needs deb-src entries: the same
# Debian mirrors and suites as the deb entries, in a file of our own.
SRC_LIST=/etc/apt/sources.list.d/veo-callback-deb-src.sources
have_curl_source() { apt-cache showsrc curl 2>/dev/null | grep -q '^Package: curl$'; }
# deb-src stanzas (deb822) for every enabled Debian "deb" entry in the
# given one-line or deb822 files; third-party repositories are left out.
debian_src_stanzas() {
	for f in "$@"; do
		[ -f "$f" ] || continue
		case $f in
		*.sources) awk 'BEGIN { RS = ""; ORS = "\n\n" }
			{
				types = uris = suites = comps = keys = ""; off = 0
				n = split($0, l, "\n")
				for (i = 1; i <= n; i++) {
					if (l[i] ~ /^#/) continue
					k = tolower(l[i]); sub(/:.*/, "", k)
					v = l[i]; sub(/^[^:]*:[ \t]*/, "", v)
					if (k == "types") types = v
					else if (k == "uris") uris = v
					else if (k == "suites") suites = v
					else if (k == "components") comps = v
					else if (k == "signed-by") keys = v
					else if (k == "enabled" && tolower(v) == "no") off = 1
				}
				if (off || (" " types " ") !~ / deb / || uris !~ /\/debian(-security)?\/?( |$)/) next
				printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n", uris, suites, comps
				if (keys != "") printf "Signed-By: %s\n", keys
				printf "\n"
			}' "$f" ;;
		*.list) awk '$1 == "deb" {
				i = 2; opts = ""
				if ($2 ~ /^\[/) { while ($i !~ /\]$/) { opts = opts " " $i; i++ } opts = opts " " $i; i++ }
				if ($i !~ /\/debian(-security)?\/?$/) next
				uri = $i; suite = $(i + 1); comps = ""
				for (j = i + 2; j <= NF && $j !~ /^#/; j++) comps = comps " " $j
				printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents:%s\n", uri, suite, comps
				if (match(opts, /signed-by=[^] ]*/))
					printf "Signed-By: %s\n", substr(opts, RSTART + 10, RLENGTH - 10)
				printf "\n"
			}' "$f" ;;
		esac
	done
}
need_src=""
have_curl_source || need_src=yes

[ -z "$missing" ] && [ -z "$need_src" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
	[ -n "$need_src" ] &&
		echo "apt has no deb-src entry for Debian: add one (as root: sh $0 does)" >&2
	[ -n "$missing" ] && echo "missing packages; run as root: apt-get update && $cmd" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ -n "$need_src" ] && [ ! -f "$SRC_LIST" ]; then
	debian_src_stanzas /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources >"$SRC_LIST.tmp"
	if [ -s "$SRC_LIST.tmp" ]; then
		mv "$SRC_LIST.tmp" "$SRC_LIST"
		echo "added deb-src entries: $SRC_LIST" >&2
	else
		rm -f "$SRC_LIST.tmp"
		echo "no Debian deb entry found in apt's sources to derive deb-src from" >&2
	fi
fi
apt-get update -qq >&2
if [ -z "$missing" ]; then
	have_curl_source || { echo "apt-get source curl: no source package found" >&2; exit 1; }
	exit 0
fi
echo "installing:$missing" >&2
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
