# Shared helpers for the shell tests: TAP output, a private temp directory,
# free loopback ports, and real nginx / FastCGI responders started on them.
#
# Usage in a test:   . "$(dirname "$0")/lib/common.sh"
# Every process started through these helpers is killed when the test exits.

set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/build"
CALLBACK="$BUILD/veo-callback"
SPOOLER="$BUILD/veo-spooler"

T=$(mktemp -d /tmp/veo-test.XXXXXX)
chmod 755 "$T"
_pids=""
_tap_n=0
_tap_fail=0

cleanup() {
	for p in $_pids; do kill "$p" 2>/dev/null; done
	[ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null
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
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_for_port() {	# wait_for_port PORT [SECONDS]
	_i=0
	while ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
		_i=$((_i + 1)); [ $_i -gt $((${2:-10} * 20)) ] && return 1; sleep 0.05
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
# the given environment; pids go to $T/NAME.fcgi.pid, stderr to $T/NAME.log.
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
# start_nginx PORT SOCKET [EXTRA-LOCATION-DIRECTIVES]: nginx on 127.0.0.1:PORT,
# location /callback passed to the FastCGI socket, config in $T/nginx.conf.
start_nginx() {
	_port=$1 _sock=$2 _extra=${3:-}
	mkdir -p "$T/nginx-tmp"
	cat >"$T/nginx.conf" <<NGX
daemon off;
master_process on;
worker_processes 2;
pid $T/nginx.pid;
error_log $T/nginx.err info;
events { worker_connections 1024; }
http {
	access_log $T/nginx.access;
	client_body_temp_path $T/nginx-tmp/body;
	fastcgi_temp_path $T/nginx-tmp/fcgi;
	proxy_temp_path $T/nginx-tmp/proxy;
	uwsgi_temp_path $T/nginx-tmp/uwsgi;
	scgi_temp_path $T/nginx-tmp/scgi;
	client_max_body_size 1m;
	client_body_timeout 5s;
	server {
		listen 127.0.0.1:$_port;
		location /callback {
			include /etc/nginx/fastcgi_params;
			fastcgi_pass unix:$_sock;
			$_extra
		}
	}
}
NGX
	nginx -c "$T/nginx.conf" -p "$T" 2>>"$T/nginx.err" &
	_pids="$_pids $!"
	wait_for_port "$_port"
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
