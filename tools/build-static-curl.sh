#!/bin/sh
# tools/build-static-curl.sh [DIR]: a static libcurl with only what
# veo-spooler uses, built from Debian's own source package (apt-get source
# curl, Debian's patches applied), for build/static/veo-spooler.
#
# Result: DIR/curl/include/curl/*.h and DIR/curl/lib/libcurl.a (DIR
# defaults to build/static-deps).  Cached: a second run with the same
# script does nothing, so "make static" and "make test" rebuild it only
# when this file changes.  Link the result with
#   libcurl.a -lnghttp2 -lcares -lssl -lcrypto -lz
# (mk/static.mk does).  Needs the packages of tests/lib/install-deps.sh and
# a deb-src entry in apt's sources, which that script adds.
#
# What is in: HTTP/1.1 and HTTP/2 (nghttp2; Debian ships libnghttp2.a, and
# Debian's libcurl speaks HTTP/2 too), TLS through Debian's static OpenSSL,
# name resolution through c-ares (reads /etc/hosts and /etc/resolv.conf
# itself: glibc's resolver in a static program would need the host's NSS
# modules at run time), the headers API (curl_easy_header: the spooler
# reads ETag, Last-Modified and Content-Length with it to resume), proxy
# support (the spooler sets CURLOPT_PROXY "", which needs it), HTTP
# authentication, and zlib (as in Debian's libcurl; used only for
# compressed responses, which the spooler does not ask for).
# What is out, and why: every protocol but http and https (the spooler
# fetches only those, CURLOPT_PROTOCOLS_STR), and LDAP, RTMP, SSH,
# Kerberos/GSS-API, NTLM, TLS-SRP, IDN, PSL, brotli, zstd, cookies, MIME,
# netrc, DoH, alt-svc, HSTS, unix sockets, the easy-options API and the
# built-in progress meter (the progress callback stays): the spooler uses
# none of them, several need libraries Debian ships only as shared ones,
# and each is code that is not exposed.
# No CA path is compiled in: those of the build machine are wrong on other
# distributions, so the spooler looks the store up at run time
# (src/spooler/cabundle.c).  OpenSSL's configuration file is not loaded:
# the one at Debian's path may be absent or another distribution's, and
# a static program cannot load the modules it might name.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build/static-deps}
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
PREFIX=$OUT/curl
SRC=$OUT/src
JOBS=${JOBS:-2}

# The cache key: this script (its options) and Debian's source version.
key=$(sha256sum "$0" | cut -c1-16)
if [ -f "$PREFIX/lib/libcurl.a" ] && [ -f "$PREFIX/.key" ] &&
    [ "$(sed -n 1p "$PREFIX/.key")" = "$key" ]; then
	echo "static libcurl: cached ($(sed -n 2p "$PREFIX/.key"), $PREFIX)"
	touch "$PREFIX/lib/libcurl.a"	# newer than this script for make
	exit 0
fi

start=$(date +%s)
rm -rf "$SRC" "$PREFIX"
mkdir -p "$SRC"
cd "$SRC"
if ! apt-get source -qq --only-source curl >apt-source.log 2>&1; then
	cat apt-source.log >&2
	echo "build-static-curl: apt-get source curl failed; as root, sh tests/lib/install-deps.sh adds the deb-src entry" >&2
	exit 1
fi
dsc=$(ls curl_*.dsc)
version=${dsc#curl_}
version=${version%.dsc}
cd curl-*/
# Debian builds its OpenSSL flavour without its last two patches (they
# rename the library for the GnuTLS and NSS flavours): undo them the same
# way.  Debian's other patches touch configure.ac only for GSS-API and
# LDAP, which are not built here, so the shipped configure script is used
# and no autotools are needed.
for p in 99_nss 90_gnutls; do
	patch -R -s -p1 <"debian/patches/$p.patch"
done

FLAGS="-O2 -g0 -ffunction-sections -fdata-sections -fstack-protector-strong \
-fstack-clash-protection -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2"
echo "static libcurl: configuring Debian's curl $version" >&2
./configure --prefix="$PREFIX" CFLAGS="$FLAGS" \
	--disable-shared --enable-static --with-pic \
	--disable-dependency-tracking --disable-debug --disable-curldebug \
	--enable-optimize --enable-symbol-hiding --disable-werror \
	--with-openssl --with-nghttp2 --with-zlib --enable-ares \
	--disable-openssl-auto-load-config \
	--without-ca-bundle --without-ca-path --without-ca-fallback \
	--enable-http --disable-ftp --disable-file --disable-ldap --disable-ldaps \
	--disable-rtsp --disable-dict --disable-telnet --disable-tftp \
	--disable-pop3 --disable-imap --disable-smb --disable-smtp \
	--disable-gopher --disable-mqtt --disable-websockets \
	--disable-manual --disable-libcurl-option --disable-ntlm \
	--disable-ntlm-wb --disable-tls-srp --disable-unix-sockets \
	--disable-cookies --disable-mime --disable-netrc --disable-doh \
	--disable-alt-svc --disable-hsts \
	--disable-progress-meter --disable-get-easy-options \
	--without-brotli --without-zstd --without-libpsl --without-libidn2 \
	--without-librtmp --without-libssh2 --without-libssh --without-wolfssh \
	--without-libgsasl --without-gssapi --without-hyper \
	--without-ngtcp2 --without-nghttp3 --without-quiche --without-msh3 \
	--without-zsh-functions-dir --without-fish-functions-dir \
	>configure.log 2>&1 || { tail -n 40 configure.log >&2; exit 1; }
configured=$(date +%s)
echo "static libcurl: compiling ($((configured - start)) s so far)" >&2
make -s -j"$JOBS" -C lib libcurl.la >make.log 2>&1 || { tail -n 40 make.log >&2; exit 1; }
make -s -C lib install-libLTLIBRARIES >>make.log 2>&1
make -s -C include install >>make.log 2>&1
# What the configuration turned out to be, kept beside the library.
sed -n '/Configured to build curl\/libcurl/,$p' configure.log >"$PREFIX/configured.txt"
rm -f "$PREFIX"/lib/*.la
printf '%s\n%s\n' "$key" "Debian curl $version" >"$PREFIX/.key"
end=$(date +%s)
echo "static libcurl: built Debian's curl $version in $((end - start)) s" \
	"(source and configure $((configured - start)) s, compile $((end - configured)) s; $PREFIX)" >&2
