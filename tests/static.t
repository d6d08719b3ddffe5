#!/bin/bash
# The static programs of make static (issue 12), as a shared host gets them:
#   - no shared library, no interpreter, stripped, no glibc NSS code;
#   - each run inside an empty root (a mount namespace and chroot holding
#     only the program, /dev/null, the spool and, for the spooler, a CA
#     file, /etc/hosts and the download directory): the responder stores
#     callbacks given as CGI and serves FastCGI behind nginx; the spooler
#     downloads over https from nginx with a test CA, the host name coming
#     from the hosts file, the CA found at the Debian, RHEL and Alpine paths
#     or through ca_file;
#   - the responder behind Apache's CGI with the shipped .htaccess;
#   - make dist packs both with the man pages, examples and README.
# This test always uses build/static; BINDIR_UNDER_TEST runs the rest of
# the suite against them.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/deploy.sh"
export LC_ALL=C

S=$ROOT/build/static
[ -x "$S/veo-callback" ] && [ -x "$S/veo-spooler" ] || skip_all "build/static not built (make static)"
[ "$(id -u)" = 0 ] || skip_all "needs root (mount namespace, chroot)"
unshare --mount true 2>/dev/null || skip_all "unshare --mount is not allowed here"
command -v readelf >/dev/null || skip_all "readelf (binutils) not installed"

# ---- what the files are ----
for p in veo-callback veo-spooler; do
	b=$S/$p
	like "$(ldd "$b" 2>&1)" 'not a dynamic executable|statically linked' "$p: ldd finds no shared library"
	is "$(readelf -d "$b" 2>/dev/null | grep -c NEEDED)" 0 "$p: no DT_NEEDED entry"
	is "$(readelf -l "$b" 2>/dev/null | grep -c INTERP)" 0 "$p: no program interpreter"
	is "$(readelf -S "$b" 2>/dev/null | grep -c '\.symtab')" 0 "$p: stripped"
	is "$(grep -c 'libnss_' "$b")" 0 "$p: no glibc NSS module loader inside"
	like "$("$b" --version 2>&1)" "^$p [0-9]" "$p --version runs"
done
# c-ares reads nsswitch.conf itself (the "hosts:" order); the responder has no resolver.
is "$(grep -c 'nsswitch' "$S/veo-callback")" 0 "veo-callback: no name resolution code at all"

# in_root ROOT [VAR=value ...] -- PROGRAM [ARGS]: PROGRAM with only the
# given environment, in a private mount namespace, chrooted into ROOT, with
# the host's /dev/null and $SPOOL_DIR_HOST bound onto ROOT/dev/null and
# ROOT/spool.  With _exec=exec, the shell running it becomes PROGRAM
# (for "_exec=exec in_root ... &", so that $! is PROGRAM's pid).
_exec=""
in_root() {
	_r=$1; shift
	_env=()
	while [ "$1" != -- ]; do _env+=("$1"); shift; done
	shift
	$_exec env -i "${_env[@]}" /usr/bin/unshare --mount -- /bin/sh -c '
		r=$1 spool=$2; shift 2
		/usr/bin/mount --bind /dev/null "$r/dev/null" &&
		/usr/bin/mount --bind "$spool" "$r/spool" && exec /usr/sbin/chroot "$r" "$@"' \
		sh "$_r" "$SPOOL_DIR_HOST" "$@"
}
make_root() {	# make_root DIR PROGRAM: an empty root holding PROGRAM
	mkdir -p "$1/dev" "$1/spool" && : >"$1/dev/null" && cp "$S/$2" "$1/$2"
}
# Files in ROOT other than the program and the mount points.
root_extra() { (cd "$1" && find . -mindepth 1 ! -path ./dev ! -path ./dev/null ! -path ./spool ! -path "./$2" | sort); }

SPOOL_DIR_HOST=$T/spool
mkdir -p "$T/spool"
RR=$T/root-responder
make_root "$RR" veo-callback
TOKEN=static-token-$$

