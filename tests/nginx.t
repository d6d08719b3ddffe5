#!/bin/bash
# The responder under FastCGI (spawn-fcgi, several children) behind a real
# nginx on a loopback port: every status as a client sees it, per-request
# parameters, limits, slow and concurrent bodies, the log.
. "$(dirname "$0")/lib/common.sh"
export LC_ALL=C		# ${#var} counts bytes

command -v nginx >/dev/null || skip_all "nginx not installed"
command -v spawn-fcgi >/dev/null || skip_all "spawn-fcgi not installed"
[ -x "$CALLBACK" ] || skip_all "build/veo-callback not built (run make)"

MAXB=2048
ENVTOK='env-T0ken-5Kd'	# process environment
TOKA='tok-A-9Lp'	# location /a
TOKB='tok-B-3Vn'	# location /b
TOK='tok-S-2Qw'		# the other locations
KEY='hmac-N-K3y-cur-8Fs'
KEYP='hmac-N-K3y-prev-1Jt'
for d in env a b s h u c; do mkdir "$T/$d"; done

# One pool of 4 children, its stderr in $T/r.log (spawn-fcgi itself sends
# its children's stderr to /dev/null: see fcgi_log_wrapper).  A second pool
# whose configuration file is missing.
FCGI_WRAPPER=$(fcgi_log_wrapper r) start_fcgi r 4 \
	VEO_SPOOL_DIR="$T/env" VEO_TOKEN="$ENVTOK" VEO_MAX_BODY=$MAXB
ok $? "spawn-fcgi started 4 responders"
is "$(wc -w <"$T/r.fcgi.pid")" 4 "4 responder pids"
FCGI_WRAPPER=$(fcgi_log_wrapper bad) start_fcgi bad 1 \
	VEO_CONFIG="$T/missing.conf" VEO_SPOOL_DIR="$T/s"
ok $? "spawn-fcgi started a responder with a missing configuration file"
# A third pool as spawn-fcgi leaves it, stderr on /dev/null: its log lines
# must not go through the FastCGI stderr stream into nginx's error log.
start_fcgi plain 1 VEO_SPOOL_DIR="$T/s" VEO_TOKEN="$TOK"
ok $? "spawn-fcgi started a responder with stderr on /dev/null"

V6=
python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null && V6="listen [::1]:@PORT@;"
loc() {	# loc NAME POOL DIRECTIVES
	printf 'location = /%s { include /etc/nginx/fastcgi_params; fastcgi_pass unix:%s/%s.sock; %s }\n' "$1" "$T" "$2" "$3"
}
sp() { printf 'fastcgi_param VEO_SPOOL_DIR %s; fastcgi_param VEO_TOKEN %s; ' "$1" "$2"; }
start_nginx_server P "
	listen 127.0.0.1:@PORT@; $V6
	$(loc callback r '')
	$(loc a r "$(sp "$T/a" "$TOKA")")
	$(loc b r "$(sp "$T/b" "$TOKB")")
	$(loc s r "$(sp "$T/s" "$TOK")")
	$(loc h r "$(sp "$T/h" "$TOK") fastcgi_param VEO_HMAC_KEY $KEY; fastcgi_param VEO_HMAC_KEY_PREVIOUS $KEYP;")
	$(loc deny r "$(sp "$T/s" "$TOK") fastcgi_param VEO_ALLOW_FROM 10.0.0.0/8;")
	$(loc allow r "$(sp "$T/s" "$TOK") fastcgi_param VEO_ALLOW_FROM '192.0.2.0/24, 127.0.0.0/8';")
	$(loc allow6 r "$(sp "$T/s" "$TOK") fastcgi_param VEO_ALLOW_FROM ::1/128;")
	$(loc nospool r "$(sp "$T/nospool" "$TOK")")
	$(loc u r "$(sp "$T/u" "$TOK") fastcgi_request_buffering off;")
	$(loc c r "$(sp "$T/c" "$TOK")")
	$(loc badcfg bad '')
	$(loc plain plain '')
"
ok $? "nginx listening on 127.0.0.1:$P"
URL=http://127.0.0.1:$P

