# Shared helpers for the shell tests: TAP output, a private temp directory,
# free loopback ports, and real nginx / FastCGI responders started on them.
#
# Usage in a test:   . "$(dirname "$0")/lib/common.sh"
# Every process started through these helpers is killed when the test exits.

set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/build"
# The programs under test: build/ unless BINDIR_UNDER_TEST names another
# directory, relative to the top (make test BINDIR_UNDER_TEST=build/static
# runs the suite against the static programs).  Test tools stay in $BUILD.
case ${BINDIR_UNDER_TEST:-build} in
/*) BINDIR=$BINDIR_UNDER_TEST ;;
*) BINDIR=$ROOT/${BINDIR_UNDER_TEST:-build} ;;
esac
CALLBACK="$BINDIR/veo-callback"
SPOOLER="$BINDIR/veo-spooler"

T=$(mktemp -d /tmp/veo-test.XXXXXX)
chmod 755 "$T"
_pids=""
_tap_n=0
_tap_fail=0

cleanup() {
	for p in $_pids; do kill "$p" 2>/dev/null; done
	[ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid" 2>/dev/null)" 2>/dev/null
	for f in "$T"/*.fcgi.pid; do
		[ -f "$f" ] && for p in $(cat "$f"); do kill "$p" 2>/dev/null; done
	done
	sleep 0.2
	for p in $_pids; do kill -9 "$p" 2>/dev/null; done
	if [ "${KEEP_TMP:-}" ]; then echo "# kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- TAP ----
plan() { echo "1..$1"; }
done_testing() { echo "1..$_tap_n"; [ "$_tap_fail" = 0 ]; exit $?; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
diag() { printf '# %s\n' "$*" | sed '2,$s/^/# /'; }
ok() {	# ok CONDITION-EXIT-STATUS DESCRIPTION  (use: ok $? "desc" after a test)
	_tap_n=$((_tap_n + 1))
	if [ "$1" = 0 ]; then echo "ok $_tap_n - $2"
	else echo "not ok $_tap_n - $2"; _tap_fail=$((_tap_fail + 1)); fi
}
is() {	# is GOT EXPECTED DESCRIPTION
	if [ "$1" = "$2" ]; then ok 0 "$3"
	else ok 1 "$3"; diag "got:      '$1'"; diag "expected: '$2'"; fi
}
like() {	# like GOT EXTENDED-REGEX DESCRIPTION
	if printf '%s' "$1" | grep -Eq -- "$2"; then ok 0 "$3"
	else ok 1 "$3"; diag "got:      '$1'"; diag "expected to match: /$2/"; fi
}

# ---- ports and waiting ----
# A port number handed out for later use (bind port 0, close, print it) is
# free only until another process on the machine takes it, and then a test
# would talk to a stranger's server.  So no helper hands out a port to use
# later:
#  - a server that can report its port binds port 0 itself and reports the
#    port it got (tests/lib/faultserver.py: start_faultserver);
#  - nginx and Apache cannot: their start helpers pick a candidate port,
#    start the server on it, wait until that very process listens there,
#    and start it again on another candidate when the bind failed because
#    the port was taken (run_nginx; deploy-apache.t's apache_start).
# The start helpers take PORT either as a number (then they only check that
# their server got it), or as the name of a variable, e.g. PORT, which is
# set to the port the server got.  Configuration text given to the nginx
# helpers says @PORT@ where the port goes.

# _is_port ARG: ARG is a port number (else it names a variable).
_is_port() { case $1 in ''|*[!0-9]*) return 1 ;; esac; }
# port_in_use PORT: a TCP socket of this network namespace is bound to PORT.
port_in_use() {
	printf -v _piu_h ':%04X' "$1"
	awk -v h="$_piu_h" 'FNR > 1 && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}
# port_candidate VAR: sets VAR to a port that nothing is bound to right now,
# picked at random below the kernel's ephemeral range (where outgoing
# connections take their ports).  Only a candidate: see above.
port_candidate() {
	_pc_lo=32768
	read -r _pc_lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
	if [ "$_pc_lo" -gt 11024 ]; then _pc_base=$((_pc_lo - 10000)) _pc_span=10000
	else _pc_base=1024 _pc_span=$((_pc_lo > 2048 ? _pc_lo - 1024 : 30000)); fi
	for _pc_try in 1 2 3 4 5 6 7 8 9 10; do
		_pc_p=$(( _pc_base + ${SRANDOM:-$((RANDOM * 32768 + RANDOM))} % _pc_span ))
		port_in_use "$_pc_p" || break
	done
	printf -v "$1" %s "$_pc_p"
}
# free_port: prints a port_candidate.  Kept for old callers; a server
# started on it later may find it taken: prefer the start helpers' PORT
# variable form.
free_port() { port_candidate _fp_p; echo "$_fp_p"; }
# listens PID PORT: process PID holds a socket listening on TCP port PORT
# (any address, IPv4 or IPv6).
listens() {
	printf -v _ls_h ':%04X' "$2"
	_ls_inodes=$(awk -v h="$_ls_h" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == h { print $10 }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null)
	[ -n "$_ls_inodes" ] || return 1
	_ls_fds=$(ls -l "/proc/$1/fd" 2>/dev/null) || return 1
	for _ls_i in $_ls_inodes; do
		case $_ls_fds in *"socket:[$_ls_i]"*) return 0 ;; esac
	done
	return 1
}
# nginx_wait PID ERR-LOG FROM-LINE PORT...: waits (10 s at most) for the nginx
# master PID, whose error log ERR-LOG had FROM-LINE lines before it started.
# Status 0 once it has started its workers (notice "start worker processes",
# so error_log must be at notice or info) and listens on every PORT; 2 when
# a bind failed because the address was in use (nginx would retry that for
# 2.5 s, then exit); 1 when it exited or did not come up in time.
nginx_wait() {
	_nw_pid=$1 _nw_log=$2 _nw_from=$3
	shift 3
	_nw_end=$(( ${EPOCHREALTIME//[!0-9]/} + 10000000 ))
	while :; do
		_nw_new=$(tail -n +"$((_nw_from + 1))" "$_nw_log" 2>/dev/null | grep -F " $_nw_pid#")
		case $_nw_new in *"bind() to "*" failed (98: "*) return 2 ;; esac
		case $_nw_new in *": start worker processes"*)
			_nw_all=1
			for _nw_p; do listens "$_nw_pid" "$_nw_p" || _nw_all=; done
			[ -n "$_nw_all" ] && return 0 ;;
		esac
		proc_alive "$_nw_pid" || return 1
		[ "${EPOCHREALTIME//[!0-9]/}" -ge "$_nw_end" ] && return 1
		sleep 0.05
	done
}
# stop_failed PID: stops a server that did not come up (TERM, then KILL).
stop_failed() {
	kill -TERM "$1" 2>/dev/null
	wait_gone "$1" 5 || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}
wait_for_port() {	# wait_for_port PORT [SECONDS]
	_i=0
	while ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
		_i=$((_i + 1)); [ $_i -gt $((${2:-10} * 20)) ] && return 1; sleep 0.05
	done
}
# wait_until SECONDS WHAT COMMAND [ARGS...]: runs COMMAND every 50 ms until it
# succeeds; after SECONDS, prints "# timed out after SECONDS s waiting for
# WHAT" and fails.  (EPOCHREALTIME: bash 5, no process per check.)
wait_until() {
	_wu_secs=$1 _wu_what=$2
	shift 2
	_wu_end=$(( ${EPOCHREALTIME//[!0-9]/} + _wu_secs * 1000000 ))
	until "$@"; do
		if [ "${EPOCHREALTIME//[!0-9]/}" -ge "$_wu_end" ]; then
			diag "timed out after ${_wu_secs}s waiting for $_wu_what"
			return 1
		fi
		sleep 0.05
	done
}
wait_for_file() {	# wait_for_file PATH [SECONDS]
	_i=0
	while [ ! -e "$1" ]; do
		_i=$((_i + 1)); [ $_i -gt $((${2:-10} * 20)) ] && return 1; sleep 0.05
	done
}

# ---- the responder under FastCGI ----
# start_fcgi NAME CHILDREN [VAR=value ...]: spawn-fcgi on $T/NAME.sock with
# the given environment; pids go to $T/NAME.fcgi.pid.  spawn-fcgi puts its
# children's stderr on /dev/null, so the responder's log lines go to the web
# server's error log (FastCGI stderr); use fcgi_log_wrapper to keep them in
# $T/NAME.log instead.
start_fcgi() {
	_name=$1 _n=$2; shift 2
	rm -f "$T/$_name.sock" "$T/$_name.fcgi.pid"
	env -i PATH=/usr/bin:/bin "$@" spawn-fcgi -s "$T/$_name.sock" -M 0666 -F "$_n" \
		-P "$T/$_name.fcgi.pid" -- "${FCGI_WRAPPER:-$CALLBACK}" \
		>/dev/null 2>>"$T/$_name.log" || return 1
	wait_for_file "$T/$_name.sock"
}
stop_fcgi() {	# stop_fcgi NAME [SIGNAL]
	[ -f "$T/$1.fcgi.pid" ] || return 0
	for p in $(cat "$T/$1.fcgi.pid"); do kill -"${2:-TERM}" "$p" 2>/dev/null; done
	for p in $(cat "$T/$1.fcgi.pid"); do
		_i=0; while kill -0 "$p" 2>/dev/null && [ $_i -lt 100 ]; do sleep 0.05; _i=$((_i + 1)); done
	done
	rm -f "$T/$1.fcgi.pid"
}

# ---- nginx in front ----
# start_nginx PORT SOCKET [EXTRA-LOCATION-DIRECTIVES]: nginx on 127.0.0.1:PORT
# (a number or a variable name: see "ports"), location /callback passed to
# the FastCGI socket, config in $T/nginx.conf.
start_nginx() {
	start_nginx_server "$1" "
		listen 127.0.0.1:@PORT@;
		location /callback {
			include /etc/nginx/fastcgi_params;
			fastcgi_pass unix:$2;
			${3:-}
		}"
}

# A valid success callback for TASKID (URL host fixed, so bodies compare equal).
sample_body() {
	printf '{"code":200,"msg":"Veo3.1 video generated successfully.","data":{"taskId":"%s","info":{"resultUrls":["https://cdn.example.com/%s.mp4"],"originUrls":null,"resolution":"1080p"},"fallbackFlag":false}}' "$1" "$1"
}

# cgi_post BODY [VAR=value ...]: runs the responder as a CGI program with
# the body on stdin; prints the full response (headers and body).
cgi_post() {
	_body=$1; shift
	printf '%s' "$_body" | env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 \
		REQUEST_METHOD=POST CONTENT_TYPE=application/json \
		CONTENT_LENGTH=${#_body} REMOTE_ADDR=127.0.0.1 "$@" "$CALLBACK" 2>>"$T/cgi.log"
}
# HTTP status of a CGI response read on stdin.
cgi_status() { sed -n '1s/^Status: \([0-9]*\).*/\1/p' | tr -d '\r'; }