# root_cgi BODY [VAR=value ...]: the static responder as CGI in its empty root.
root_cgi() {
	_body=$1; shift
	printf '%s' "$_body" | in_root "$RR" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=POST \
		CONTENT_TYPE=application/json CONTENT_LENGTH=${#_body} REMOTE_ADDR=127.0.0.1 \
		VEO_CONFIG=/dev/null VEO_SPOOL_DIR=/spool VEO_TOKEN="$TOKEN" VEO_MIN_FREE=0 "$@" \
		-- /veo-callback 2>>"$T/root-cgi.log"
}

# ---- the responder, CGI, in an empty root ----
r=$(root_cgi "$(sample_body static_cgi)" QUERY_STRING="token=$TOKEN")
is "$(printf '%s' "$r" | cgi_status)" 200 "empty root, CGI: a valid callback is answered 200"
is "$(printf '%s' "$r" | reply_body)" '{"code":200,"msg":"success"}' "with the success body"
is "$(entry_body "$T/spool/new/static_cgi" 2>/dev/null)" "$(sample_body static_cgi)" \
	"the callback is stored in the spool, byte for byte"
r=$(root_cgi "$(sample_body static_bad)" QUERY_STRING="token=wrong")
is "$(printf '%s' "$r" | cgi_status)" 401 "empty root, CGI: a wrong token is answered 401"
ok "$([ ! -e "$T/spool/new/static_bad" ]; echo $?)" "and nothing is stored"
ts=$(date +%s)
r=$(root_cgi "$(sample_body static_hmac)" VEO_TOKEN= VEO_HMAC_KEY=k-$$ \
	HTTP_X_WEBHOOK_TIMESTAMP="$ts" HTTP_X_WEBHOOK_SIGNATURE="$(hmac_sign "k-$$" static_hmac "$ts")")
is "$(printf '%s' "$r" | cgi_status)" 200 "empty root, CGI: an HMAC-signed callback is verified (OpenSSL inside)"
r=$(root_cgi '{"code":200' QUERY_STRING="token=$TOKEN")
is "$(printf '%s' "$r" | cgi_status)" 400 "empty root, CGI: invalid JSON is answered 400 (yajl inside)"
is "$(root_extra "$RR" veo-callback)" "" "the responder left nothing in its root outside the spool"

# ---- the responder, FastCGI behind nginx, in an empty root ----
# --listen localhost:PORT goes through libfcgi's gethostbyname (replaced).
FP=$(free_port)
_exec=exec in_root "$RR" VEO_CONFIG=/dev/null VEO_SPOOL_DIR=/spool VEO_TOKEN="$TOKEN" VEO_MIN_FREE=0 \
	-- /veo-callback --listen "localhost:$FP" 2>>"$T/root-fcgi.log" &
_pids="$_pids $!"
wait_for_port "$FP"
ok $? "empty root: the responder listens for FastCGI on localhost:$FP"
NP=$(free_port)
start_nginx_server "$NP" "
		listen 127.0.0.1:$NP;
		location /callback {
			include /etc/nginx/fastcgi_params;
			fastcgi_pass 127.0.0.1:$FP;
		}"
ok $? "(setup) nginx in front of it"
dpost "http://127.0.0.1:$NP/callback?token=$TOKEN" "$(sample_body static_fcgi)"
is "$ST" 200 "empty root, FastCGI through nginx: a valid callback is answered 200"
is "$(entry_body "$T/spool/new/static_fcgi" 2>/dev/null)" "$(sample_body static_fcgi)" "and stored"
dpost "http://127.0.0.1:$NP/callback" "$(sample_body static_fcgi_noauth)"
is "$ST" 401 "empty root, FastCGI: no token, 401"
dreq "http://127.0.0.1:$NP/callback?health=1"
is "$ST" 200 "empty root, FastCGI: the health check answers"
like "$BODY" '"spool":"writable"' "and finds the spool writable"
for i in 1 2 3 4 5; do
	dpost "http://127.0.0.1:$NP/callback?token=$TOKEN" "$(sample_body "static_fcgi_$i")"
	[ "$ST" = 200 ] || break
done
is "$ST" 200 "empty root, FastCGI: one process serves request after request"

# ---- the spooler, https with a test CA, in an empty root ----
make_test_ca "$T/ca" "DNS:cdn.veo.test"
ok $? "(setup) a test CA and a certificate for cdn.veo.test"
mkdir -p "$T/www/v" "$T/www/slow"
make_video "$T/www/slow/r.mp4" 3000000
for n in 1 2 3 4 5 6; do make_video "$T/www/v/$n.mp4" $((100000 + n)); done
TP=$(free_port)
run_nginx tls "$TP" 1 "
	log_format proto '\$server_protocol \$request_uri \$status';
	access_log $T/tls.access proto;
	types { video/mp4 mp4; }" "
		listen 127.0.0.1:$TP ssl http2;
		ssl_certificate $T/ca/server.pem;
		ssl_certificate_key $T/ca/server.key;
		root $T/www;
		location /slow/ { limit_rate 1m; }"
ok $? "(setup) nginx on https://cdn.veo.test:$TP (127.0.0.1), HTTP/2, with the test CA"

# A spool of its own: the callbacks above name a CDN that is not there.
SPOOL_DIR_HOST=$T/spool2
mkdir -p "$SPOOL_DIR_HOST"
RS=$T/root-spooler
make_root "$RS" veo-spooler
mkdir -p "$RS/etc" "$RS/videos"
printf '127.0.0.1\tcdn.veo.test\n' >"$RS/etc/hosts"

ca_paths="etc/ssl/certs/ca-certificates.crt etc/pki/tls/certs/ca-bundle.crt etc/ssl/cert.pem ca/test-ca.pem"
place_ca() {	# place_ca PATH|none: the test CA at PATH in the root, nowhere else
	for c in $ca_paths; do rm -f "$RS/$c"; done
	[ "$1" = none ] && return 0
	mkdir -p "$(dirname "$RS/$1")" && cp "$T/ca/ca.pem" "$RS/$1"
}
root_sweep() {	# root_sweep [VAR=value ...]: one "veo-spooler run" in its empty root
	in_root "$RS" VEO_CONFIG=/dev/null VEO_SPOOL_DIR=/spool VEO_DOWNLOAD_DIR=/videos \
		VEO_ALLOW_PRIVATE=yes VEO_MIN_FREE=0 "$@" -- /veo-spooler run --once >"$T/sweep.out" 2>"$T/sweep.err"
}
state_of() {	# state_of TASKID: "state" of its state file
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("state",""))' \
		"$T/spool2/state/$1" 2>/dev/null
}
# download_with NAME CA-PATH N [VAR=value ...]: a callback for task
# static_NAME with video N stored by the static responder, one sweep with
# the CA at CA-PATH; checks the file arrived whole.
download_with() {
	_nm=$1 _t=static_$1 _ca=$2 _n=$3; shift 3
	root_cgi "$(callback_json 200 ok "$_t" "https://cdn.veo.test:$TP/v/$_n.mp4")" \
		QUERY_STRING="token=$TOKEN" VEO_SYNC=no | cgi_status >/dev/null
	place_ca "$_ca"
	root_sweep "$@"
	ok $? "$_nm: veo-spooler run in the empty root exits 0"
	[ -s "$T/sweep.err" ] && diag "$(cat "$T/sweep.err")"
	is "$(state_of "$_t")" done "$_nm: the task is done"
	is "$(sha256sum <"$RS/videos/$_t/result-0.mp4" 2>/dev/null)" "$(sha256sum <"$T/www/v/$_n.mp4")" \
		"$_nm: the video arrived whole over https"
}
download_with debian etc/ssl/certs/ca-certificates.crt 1
download_with rhel etc/pki/tls/certs/ca-bundle.crt 2
download_with alpine etc/ssl/cert.pem 3
download_with cafile ca/test-ca.pem 4 VEO_CA_FILE=/ca/test-ca.pem
is "$(grep -c '^HTTP/2.0 /v/[1-4].mp4 200$' "$T/tls.access" 2>/dev/null)" 4 \
	"the four downloads came from the test nginx, over HTTP/2 (nghttp2 inside)"