# hreq CURL-ARGS...: one request; sets ST, BODY and the headers in $T/hdrs.
hreq() {
	ST=$(curl -s -o "$T/body" -D "$T/hdrs" -w '%{http_code}' "$@")
	BODY=$(cat "$T/body")
}
# post PATH BODY [CURL-ARGS...]: a JSON POST with Content-Length.  (A second
# -H 'Content-Type: ...' in CURL-ARGS would not replace the first: use hreq.)
post() {
	_p=$1; printf '%s' "$2" >"$T/pbody"; shift 2
	hreq -H 'Content-Type: application/json' --data-binary @"$T/pbody" "$@" "$URL/$_p"
}
hdr() { reply_header "$1" <"$T/hdrs"; }
# expect STATUS DESC: the status, our JSON body, and our headers (nginx's own
# error pages have neither), so the reply is known to come from the responder.
expect() {
	is "$ST" "$1" "$2: status $1"
	if [ "$1" = 200 ]; then
		is "$BODY" '{"code":200,"msg":"success"}' "$2: success body"
	else
		is "$(printf '%s' "$BODY" | json_code)" "$1" "$2: JSON error body with code $1"
	fi
	is "$(hdr X-Content-Type-Options)" nosniff "$2: reply made by the responder"
}
has() { [ -f "$1" ]; echo $?; }
hasnt() { [ ! -e "$1" ]; echo $?; }

# ---- per-request parameters beat the environment: one pool, three sites ----
post "a?token=$TOKA" "$(sample_body site1)"
expect 200 "/a with its token"
ok "$(has "$T/a/new/site1")" "/a stored in its own spool"
ok "$(hasnt "$T/env/new/site1")" "/a not stored in the environment's spool"
post "a?token=$TOKB" "$(sample_body site2)"
expect 401 "/a with /b's token"
post "a?token=$ENVTOK" "$(sample_body site2)"
expect 401 "/a with the environment's token"
post "b?token=$TOKB" "$(sample_body site2)"
expect 200 "/b with its token"
ok "$(has "$T/b/new/site2")" "/b stored in its own spool"
post "callback?token=$TOKA" "$(sample_body site3)"
expect 401 "/callback (no fastcgi_param) with /a's token"
post "callback?token=$ENVTOK" "$(sample_body site3)"
expect 200 "/callback with the environment's token"
ok "$(has "$T/env/new/site3")" "/callback stored in the environment's spool"
# Interleaved, so that every child serves several sites in turn: nothing of
# one request's parameters may stick to the next.
for i in 1 2 3 4 5 6 7 8; do
	post "a?token=$TOKA" "$(sample_body mix$i)" -o /dev/null
	post "b?token=$TOKB" "$(sample_body mix$i)" -o /dev/null
	post "callback?token=$ENVTOK" "$(sample_body mix$i)" -o /dev/null
done
is "$(ls "$T/a/new" | grep -c '^mix') $(ls "$T/b/new" | grep -c '^mix') $(ls "$T/env/new" | grep -c '^mix')" \
	"8 8 8" "24 interleaved posts: each site's 8 in its own spool"
post "callback?token=$ENVTOK" "$(sample_body site4)" -H 'VEO-TOKEN: x' -H 'VEO_SPOOL_DIR: /tmp'
expect 200 "request headers named like parameters change nothing"
ok "$(has "$T/env/new/site4")" "stored in the environment's spool regardless"

# ---- byte for byte, duplicate, replace ----
B1=$(sample_body veo_task_ng1)
post "s?token=$TOK" "$B1"
expect 200 "stored"
entry_body "$T/s/new/veo_task_ng1" | cmp -s - "$T/pbody"; ok $? "stored body byte-identical"
is "$(entry_field "$T/s/new/veo_task_ng1" remote-addr)" 127.0.0.1 "remote-addr from nginx"
_before=$(stat -c '%i %s %y %z' "$T/s/new/veo_task_ng1")
post "s?token=$TOK" "$B1"
expect 200 "duplicate"
is "$(stat -c '%i %s %y %z' "$T/s/new/veo_task_ng1")" "$_before" "the duplicate leaves the entry untouched"
post "s?token=$TOK" '{"code":500,"msg":"internal error","data":{"taskId":"veo_task_ng1"}}'
expect 200 "different body, same task"
is "$(count_files "$T/s/new") $(count_files "$T/s/old") $(count_files "$T/s/tmp")" "1 1 0" "new/ 1, old/ 1, tmp/ 0"