# ---- for the spooler's tests, which set SPOOL (and export the VEO_* they need) ----
# spool_post JSON: stores a callback through the CGI responder, without
# authentication, as a test spool wants; prints the HTTP status.
spool_post() { cgi_post "$1" VEO_SPOOL_DIR="$SPOOL" VEO_SYNC=no VEO_MIN_FREE=0 VEO_AUTH=none | cgi_status; }
# sweep_once [ARGS...]: one sweep; its stdout in $T/out, its stderr in $T/err.
sweep_once() { "$SPOOLER" "$@" run --once >"$T/out" 2>"$T/err"; }
# status_field TASKID KEY: a top-level field of status --json (lists and objects as JSON).
status_field() {
	"$SPOOLER" status --json "$1" | python3 -c "import json,sys; v=json.load(sys.stdin)['$2']; print(json.dumps(v) if isinstance(v,(list,dict)) else v)"
}

# ---- more CGI and reply helpers ----
# The per-request helpers below are perl, not python3: they run once or twice
# per request, and perl starts several times faster.
# The body of a CGI or HTTP response read on stdin (after the first empty line).
reply_body() { perl -0777 -ne '/\r?\n\r?\n/ and print substr($_, $+[0])'; }
# The value of header NAME in a CGI or HTTP response on stdin (first match).
reply_header() { tr -d '\r' | sed -n "/^\$/q; s/^$1: *//Ip" | head -n 1; }
# The stored body of spool entry FILE, byte for byte (after the header's empty line).
entry_body() {
	perl -e 'open(my $f, "<:raw", $ARGV[0]) or do { warn "entry_body: $ARGV[0]: $!\n"; exit 1 };
		my $d = do { local $/; <$f> } // ""; my $i = index($d, "\n\n");
		$i >= 0 or do { warn "entry_body: $ARGV[0]: no empty line after the header\n"; exit 1 };
		print substr($d, $i + 2)' "$1"
}
# entry_field FILE NAME: the value of header line NAME in spool entry FILE.
entry_field() { sed -n "/^\$/q; s/^$2: //p" "$1"; }
# Prints N when the JSON reply body on stdin is exactly {"code":N,"msg":"..."}
# (an integer N, a string msg, no other member); "bad" otherwise.
json_code() { perl "$ROOT/tests/lib/json_code.pl"; }
# Number of entries in directory DIR (dot files too); 0 when it does not exist.
count_files() { [ -d "$1" ] && find "$1" -mindepth 1 -maxdepth 1 | wc -l || echo 0; }
# hmac_sign KEY TASKID TIMESTAMP: the X-Webhook-Signature kie.ai would send,
# computed independently with openssl.
hmac_sign() { printf '%s.%s' "$2" "$3" | openssl dgst -sha256 -hmac "$1" -binary | base64; }