# Killed mid-file, then resumed with a Range request: libcurl's headers
# API (ETag, Content-Length) is in the static library.
root_cgi "$(callback_json 200 ok static_resume "https://cdn.veo.test:$TP/slow/r.mp4")" \
	QUERY_STRING="token=$TOKEN" VEO_SYNC=no | cgi_status >/dev/null
place_ca etc/ssl/certs/ca-certificates.crt
_exec=exec in_root "$RS" VEO_CONFIG=/dev/null VEO_SPOOL_DIR=/spool VEO_DOWNLOAD_DIR=/videos \
	VEO_ALLOW_PRIVATE=yes VEO_MIN_FREE=0 -- /veo-spooler run >/dev/null 2>&1 &
SP=$!
for i in $(seq 150); do
	s=$(stat -c %s "$RS/videos/static_resume/result-0.mp4.part" 2>/dev/null || echo 0)
	[ "$s" -gt 500000 ] && break; sleep 0.1
done
kill -9 "$SP"; wait "$SP" 2>/dev/null
PART=$(stat -c %s "$RS/videos/static_resume/result-0.mp4.part" 2>/dev/null || echo 0)
[ "$PART" -gt 0 ] && [ "$PART" -lt 3000000 ]
ok $? "resume: the spooler killed mid-file leaves a partial .part ($PART bytes)"
root_sweep
is "$(state_of static_resume)" done "resume: the next sweep finishes the task"
is "$(sha256sum <"$RS/videos/static_resume/result-0.mp4" 2>/dev/null)" "$(sha256sum <"$T/www/slow/r.mp4")" \
	"resume: the file is whole"
