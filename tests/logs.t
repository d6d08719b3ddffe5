#!/bin/bash
# Where the log goes, and what never goes into a log.
#
# The responder as the shipped nginx way runs it: spawn-fcgi, whose
# children have stderr on /dev/null, behind nginx with the callback
# location's access_log and log_format from nginx.conf.example.  Before the
# "log" setting such a responder wrote every line into the FastCGI stderr
# stream, which nginx logs at [error] with the request line, token included.
# Now, with log unset (auto), its lines go to syslog (caught here on a
# /dev/log of the test's own, in a private mount namespace), with log = a
# file to that file, and nothing of ours reaches nginx's logs.
. "$(dirname "$0")/lib/common.sh"
export LC_ALL=C

command -v nginx >/dev/null || skip_all "nginx not installed"
command -v spawn-fcgi >/dev/null || skip_all "spawn-fcgi not installed"
[ -x "$CALLBACK" ] || skip_all "build/veo-callback not built (run make)"
EX=$ROOT/nginx.conf.example

TOK='tok-LOG-s3cr3t-9Wq'
KEY='hmac-LOG-k3y-4Rt'
mkdir -p "$T/s1" "$T/s2" "$T/s3"

# ---- the shipped access log format ----
fmt=$(awk '/^log_format veo_callback_noargs/,/;$/' "$EX")
like "$fmt" "^log_format veo_callback_noargs " "nginx.conf.example defines log_format veo_callback_noargs"
case $fmt in *'$request '*|*'$request"'*|*'$request_uri'*|*'$args'*|*'$query_string'*|*'$http_'*) r=1 ;; *) r=0 ;; esac
ok $r "that format holds neither \$request, \$request_uri, \$args, \$query_string nor a header"
acc=$(sed -n 's/^[[:space:]]*access_log \([^ ]*\) veo_callback_noargs;/\1/p' "$EX")
like "$acc" '^/' "the callback location logs with it (access_log ... veo_callback_noargs)"
grep -q '^[[:space:]]*access_log [^;]*;' "$EX" && ! grep -q '^[[:space:]]*access_log [^;]* combined;' "$EX"
ok $? "no access_log of the example uses the combined format (with the query string)"

# ---- a syslog of our own: a datagram socket that /dev/log points to ----
python3 - "$T/syslog.sock" "$T/syslog" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536) + b"\n")
PY
_pids="$_pids $!"
wait_for_file "$T/syslog.sock"
: >"$T/syslog"
# in_ns CMD...: CMD in a private mount namespace whose /dev holds only null,
# zero, urandom and log (a symbolic link to the socket above).
in_ns() {
	unshare -m --propagation private sh -c '
		mount -t tmpfs veo-test-dev /dev &&
		mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/zero c 1 5 &&
		mknod -m 666 /dev/urandom c 1 9 && ln -s "$0" /dev/log && exec "$@"' "$T/syslog.sock" "$@"
}
if ! in_ns true 2>"$T/unshare.err"; then
	skip_all "no private mount namespace here: $(head -n 1 "$T/unshare.err")"
fi

# Pools as spawn-fcgi leaves them, stderr on /dev/null:
#   p1  log unset (auto: syslog)
#   p2  log = a file
#   p3  log = off
pool() {	# pool NAME [VAR=value ...]
	_n=$1; shift
	rm -f "$T/$_n.sock"
	in_ns env -i PATH=/usr/bin:/bin VEO_CONFIG=/dev/null VEO_TOKEN="$TOK" VEO_HMAC_KEY="$KEY" "$@" \
		spawn-fcgi -s "$T/$_n.sock" -M 0666 -F 2 -P "$T/$_n.fcgi.pid" -- "$CALLBACK" \
		>/dev/null 2>>"$T/spawn.err" && wait_for_file "$T/$_n.sock"
}
pool p1 VEO_SPOOL_DIR="$T/s1"
ok $? "pool p1 (log unset) started, stderr on /dev/null"
pool p2 VEO_SPOOL_DIR="$T/s2" VEO_LOG="$T/veo.log"
ok $? "pool p2 (log = $T/veo.log) started"
pool p3 VEO_SPOOL_DIR="$T/s3" VEO_LOG=off
ok $? "pool p3 (log = off) started"