# spawn-fcgi points its children's stderr at /dev/null, so start_fcgi's
# $T/NAME.log gets only spawn-fcgi's own messages.  fcgi_log_wrapper NAME
# writes a wrapper that sends the responder's stderr to $T/NAME.log and
# prints its path:  FCGI_WRAPPER=$(fcgi_log_wrapper r) start_fcgi r 4 ...
fcgi_log_wrapper() {
	printf '#!/bin/sh\nexec 2>>"%s"\nexec "%s" "$@"\n' "$T/$1.log" "${FCGI_WRAPPER:-$CALLBACK}" >"$T/$1.wrap"
	chmod 755 "$T/$1.wrap"
	echo "$T/$1.wrap"
}

# start_nginx_server PORT SERVER-DIRECTIVES: like start_nginx, but the whole
# body of the server block is given (listen lines included, the port written
# @PORT@), for tests that need several locations or FastCGI pools.  Config in
# $T/nginx.conf.
start_nginx_server() {
	run_nginx nginx "$1" 2 "
	access_log $T/nginx.access;
	client_max_body_size 1m;
	client_body_timeout 5s;" "$2"
}

# run_nginx NAME PORT WORKERS HTTP-DIRECTIVES SERVER-DIRECTIVES: an nginx in
# the foreground (killed at exit) with its configuration in $T/NAME.conf,
# pid in $T/NAME.pid, error log in $T/NAME.err and temp files in
# $T/NAME-tmp; returns once it listens on PORT (a number, or the name of a
# variable that gets the port, the last one tried if it failed: see "ports"
# above; @PORT@ in the directives is replaced by the port).  Up to 10
# candidates when a port is taken.
run_nginx() {
	local _rn_name=$1 _rn_want=$2 _rn_port _rn_try _rn_from _rn_pid _rn_rc
	mkdir -p "$T/$_rn_name-tmp"
	for _rn_try in 1 2 3 4 5 6 7 8 9 10; do
		if _is_port "$_rn_want"; then _rn_port=$_rn_want; else port_candidate _rn_port; fi
		cat >"$T/$_rn_name.conf" <<NGX
daemon off;
master_process on;
worker_processes $3;
pid $T/$_rn_name.pid;
error_log $T/$_rn_name.err info;
events { worker_connections 1024; }
http {
	client_body_temp_path $T/$_rn_name-tmp/body;
	fastcgi_temp_path $T/$_rn_name-tmp/fcgi;
	proxy_temp_path $T/$_rn_name-tmp/proxy;
	uwsgi_temp_path $T/$_rn_name-tmp/uwsgi;
	scgi_temp_path $T/$_rn_name-tmp/scgi;
	${4//@PORT@/$_rn_port}
	server {
		${5//@PORT@/$_rn_port}
	}
}
NGX
		_rn_from=$(cat "$T/$_rn_name.err" 2>/dev/null | wc -l)
		nginx -e "$T/$_rn_name.err" -c "$T/$_rn_name.conf" -p "$T" 2>>"$T/$_rn_name.err" &
		_rn_pid=$!
		nginx_wait "$_rn_pid" "$T/$_rn_name.err" "$_rn_from" "$_rn_port"
		_rn_rc=$?
		if [ $_rn_rc = 0 ]; then
			_pids="$_pids $_rn_pid"
			_is_port "$_rn_want" || printf -v "$_rn_want" %s "$_rn_port"
			return 0
		fi
		stop_failed "$_rn_pid"
		[ $_rn_rc = 2 ] && ! _is_port "$_rn_want" || break
		diag "nginx $_rn_name: port $_rn_port was taken; trying another"
	done
	diag "nginx $_rn_name did not start on 127.0.0.1:$_rn_port; $T/$_rn_name.err says:"
	diag "$(tail -n +"$((_rn_from + 1))" "$T/$_rn_name.err" 2>/dev/null | tail -n 5)"
	_is_port "$_rn_want" || printf -v "$_rn_want" %s "$_rn_port"	# set, for set -u
	return 1
}

# ---- a static file server (the "CDN" of the spooler tests) ----
# start_static PORT ROOT [EXTRA-SERVER-DIRECTIVES]: nginx serving ROOT on
# 127.0.0.1:PORT (a number or a variable name), every request logged to
# $T/static.access as "METHOD URI STATUS RANGE BYTES".
start_static() {
	run_nginx static "$1" 1 "
	log_format veo '\$request_method \$uri \$status \"\$http_range\" \$body_bytes_sent';
	access_log $T/static.access veo;
	types { video/mp4 mp4; image/png png; text/html html; }" "
		listen 127.0.0.1:@PORT@;
		root $2;
		${3:-}"
}

# make_video PATH BYTES: a file that sniffs as MP4 (an ISO BMFF 'ftyp' box
# first), the rest pseudo-random so that every file hashes differently.
make_video() {
	python3 - "$1" "$2" <<'PY'
import os, sys, random
path, size = sys.argv[1], int(sys.argv[2])
head = b'\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom\x00\x00\x00\x00mdat'
rnd = random.Random(path)
with open(path, 'wb') as f:
    f.write(head)
    left = size - len(head)
    while left > 0:
        n = min(left, 1 << 20)
        f.write(rnd.getrandbits(8 * n).to_bytes(n, 'little'))
        left -= n
PY
}

# callback_json CODE MSG TASKID [RESULT-URL ...] [-- ORIGIN-URL ...]: a
# callback body (msg passed through JSON encoding, so any text is safe).
callback_json() {
	python3 - "$@" <<'PY'
import json, sys
code, msg, task = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rest = sys.argv[4:]
res, org = (rest[:rest.index('--')], rest[rest.index('--') + 1:]) if '--' in rest else (rest, [])
data = {"taskId": task, "fallbackFlag": False}
if code == 200:
    data["info"] = {"resultUrls": res, "originUrls": org or None, "resolution": "1080p"}
else:
    data["info"] = None
print(json.dumps({"code": code, "msg": msg, "data": data}, separators=(',', ':')), end='')
PY
}

# ---- the fault server, fetch-cli and a test CA (fetch.t, ssrf.t) ----
FAULTSERVER="$ROOT/tests/lib/faultserver.py"
FETCH_CLI=${FETCH_CLI:-$BUILD/tools/fetch-cli}	# override: e.g. a sanitizer build

# start_faultserver PORT LOG [BIND-ADDR [WRAPPER...]]: tests/lib/faultserver.py
# in the background (WRAPPER: e.g. "ip netns exec NS"); returns once it
# listens, which is when LOG exists.  LOG gets "METHOD PATH RANGE" lines.
# PORT is a number, or the name of a variable: then the server binds port 0
# and the variable gets the port it was given (empty when the server did not
# start).  FAULTSERVER_PID is its pid.
# FAULT_TLS="CERT KEY" makes it speak https.
start_faultserver() {
	local _fs_port=$1 _fs_log=$2 _fs_bind=${3:-127.0.0.1} _fs_args
	shift 3 2>/dev/null || shift $#
	rm -f "$_fs_log" "$_fs_log.port"
	_fs_args=("$_fs_port")
	_is_port "$_fs_port" || _fs_args=(--port-file "$_fs_log.port" 0)
	# shellcheck disable=SC2086
	"$@" python3 "$FAULTSERVER" --bind "$_fs_bind" ${FAULT_TLS:+--tls $FAULT_TLS} \
		"${_fs_args[@]}" "$_fs_log" 2>>"$T/faultserver.err" &
	FAULTSERVER_PID=$!
	_pids="$_pids $FAULTSERVER_PID"
	wait_until 10 "the fault server to listen ($_fs_log)" _listening_or_gone "$_fs_log" "$FAULTSERVER_PID"
	if [ ! -e "$_fs_log" ]; then
		diag "the fault server ($_fs_bind, port $_fs_port) did not start: $(tail -n 1 "$T/faultserver.err" 2>/dev/null)"
		_is_port "$_fs_port" || printf -v "$_fs_port" %s ""	# set, for set -u
		return 1
	fi
	_is_port "$_fs_port" || read -r "$_fs_port" <"$_fs_log.port"
}
_listening_or_gone() { [ -e "$1" ] || ! proc_alive "$2"; }

# generated_sha NAME SIZE [VERSION]: SHA-256 of the file the fault server
# serves as /file/NAME?size=SIZE[&v=VERSION].
generated_sha() {
	python3 "$FAULTSERVER" --generate "$1" "$2" "${3:-}" | sha256sum | cut -d' ' -f1
}

# make_test_ca DIR [SANS]: a throw-away CA (DIR/ca.pem) and a server
# certificate for localhost, 127.0.0.1, ::1 and SANS (e.g. "DNS:cdn.test")
# signed by it (DIR/server.pem, DIR/server.key).
make_test_ca() {
	mkdir -p "$1" || return 1
	printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1${2:+,$2}" \
		"basicConstraints=critical,CA:FALSE" "extendedKeyUsage=serverAuth" >"$1/ext.cnf"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$1/ca.key" -out "$1/ca.pem" -days 2 -subj "/CN=veo test CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$1/server.key" -out "$1/server.csr" -subj "/CN=localhost" 2>/dev/null &&
	openssl x509 -req -in "$1/server.csr" -CA "$1/ca.pem" -CAkey "$1/ca.key" \
		-CAcreateserial -out "$1/server.pem" -days 2 -extfile "$1/ext.cnf" 2>/dev/null
}

# start_tls_static PORT ROOT CERTDIR: nginx serving ROOT over https on
# 127.0.0.1:PORT (a number or a variable name) with CERTDIR/server.{pem,key}
# (see make_test_ca).
start_tls_static() {
	run_nginx tls "$1" 1 "
	access_log $T/tls.access;
	types { video/mp4 mp4; }" "
		listen 127.0.0.1:@PORT@ ssl;
		ssl_certificate $3/server.pem;
		ssl_certificate_key $3/server.key;
		root $2;"
}

# ---- crash, disk-full and memory tests (crash.t, diskfull.t, memory.t) ----
BURST="$ROOT/tests/lib/burst.py"
# spoolcheck MODE ARGS...: tests/lib/spoolcheck.py (entries against what was
# sent); prints "# ..." diagnostics, exits 1 on a problem.
spoolcheck() { python3 "$ROOT/tests/lib/spoolcheck.py" "$@"; }
# Pids of the workers of the nginx that start_nginx started.
nginx_workers() { [ -f "$T/nginx.pid" ] && pgrep -P "$(cat "$T/nginx.pid")"; }
# proc_alive PID: PID runs (a zombie, dead but not yet reaped, does not).
proc_alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
# wait_gone PID [SECONDS]: until PID has exited; fails on timeout.
wait_gone() {
	_i=0
	while proc_alive "$1"; do
		_i=$((_i + 1)); [ $_i -gt $((${2:-10} * 20)) ] && return 1; sleep 0.05
	done
}
# kill_fcgi NAME: kill -9 every process of pool NAME and wait until they are gone.
kill_fcgi() {
	[ -f "$T/$1.fcgi.pid" ] || return 0
	for p in $(cat "$T/$1.fcgi.pid"); do kill -9 "$p" 2>/dev/null; done
	for p in $(cat "$T/$1.fcgi.pid"); do wait_gone "$p" 5; done
}
# stop_nginx: stops the nginx that start_nginx started and waits until it is
# gone, so that another can be started in the same test.
stop_nginx() {
	[ -f "$T/nginx.pid" ] || return 0
	_ng=$(cat "$T/nginx.pid")
	kill "$_ng" 2>/dev/null
	wait_gone "$_ng" 10
}
# rss_kb PID: resident set size of PID in KiB (VmRSS).
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# mount_tmpfs DIR OPTIONS: a tmpfs at DIR, lazily unmounted when the test
# exits.  Fails (with mount's message on stderr) where mounting is not allowed.
_mounts=""
mount_tmpfs() {
	mkdir -p "$1" && mount -t tmpfs -o "$2" veo-test "$1" || return 1
	[ -z "$_mounts" ] && trap '_umount_all; cleanup' EXIT
	_mounts="$_mounts $1"
}
_umount_all() { for m in $_mounts; do umount -l "$m" 2>/dev/null; done; }