is "$(grep -c '^HTTP/2.0 /slow/r.mp4 206$' "$T/tls.access")" 1 "resume: the rest came as a 206 (Range)"

# No CA anywhere: refused, with the reason.
root_cgi "$(callback_json 200 ok static_noca "https://cdn.veo.test:$TP/v/5.mp4")" \
	QUERY_STRING="token=$TOKEN" VEO_SYNC=no | cgi_status >/dev/null
place_ca none
root_sweep
is "$(state_of static_noca)" pending "no CA file in the root: the certificate is refused, the task stays pending"
like "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("error",""))' \
	"$T/spool2/state/static_noca" 2>/dev/null)" 'certificate|TLS|SSL' "with an error naming the certificate"
# A name that is not in the hosts file is not found (no DNS server there).
root_cgi "$(callback_json 200 ok static_nohost "https://nowhere.veo.test:$TP/v/6.mp4")" \
	QUERY_STRING="token=$TOKEN" VEO_SYNC=no | cgi_status >/dev/null
place_ca etc/ssl/cert.pem
root_sweep
like "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("error",""))' \
	"$T/spool2/state/static_nohost" 2>/dev/null)" 'resolve' "a name missing from the hosts file: cannot resolve"
is "$(root_extra "$RS" veo-spooler | grep -v -e '^./etc' -e '^./ca' -e '^./videos')" "" \
	"the spooler wrote nothing in its root outside the spool and the downloads"
out=$(in_root "$RS" VEO_CONFIG=/dev/null VEO_SPOOL_DIR=/spool VEO_DOWNLOAD_DIR=/videos \
	-- /veo-spooler status 2>&1)
like "$out" 'static_debian' "veo-spooler status works in the empty root"