P=$(free_port)
loc() {	# loc NAME: the callback location as shipped (access_log with its format)
	printf 'location = /%s { include /etc/nginx/fastcgi_params; fastcgi_pass unix:%s/%s.sock; access_log %s/%s.access veo_callback_noargs; }\n' \
		"$1" "$T" "$1" "$T" "$1"
}
# run_nginx logs its error log at "info", more than a server usually does.
run_nginx nginx "$P" 1 "$fmt
	access_log $T/other.access;" "
		listen 127.0.0.1:$P;
		$(loc p1) $(loc p2) $(loc p3)"
ok $? "nginx with the shipped log_format on 127.0.0.1:$P"

post() {	# post PATH QUERY BODY [CURL-ARGS...]: prints the status
	_p=$1 _q=$2; printf '%s' "$3" >"$T/body"; shift 3
	curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary @"$T/body" "$@" "http://127.0.0.1:$P/$_p?$_q"
}
NOW=$(date +%s)
for p in p1 p2 p3; do
	is "$(post $p "token=$TOK" "$(sample_body ok_$p)" -H "X-Webhook-Timestamp: $NOW" \
		-H "X-Webhook-Signature: $(hmac_sign "$KEY" ok_$p "$NOW")")" 200 "$p: a signed callback with the token: 200"
	is "$(post $p "token=$TOK" '{"code":200,"msg":"x"')" 400 "$p: bad JSON with the right token: 400"
	is "$(post $p "token=$TOK" "$(sample_body sig_$p)" -H "X-Webhook-Timestamp: $NOW" \
		-H "X-Webhook-Signature: bm90LXRoZS1zaWduYXR1cmUtYnV0LWxvbmctZW5vdWdoLWZvcmE=")" 401 \
		"$p: a wrong signature with the right token: 401"
	is "$(post $p "token=wrong-$TOK" "$(sample_body bad_$p)")" 401 "$p: a wrong token: 401"
done
ok "$([ -f "$T/s1/new/ok_p1" ] && [ -f "$T/s2/new/ok_p2" ] && [ -f "$T/s3/new/ok_p3" ]; echo $?)" \
	"the three callbacks are stored"
sleep 0.3	# syslog datagrams and nginx's buffered writes

# ---- nothing of ours in nginx's logs, no token anywhere ----
grep -q 'FastCGI sent in stderr' "$T/nginx.err"
is $? 1 "nginx's error log has no line from the responder (no FastCGI stderr)"
grep '\[error\]' "$T/nginx.err" >"$T/errors"
is "$(cat "$T/errors")" "" "nginx's error log has nothing at [error] for successes or refusals"
for f in "$T/nginx.err" "$T/p1.access" "$T/p2.access" "$T/p3.access" "$T/syslog" "$T/veo.log"; do
	grep -qF -- "$TOK" "$f"
	is $? 1 "the token is not in ${f#$T/}"
	grep -qF -- "$KEY" "$f"
	is $? 1 "the HMAC key is not in ${f#$T/}"
done
is "$(grep -c '"POST /p1 HTTP/1.1" ' "$T/p1.access")" 4 "the access log has the four requests, path without query"
grep -q '?' "$T/p1.access"
is $? 1 "no '?' in the callback access log"
is "$(cat "$T/other.access" 2>/dev/null)" "" "the callback location did not write the http-level access log"