# ---- 405 ----
hreq "$URL/s?token=$TOK"
expect 405 "GET"
is "$(hdr Allow)" POST "GET: Allow: POST"
hreq -X PUT -H 'Content-Type: application/json' --data-binary "$B1" "$URL/s?token=$TOK"
expect 405 "PUT"
hreq -I "$URL/s?token=$TOK"
is "$ST" 405 "HEAD: status 405"
is "$(hdr Allow)" POST "HEAD: Allow: POST"

# ---- 403 ----
post "deny?token=$TOK" "$(sample_body ad1)"
expect 403 "127.0.0.1 outside allow_from 10.0.0.0/8"
post "allow?token=$TOK" "$(sample_body ad1)"
expect 200 "127.0.0.1 inside allow_from"
if [ "$V6" ]; then
	hreq -g -H 'Content-Type: application/json' --data-binary "$(sample_body ad2)" "http://[::1]:$P/allow6?token=$TOK"
	expect 200 "::1 inside allow_from ::1/128"
	is "$(entry_field "$T/s/new/ad2" remote-addr)" ::1 "IPv6 remote-addr stored"
	post "allow6?token=$TOK" "$(sample_body ad3)"
	expect 403 "127.0.0.1 outside allow_from ::1/128"
else
	for i in 1 2 3 4 5 6 7; do echo "ok $((_tap_n + 1)) # skip no IPv6 loopback"; _tap_n=$((_tap_n + 1)); done
fi

# ---- 401 token ----
post s "$(sample_body tk1)"
expect 401 "token missing"
post "s?token=nope" "$(sample_body tk1)"
expect 401 "token wrong"
ok "$(hasnt "$T/s/new/tk1")" "401 stored nothing"

# ---- 411, and what nginx does without Content-Length ----
# A POST without Content-Length and without a body: nginx 1.22 does not
# answer 411 itself; it passes the request on with CONTENT_LENGTH empty, and
# the responder answers 411.
hreq -X POST -H 'Content-Type: application/json' "$URL/s?token=$TOK"
expect 411 "POST without Content-Length"
# HTTP/1.0 with a body but no Content-Length: the same (nginx takes the body
# as empty and the bytes after the header are never read).
printf 'POST /s?token=%s HTTP/1.0\r\nContent-Type: application/json\r\n\r\n%s' "$TOK" "$(sample_body cl10)" >"$T/raw"
python3 - "$P" "$T/raw" >"$T/rawreply" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(open(sys.argv[2], "rb").read())
d = b""
while True:
    x = s.recv(65536)
    if not x:
        break
    d += x
sys.stdout.buffer.write(d)
PY
is "$(head -n 1 "$T/rawreply" | tr -d '\r' | cut -d' ' -f2)" 411 "HTTP/1.0 POST without Content-Length: 411"
is "$(reply_body <"$T/rawreply" | json_code)" 411 "HTTP/1.0: the 411 is the responder's JSON"
ok "$(hasnt "$T/s/new/cl10")" "nothing stored"
# Chunked: nginx reads the whole chunked body, then passes it with
# CONTENT_LENGTH set to its decoded length; so it is stored normally, and
# the responder (not nginx) still enforces max_body.
post "s?token=$TOK" "$(sample_body chunk1)" -H 'Transfer-Encoding: chunked'
expect 200 "chunked body"
entry_body "$T/s/new/chunk1" | cmp -s - "$T/pbody"; ok $? "chunked body stored byte for byte"
post "s?token=$TOK" "$(printf '%*s' $((MAXB + 1)) '' | tr ' ' x)" -H 'Transfer-Encoding: chunked'
expect 413 "chunked body over max_body"