# ---- the static responder behind Apache CGI with the shipped .htaccess ----
apache_cgi() {
	MODS=/usr/lib/apache2/modules
	for m in cgid mpm_event authz_core authz_host env mime dir; do
		[ -f "$MODS/mod_$m.so" ] || return 2
	done
	id www-data >/dev/null 2>&1 || return 2
	AP=$(free_port)
	mkdir -p "$T/htdocs/veo" "$T/apache" "$T/spool-htaccess"
	chown www-data:www-data "$T/spool-htaccess"
	chmod 755 "$T" "$T/htdocs" "$T/htdocs/veo"
	install -m 0755 "$S/veo-callback" "$T/htdocs/veo/veo-callback.cgi"
	sed -e "s#/home/example/veo-spool#$T/spool-htaccess#" "$ROOT/examples/htaccess" \
		>"$T/htdocs/veo/.htaccess"
	cat >"$T/httpd.conf" <<EOF
ServerRoot $T/apache
ServerName 127.0.0.1
Listen 127.0.0.1:$AP
PidFile $T/apache/httpd.pid
ErrorLog $T/apache/error.log
LogLevel warn
DefaultRuntimeDir $T/apache
User www-data
Group www-data
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule authz_host_module $MODS/mod_authz_host.so
LoadModule env_module $MODS/mod_env.so
LoadModule mime_module $MODS/mod_mime.so
LoadModule dir_module $MODS/mod_dir.so
LoadModule cgid_module $MODS/mod_cgid.so
TypesConfig /etc/mime.types
ScriptSock $T/apache/cgid.sock
DocumentRoot $T/htdocs
<Directory />
	AllowOverride None
	Require all denied
</Directory>
<Directory $T/htdocs>
	AllowOverride All
	Require all granted
</Directory>
EOF
	apache2 -f "$T/httpd.conf" -DFOREGROUND 2>>"$T/apache/error.log" &
	_pids="$_pids $!"
	wait_for_port "$AP" 15
}
apache_cgi
case $? in
0)	ok 0 "(setup) Apache with the shipped .htaccess and the static responder as veo-callback.cgi"
	DEPLOY_LOG=$T/apache/error.log
	check_deployment static-htaccess "http://127.0.0.1:$AP/veo/veo-callback.cgi" "$T/spool-htaccess"
	is "$(stat -c %U "$T/spool-htaccess/new/deploy_static-htaccess_$$" 2>/dev/null)" www-data \
		"htaccess: the static CGI ran as Apache's user" ;;
2)	diag "Apache, its modules or www-data missing: the .htaccess case not run" ;;
*)	ok 1 "(setup) Apache did not start"; diag "$(tail -n 5 "$T/apache/error.log" 2>/dev/null)" ;;
esac

# ---- make dist ----
if make -s --no-print-directory -C "$ROOT" dist >"$T/dist.out" 2>&1; then
	tgz=$(tail -n 1 "$T/dist.out")
	case $tgz in /*) ;; *) tgz=$ROOT/$tgz ;; esac
	like "$(basename "$tgz")" '^veo-callback-[0-9][0-9.]*-linux-[a-z0-9_]+\.tar\.gz$' "make dist: the tarball is named veo-callback-VERSION-linux-ARCH.tar.gz"
	mkdir -p "$T/dist" && tar -C "$T/dist" -xzf "$tgz"
	d=$(find "$T/dist" -mindepth 1 -maxdepth 1 -type d)
	is "$(basename "$d")" "$(basename "$tgz" .tar.gz)" "it unpacks into one directory of the same name"
	for f in veo-callback veo-spooler; do
		cmp -s "$d/$f" "$S/$f"
		ok $? "the tarball holds build/static/$f"
		ok "$([ -x "$d/$f" ]; echo $?)" "$f is executable"
	done
	missing=""
	for f in README.md nginx.conf.example apache.conf.example; do [ -f "$d/$f" ] || missing="$missing $f"; done
	for f in "$ROOT"/docs/*.8 "$ROOT"/docs/*.5; do [ -f "$d/man/${f##*/}" ] || missing="$missing man/${f##*/}"; done
	for f in "$ROOT"/examples/*; do [ -f "$d/examples/${f##*/}" ] || missing="$missing examples/${f##*/}"; done
	is "$missing" "" "it holds README.md, the web-server examples, the man pages and examples/"
else
	ok 1 "make dist"; diag "$(tail -n 5 "$T/dist.out")"
fi

done_testing