# ---- syslog (log unset, stderr on /dev/null) ----
like "$(grep 'task=ok_p1 ' "$T/syslog")" \
	'^<30>.* veo-callback\[[0-9]+\]: [0-9T:.-]+Z status=200 task=ok_p1 remote=127\.0\.0\.1 us=[0-9]+ result=stored' \
	"syslog: the success, facility daemon, level info, ident veo-callback[pid]"
like "$(grep 'status=400' "$T/syslog")" '^<28>' "syslog: the 400 at level warning"
is "$(grep -c 'status=401' "$T/syslog")" 2 "syslog: both 401s"
is "$(grep -c 'status=' "$T/syslog")" 4 "syslog: one line a request of p1, none of the others"
grep -q -e bm90LXRoZS1zaWdu -e application/json -e curl/ -e "$(hmac_sign "$KEY" ok_p1 "$NOW")" "$T/syslog"
is $? 1 "syslog: no header value (signature, content type, user agent)"

# ---- log = file ----
is "$(grep -c '^veo-callback: .* status=' "$T/veo.log")" 4 "log = file: one line a request of p2"
like "$(grep 'task=ok_p2 ' "$T/veo.log")" 'status=200 task=ok_p2 .*result=stored' "log = file: the success"
is "$(stat -c %a "$T/veo.log")" 640 "log = file: created mode 0640"

# ---- log = off ----
grep -q 'p3' "$T/syslog" "$T/veo.log"
is $? 1 "log = off: p3 wrote nowhere"

# ---- under CGI (log unset): successes to syslog, problems also to stderr ----
cgi() {	# cgi TASK QUERY: one CGI request in the namespace; stderr to $T/cgi.err
	_b=$(sample_body "$1")
	printf '%s' "$_b" | in_ns env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 \
		REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH=${#_b} \
		REMOTE_ADDR=127.0.0.1 QUERY_STRING="$2" VEO_CONFIG=/dev/null VEO_SPOOL_DIR="$T/s1" \
		VEO_TOKEN="$TOK" "$CALLBACK" 2>"$T/cgi.err" | cgi_status
}
n0=$(wc -l <"$T/syslog")
is "$(cgi cgi_ok "token=$TOK")" 200 "CGI: stored"
is "$(cat "$T/cgi.err")" "" "CGI: a success writes nothing to stderr (the web server's error log)"
is "$(cgi cgi_bad "token=nope")" 401 "CGI: wrong token"
like "$(cat "$T/cgi.err")" '^veo-callback: .*status=401 .*result=rejected' "CGI: a refusal also reaches stderr"
sleep 0.2
tail -n +$((n0 + 1)) "$T/syslog" >"$T/syslog.cgi"
is "$(grep -c 'status=200 task=cgi_ok \|status=401 task=- ' "$T/syslog.cgi")" 2 "CGI: both lines in syslog"

# ---- veo-spooler follows the same setting ----
if [ -x "$SPOOLER" ] && "$SPOOLER" --version >/dev/null 2>&1; then
	mkdir -p "$T/sp" "$T/dl"
	_b='{"code":501,"msg":"generation failed","data":{"taskId":"spl_failed"}}'
	printf '%s' "$_b" | env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=POST \
		CONTENT_TYPE=application/json CONTENT_LENGTH=${#_b} VEO_CONFIG=/dev/null VEO_SPOOL_DIR="$T/sp" \
		VEO_AUTH=none "$CALLBACK" >/dev/null 2>&1
	env -i PATH=/usr/bin:/bin VEO_CONFIG=/dev/null VEO_SPOOL_DIR="$T/sp" VEO_DOWNLOAD_DIR="$T/dl" \
		VEO_LOG="$T/spooler.log" "$SPOOLER" run --once >"$T/spl.out" 2>"$T/spl.err"
	ok $? "veo-spooler run with log = a file"
	like "$(cat "$T/spooler.log")" '^veo-spooler: task spl_failed: failed' "its problem line went to the file"
	is "$(cat "$T/spl.err")" "" "and not to stderr"
fi

done_testing