# ---- 413, and exactly max_body ----
padded_body() {
	_base=$(sample_body "$1")
	printf '%s,"pad":"%s"}' "${_base%\}}" "$(printf "%$(($2 - ${#_base} - 9))s" '' | tr ' ' x)"
}
BM=$(padded_body maxb $MAXB)
is "${#BM}" $MAXB "padded body is max_body bytes"
post "s?token=$TOK" "$BM"
expect 200 "exactly max_body"
entry_body "$T/s/new/maxb" | cmp -s - "$T/pbody"; ok $? "max_body body stored byte for byte"
post "s?token=$TOK" "$(padded_body maxc $((MAXB + 1)))"
expect 413 "max_body + 1 (nginx allows 1m: the responder refuses)"
ok "$(hasnt "$T/s/new/maxc")" "413 stored nothing"
post "s?token=$TOK" "$(padded_body maxd $((1024 * 1024 + 1)))"
is "$ST" 413 "over nginx's client_max_body_size: 413"
is "$(hdr X-Content-Type-Options)" "" "... and that one is nginx's own"

# ---- 415 ----
hreq -H 'Content-Type: text/plain' --data-binary "$(sample_body ct1)" "$URL/s?token=$TOK"
expect 415 "text/plain"
hreq --data-binary "$(sample_body ct1)" "$URL/s?token=$TOK"
expect 415 "curl's default form type"
hreq -H 'Content-Type: application/json; charset=utf-8' --data-binary "$(sample_body ct1)" "$URL/s?token=$TOK"
expect 200 "application/json; charset=utf-8"

# ---- 400 ----
post "s?token=$TOK" '{"code":200,"msg":"x","data":{"taskId":"bj1"'
expect 400 "truncated JSON"
like "$BODY" "JSON" "400 says JSON"
post "s?token=$TOK" '{"code":501,"msg":"x","data":{"taskId":"../../etc/passwd"}}'
expect 400 "hostile taskId"
like "$BODY" "taskId" "400 names taskId"
post "s?token=$TOK" '{"code":501,"data":{"taskId":"bj2"}}'
expect 400 "msg missing"
like "$BODY" "msg" "400 names msg"
# A body shorter than its Content-Length, then end of input.  Buffered (the
# default), nginx waits for the whole body, sees the client go, and never
# calls the responder; the client gets no reply at all.  Unbuffered
# (fastcgi_request_buffering off), the responder is already running, reads
# the short body and refuses it with 400; nginx has nobody to send it to.
# (The client pauses before it ends its input: nginx connects to the
# responder as soon as it has the header, but if the end of input arrives
# in the same read, nginx gives up before calling it.)
short_post() {	# short_post PATH TASK PAUSE: prints how many bytes the client received
	_b=$(sample_body "$2")
	printf 'POST /%s?token=%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
		"$1" "$TOK" $((${#_b} + 50)) "$_b" >"$T/raw"
	python3 - "$P" "$T/raw" "$3" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(open(sys.argv[2], "rb").read())
time.sleep(float(sys.argv[3]))
s.shutdown(socket.SHUT_WR)
d = b""
while True:
    x = s.recv(65536)
    if not x:
        break
    d += x
print(len(d))
PY
}
is "$(short_post s short1 0)" 0 "short body, buffered: the client gets no reply"
ok "$(hasnt "$T/s/new/short1")" "short body, buffered: nothing stored"
is "$(short_post u short2 0.5)" 0 "short body, unbuffered: the client gets no reply"
ok "$(hasnt "$T/u/new/short2")" "short body, unbuffered: nothing stored"
_i=0; until grep -q 'status=400 .*body shorter than Content-Length' "$T/r.log" || [ $_i -gt 100 ]; do sleep 0.05; _i=$((_i + 1)); done
like "$(cat "$T/r.log")" 'status=400 .*body shorter than Content-Length' "short body, unbuffered: the responder logged 400"

# ---- 401 / 200 HMAC ----
NOW=$(date +%s)
post "h?token=$TOK" "$(sample_body hm1)"
expect 401 "signature missing"
post "h?token=$TOK" "$(sample_body hm1)" -H "X-Webhook-Timestamp: $NOW" \
	-H "X-Webhook-Signature: $(hmac_sign wrong hm1 "$NOW")"
expect 401 "signature wrong"
OLDTS=$((NOW - 1000))
post "h?token=$TOK" "$(sample_body hm1)" -H "X-Webhook-Timestamp: $OLDTS" \
	-H "X-Webhook-Signature: $(hmac_sign "$KEY" hm1 "$OLDTS")"
expect 401 "signature expired"
ok "$(hasnt "$T/h/new/hm1")" "401 stored nothing"
post "h?token=$TOK" "$(sample_body hm1)" -H "X-Webhook-Timestamp: $NOW" \
	-H "X-Webhook-Signature: $(hmac_sign "$KEY" hm1 "$NOW")"
expect 200 "signature right"
is "$(entry_field "$T/h/new/hm1" signature)" verified "entry signature: verified"
post "h?token=$TOK" "$(sample_body hm2)" -H "X-Webhook-Timestamp: $NOW" \
	-H "X-Webhook-Signature: $(hmac_sign "$KEYP" hm2 "$NOW")"
expect 200 "signature with hmac_key_previous"

# ---- 503 ----
post "nospool?token=$TOK" "$(sample_body sp1)"
expect 503 "spool_dir missing"
is "$(hdr Retry-After)" 30 "Retry-After: 30"
ok "$(hasnt "$T/nospool")" "missing spool_dir not created"
post badcfg "$(sample_body sp2)"
expect 503 "VEO_CONFIG names a missing file"
is "$(hdr Retry-After)" 30 "missing configuration: Retry-After"
ok "$(hasnt "$T/s/new/sp2")" "nothing stored"
_i=0; until grep -q 'status=503' "$T/bad.log" || [ $_i -gt 100 ]; do sleep 0.05; _i=$((_i + 1)); done
like "$(cat "$T/bad.log")" "configuration: .*missing\.conf: No such file" "that pool's log says the file is missing"

# ---- health ----
hreq "$URL/s?health"
is "$ST" 200 "GET /s?health: 200"
is "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["code"], d["spool"], d["pending"])' "$T/body")" \
	"200 writable $(count_files "$T/s/new")" "health JSON with the pending count"
ok "$(grep -q '/' "$T/body"; [ $? = 1 ]; echo $?)" "health reveals no path"
hreq "$URL/nospool?health"
is "$ST" 503 "health of a missing spool: 503"

# ---- slow bodies: buffered (nginx collects them) and unbuffered (the
# responder reads them as they come), sent in 8 pieces over about 2.5 s,
# each gap well inside client_body_timeout (5 s) ----
slow_post() {	# slow_post PATH TASK OUTFILE
	sample_body "$2" >"$T/slow.$2"
	python3 - "$P" "$1" "$TOK" "$T/slow.$2" >"$3" <<'PY' &
import socket, sys, time
port, path, tok, f = sys.argv[1:]
body = open(f, "rb").read()
s = socket.create_connection(("127.0.0.1", int(port)), timeout=15)
s.sendall(("POST /%s?token=%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
           % (path, tok, len(body))).encode())
n = 8
step = (len(body) + n - 1) // n
for i in range(0, len(body), step):
    time.sleep(0.3)
    s.sendall(body[i:i + step])
d = b""
while True:
    x = s.recv(65536)
    if not x:
        break
    d += x
sys.stdout.buffer.write(d)
PY
	SLOWPIDS="$SLOWPIDS $!"
}
SLOWPIDS=
slow_post s slow1 "$T/slow1.reply"
slow_post u slow2 "$T/slow2.reply"
wait $SLOWPIDS
is "$(head -n 1 "$T/slow1.reply" | cut -d' ' -f2)" 200 "slow body, buffered: 200"
entry_body "$T/s/new/slow1" | cmp -s - "$T/slow.slow1"; ok $? "slow body, buffered: stored byte for byte"
is "$(head -n 1 "$T/slow2.reply" | cut -d' ' -f2)" 200 "slow body, unbuffered: 200"
entry_body "$T/u/new/slow2" | cmp -s - "$T/slow.slow2"; ok $? "slow body, unbuffered: stored byte for byte"

# ---- concurrency: 20 posts of one taskId at once ----
conc() {	# conc NAME BODY-FILE-PREFIX: 20 parallel posts; codes in $T/NAME.codes
	_cp=
	for i in $(seq 20); do
		curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
			--data-binary @"$2.$i" "$URL/c?token=$TOK" >"$T/$1.code.$i" &
		_cp="$_cp $!"
	done
	wait $_cp
	cat "$T/$1".code.* | sort | uniq -c | sed 's/^ *//' >"$T/$1.codes"
}
for i in $(seq 20); do sample_body same1 >"$T/same.$i"; done
conc same "$T/same"
is "$(cat "$T/same.codes")" "20 200" "20 identical concurrent posts: all 200"
is "$(count_files "$T/c/new")" 1 "exactly one entry"
_i=0; until [ "$(grep -c 'task=same1 .*result=' "$T/r.log")" -ge 20 ] || [ $_i -gt 100 ]; do sleep 0.05; _i=$((_i + 1)); done
is "$(grep -c 'task=same1 .*result=duplicate' "$T/r.log") $(grep -c 'task=same1 .*result=stored' "$T/r.log")" \
	"19 1" "logged: one stored, 19 duplicates"
is "$(count_files "$T/c/old")" 0 "nothing in old/"
is "$(count_files "$T/c/tmp")" 0 "nothing left in tmp/"
entry_body "$T/c/new/same1" | cmp -s - "$T/same.1"; ok $? "the entry holds the body byte for byte"

for i in $(seq 20); do
	printf '{"code":501,"msg":"attempt %d","data":{"taskId":"diff1"}}' "$i" >"$T/diff.$i"
done
conc diff "$T/diff"
is "$(cat "$T/diff.codes")" "20 200" "20 different concurrent posts of one task: all 200"
ok "$(has "$T/c/new/diff1")" "new/diff1 exists"
is "$(ls "$T/c/new" | wc -l)" 2 "new/ holds one entry for the task (and same1)"
is "$(ls "$T/c/old" | grep -c '^diff1\.')" 19 "old/ holds the 19 replaced ones"
is "$(count_files "$T/c/tmp")" 0 "nothing left in tmp/"
# No callback lost: the 20 bodies posted are exactly the 20 bodies kept.
for f in "$T/c/new/diff1" "$T/c/old"/diff1.*; do entry_body "$f" | sha256sum; done | sort >"$T/kept"
for i in $(seq 20); do sha256sum <"$T/diff.$i"; done | sort >"$T/sent"
cmp -s "$T/kept" "$T/sent"; ok $? "every posted body is kept exactly once"

# ---- the log: one line per request on the responder's stderr ----
# (The responder writes its log line before libfcgi flushes the reply, so
# the line is there once curl has the answer.)
L0=$(grep -c 'status=' "$T/r.log")
for i in 1 2 3; do post "s?token=$TOK" "$(sample_body logline$i)" -o /dev/null; done
post "s?token=nope" "$(sample_body logline4)" -o /dev/null
hreq "$URL/s?health"
is "$(grep -c 'status=' "$T/r.log")" $((L0 + 5)) "five requests, five more log lines"
for i in 1 2 3; do
	is "$(grep -c "task=logline$i " "$T/r.log")" 1 "one log line for logline$i"
	like "$(grep "task=logline$i " "$T/r.log")" \
		"^veo-callback: [0-9T:.-]+Z status=200 task=logline$i remote=127\.0\.0\.1 us=[0-9]+ result=stored" \
		"log line for logline$i: status, task, remote, us, result"
done
like "$(tail -n 2 "$T/r.log" | head -n 1)" "status=401 task=- remote=127\.0\.0\.1 us=[0-9]+ result=rejected" \
	"the 401 is logged"
like "$(tail -n 1 "$T/r.log")" "status=200 task=- remote=127\.0\.0\.1 us=[0-9]+ result=health" \
	"the health check is logged"
for s in "$ENVTOK" "$TOKA" "$TOKB" "$TOK" "$KEY" "$KEYP"; do
	ok "$(grep -qF -- "$s" "$T/r.log" "$T/bad.log"; [ $? = 1 ]; echo $?)" "secret '${s:0:6}...' not in the log"
done
is "$(LC_ALL=C grep -c '[^ -~]' "$T/r.log")" 0 "the log is printable ASCII"
post "plain?token=$TOK" "$(sample_body viaerrlog)" -o /dev/null
is "$ST" 200 "the responder with stderr on /dev/null answers"
# Its lines go to syslog (log = auto), never through the FastCGI stderr
# stream: nginx would log them at [error] with the request line, token
# included (tests/logs.t follows them into syslog).
post "plain?token=$TOK" '{"code":200' -o /dev/null
is "$ST" 400 "and refuses bad JSON"
grep -q 'FastCGI sent in stderr' "$T/nginx.err"
is $? 1 "neither line reaches nginx's error log"
alive=0
for p in $(cat "$T/r.fcgi.pid"); do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
is "$alive" 4 "all 4 responders still running after every request above"

done_testing
