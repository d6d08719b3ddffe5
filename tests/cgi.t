#!/bin/bash
# The responder as a plain CGI program: request in the environment, body on
# stdin, reply on stdout, one log line on stderr.  No server involved.
. "$(dirname "$0")/lib/common.sh"
export LC_ALL=C		# ${#var} counts bytes

[ -x "$CALLBACK" ] || skip_all "build/veo-callback not built (run make)"

S=$T/spool
mkdir "$S"
CONF=$T/base.conf	# keeps /etc/veo-callback.conf out of the tests
# The log on stderr (under CGI, log = auto sends successes to syslog), and
# no authentication unless a test sets some: these tests are about the rest.
printf 'log = stderr\nauth = none\n' >"$CONF"
: >"$T/replies"
: >"$T/cgi.log"

# Secrets: none of these may ever show up in a reply or in the log.
TOKEN='tok-S3cr3t-plain-7Qx'
TOKEN2='tok%2FS3cr%26t+sp'	# compared raw: as it appears in the URL
TOKEN2_Q='tok/S3cr&t sp'	# what it would decode to
KEY='hmac-K3y-current-9Zr'
KEY_PREV='hmac-K3y-previous-4Wd'
FILE_TOKEN='tok-from-file-8Hm'

# The replies are read by one long-lived helper (tests/lib/cgi-reply.pl)
# rather than by cgi_status, reply_body and json_code, a few processes for
# every request: it gives the same values.
coproc READER { exec perl "$ROOT/tests/lib/cgi-reply.pl" "$T/replies" "$T/cgi.log"; }
# read_reply OUT [ERR]: appends OUT to $T/replies and ERR to $T/cgi.log; sets
# ST (status), BODY (reply body), JC (json_code of the body), LOG (ERR's text).
read_reply() {
	ST= JC= BODY= LOG=
	printf '%s %s\n' "$1" "${2:--}" >&"${READER[1]}"
	read -r ST JC _blen _llen <&"${READER[0]}" || { echo "Bail out! tests/lib/cgi-reply.pl died"; exit 1; }
	[ "$ST" = - ] && ST=
	[ "$_blen" -gt 0 ] && IFS= read -r -N "$_blen" BODY <&"${READER[0]}"
	[ "$_llen" -gt 0 ] && IFS= read -r -N "$_llen" LOG <&"${READER[0]}"
	return 0
}

# req STDIN-FILE [VAR=value ...]: one CGI request with exactly this
# environment; sets ST (status), BODY (reply body), JC, LOG (its stderr).
req() {
	_in=$1; shift
	env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 VEO_CONFIG="$CONF" VEO_LOG=stderr "$@" \
		"$CALLBACK" <"$_in" >"$T/out" 2>"$T/err"
	read_reply "$T/out" "$T/err"
}
# post BODY [VAR=value ...]: a well-formed POST of BODY; later VARs win.
post() {
	_b=$1; shift
	printf '%s' "$_b" >"$T/in"
	req "$T/in" REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH=${#_b} \
		REMOTE_ADDR=127.0.0.1 VEO_SPOOL_DIR="$S" "$@"
}
hdr() { reply_header "$1" <"$T/out"; }
# expect STATUS DESC: the status, a JSON body {"code":STATUS,"msg":...}, and
# exactly one request log line with status=, task=, remote=, us=.
expect() {
	is "$ST" "$1" "$2: status $1"
	if [ "$1" = 200 ]; then
		is "$BODY" '{"code":200,"msg":"success"}' "$2: success body"
	else
		is "$JC" "$1" "$2: JSON error body with code $1"
	fi
	_n=0	# lines of the log with status= (grep -c, without a process)
	while IFS= read -r _l; do [[ $_l == *status=* ]] && _n=$((_n + 1)); done <<<"$LOG"
	is "$_n" 1 "$2: one request log line"
	like "$LOG" "^veo-callback: [0-9T:.-]+Z status=$1 task=[^ ]+ remote=[^ ]+ us=[0-9]+ " \
		"$2: log line format"
}
# The spool's state as "new old tmp" counts.
counts() { echo "$(count_files "$1/new") $(count_files "$1/old") $(count_files "$1/tmp")"; }
# A valid body of exactly SIZE bytes, padded by an extra field.
padded_body() {
	_base=$(sample_body "$1")
	_n=$(($2 - ${#_base} - 9))
	printf '%s,"pad":"%s"}' "${_base%\}}" "$(printf "%${_n}s" '' | tr ' ' x)"
}
# Runs the responder with a stdin that is open but never delivers a byte:
# a check that reads the body would hang until timeout kills it (status 124).
mkfifo "$T/never"
exec 7<>"$T/never"
noread() {
	timeout 5 env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 VEO_CONFIG="$CONF" VEO_LOG=stderr \
		REQUEST_METHOD=POST CONTENT_TYPE=application/json REMOTE_ADDR=127.0.0.1 \
		VEO_SPOOL_DIR="$S" "$@" "$CALLBACK" <&7 >"$T/out" 2>>"$T/cgi.log"
	RC=$?
	read_reply "$T/out"
}

# ---- 200 stored, byte for byte ----
B1=$(sample_body veo_task_abc123)
post "$B1" REMOTE_ADDR=203.0.113.9
expect 200 "new callback"
E=$S/new/veo_task_abc123
ok "$([ -f "$E" ]; echo $?)" "entry new/veo_task_abc123 exists"
entry_body "$E" >"$T/stored"
printf '%s' "$B1" >"$T/posted"
cmp -s "$T/stored" "$T/posted"; ok $? "stored body is byte-identical to the posted one"
is "$(head -n 1 "$E")" "VEO-CALLBACK-ENTRY 1" "entry starts with the magic line"
is "$(entry_field "$E" task-id)" veo_task_abc123 "entry task-id"
is "$(entry_field "$E" code)" 200 "entry code"
is "$(entry_field "$E" remote-addr)" 203.0.113.9 "entry remote-addr"
is "$(entry_field "$E" signature)" unsigned "entry signature: unsigned without hmac_key"
is "$(grep -c -e '^duplicates:' -e '^last-received:' "$E")" 0 "no duplicates or last-received line"
is "$(entry_field "$E" body-length)" "${#B1}" "entry body-length"
is "$(entry_field "$E" body-sha256)" "$(sha256sum <"$T/posted" | cut -d' ' -f1)" "entry body-sha256"
is "$(counts "$S")" "1 0 0" "one entry in new/, nothing in old/ or tmp/"
like "$LOG" "task=veo_task_abc123 remote=203\.0\.113\.9 .*result=stored" "log names task, address, result"
is "$(hdr Content-Type)" application/json "reply Content-Type"
is "$(hdr Content-Length)" "$(($(reply_body <"$T/out" | wc -c)))" "reply Content-Length matches the body"
RECEIVED=$(entry_field "$E" received)

# ---- 200 duplicate: read and compared, nothing written ----
cp "$E" "$T/entry.before"
STAT_BEFORE=$(stat -c '%i %s %y %z' "$E")
sleep 0.01	# so that a rewrite would show in the times
post "$B1" REMOTE_ADDR=203.0.113.10
expect 200 "identical repeat"
like "$LOG" "result=duplicate" "log says duplicate"
is "$(stat -c '%i %s %y %z' "$E")" "$STAT_BEFORE" "the entry is untouched: same inode, size, mtime, ctime"
cmp -s "$E" "$T/entry.before"; ok $? "the entry is byte for byte what it was"
is "$(entry_field "$E" received)" "$RECEIVED" "received time unchanged"
is "$(entry_field "$E" remote-addr)" 203.0.113.9 "first remote-addr kept"
is "$(counts "$S")" "1 0 0" "nothing else new"

# What a repeat does, system call by system call: no fsync, no lock, no
# write into the spool (sync is on, the default).  The first store of a
# task, traced the same way, shows that the trace sees them.
# traced NAME BODY: posts BODY under strace; the calls of interest in $T/NAME.trace.
traced() {
	printf '%s' "$2" >"$T/in"
	env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 VEO_CONFIG="$CONF" VEO_LOG=stderr \
		REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH=${#2} \
		REMOTE_ADDR=127.0.0.1 VEO_SPOOL_DIR="$S" \
		strace -f -qq -o "$T/$1.strace" \
		-e trace=fsync,fdatasync,syncfs,sync_file_range,flock,fcntl,open,openat,link,linkat,rename,renameat,renameat2,unlink,unlinkat,fsetxattr,setxattr,fchmod,utimensat \
		"$CALLBACK" <"$T/in" >"$T/out" 2>"$T/err"
	read_reply "$T/out" "$T/err"
	# fsync and locks anywhere; files opened for writing, links, renames,
	# removals and attribute changes in the spool.
	grep -E "fsync|fdatasync|syncfs|sync_file_range|flock\(|F_SETLK|F_OFD_SETLK|\
(open|openat|link|linkat|rename|renameat|renameat2|unlink|unlinkat|setxattr)\(.*$S.*|fsetxattr|fchmod|utimensat" \
		"$T/$1.strace" | grep -Ev "^[0-9]+ +(open|openat)\(.*O_RDONLY" >"$T/$1.trace"
}
if command -v strace >/dev/null && strace -qq -o /dev/null true 2>/dev/null; then
	traced first "$(sample_body veo_task_traced)"
	is "$ST" 200 "traced: the first store answered 200"
	like "$(cat "$T/first.trace")" "fsync" "traced: the first store fsyncs (the trace sees it)"
	traced repeat "$(sample_body veo_task_traced)"
	is "$ST" 200 "traced: the identical repeat answered 200"
	like "$LOG" "result=duplicate" "traced: a duplicate"
	is "$(cat "$T/repeat.trace")" "" "traced: the repeat makes no fsync, takes no lock, writes nothing in the spool"
	rm -f "$S/new/veo_task_traced"
else
	for i in 1 2 3 4 5; do ok 0 "traced # SKIP strace not installed or not allowed"; done
fi

# ---- different body for the same task: kept, old one moved to old/ ----
B2=$(printf '{"code":501,"msg":"Veo3.1 generation failed","data":{"taskId":"veo_task_abc123","info":null,"fallbackFlag":false}}')
post "$B2"
expect 200 "different body, same task"
like "$LOG" "result=replaced" "log says replaced"
entry_body "$E" | cmp -s - <(printf '%s' "$B2"); ok $? "new/ holds the new body"
is "$(entry_field "$E" code)" 501 "new entry code 501"
is "$(counts "$S")" "1 1 0" "one entry in new/, one in old/, nothing in tmp/"
OLD=$(find "$S/old" -type f | head -n 1)
like "${OLD##*/}" '^veo_task_abc123\.' "old/ entry named after the task"
entry_body "$OLD" | cmp -s - "$T/posted"; ok $? "old/ keeps the first body byte for byte"

# ---- 32 concurrent identical repeats, one different callback among them ----
# Nothing answered 200 may be lost: both bodies end up in new/ or old/, one
# old/ entry per replacement, and the repeats never wait for each other.
S2=$T/spool-conc
mkdir "$S2"
sample_body veo_task_conc | tr -d '\n' >"$T/conc.rep"
printf '{"code":501,"msg":"failed meanwhile","data":{"taskId":"veo_task_conc"}}' >"$T/conc.diff"
cgi_once() {	# cgi_once BODY-FILE N: one CGI post into $S2; reply in conc.out.N, log in conc.err.N
	env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 VEO_CONFIG="$CONF" VEO_LOG=stderr \
		REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH="$(stat -c %s "$1")" \
		REMOTE_ADDR=127.0.0.1 VEO_SPOOL_DIR="$S2" "$CALLBACK" <"$1" >"$T/conc.out.$2" 2>"$T/conc.err.$2"
}
cgi_once "$T/conc.rep" 0
_cp=
for i in $(seq 1 32); do
	cgi_once "$T/conc.rep" "$i" &
	_cp="$_cp $!"
	if [ "$i" = 16 ]; then cgi_once "$T/conc.diff" d & _cp="$_cp $!"; fi
done
wait $_cp
is "$(for f in "$T"/conc.out.*; do cgi_status <"$f"; done | sort | uniq -c | sed 's/^ *//')" "34 200" \
	"32 concurrent repeats and one different callback: all 34 answered 200"
is "$(cat "$T"/conc.err.* | grep -c 'result=stored')" 1 "one store created the entry"
is "$(cat "$T"/conc.err.* | grep -c 'result=replaced')" "$(count_files "$S2/old")" \
	"one old/ entry per replacement"
is "$(count_files "$S2/new") $(count_files "$S2/tmp")" "1 0" "one entry in new/, nothing in tmp/"
_kept=
for f in "$S2"/new/* "$S2"/old/*; do
	entry_body "$f" | cmp -s - "$T/conc.rep" && _kept="${_kept}r"
	entry_body "$f" | cmp -s - "$T/conc.diff" && _kept="${_kept}d"
done
like "$_kept" "r" "the repeated callback is kept"
like "$_kept" "d" "the different callback is kept"

# 4K callbacks spell it task_id
post '{"code":501,"msg":"4K failed","data":{"task_id":"veo_4k_1"}}'
expect 200 "data.task_id accepted"
ok "$([ -f "$S/new/veo_4k_1" ]; echo $?)" "stored under its task_id"

# ---- 405 ----
for m in GET PUT HEAD DELETE; do
	post "$B1" REQUEST_METHOD=$m
	expect 405 "$m"
	is "$(hdr Allow)" POST "$m: Allow: POST"
done
: >"$T/empty"
req "$T/empty" VEO_SPOOL_DIR="$S"
expect 405 "no REQUEST_METHOD"
is "$(counts "$S")" "2 1 0" "405s stored nothing"

# ---- 403 allow_from ----
post "$(sample_body af1)" VEO_ALLOW_FROM=10.0.0.0/8 REMOTE_ADDR=127.0.0.1
expect 403 "address outside allow_from"
post "$(sample_body af1)" VEO_ALLOW_FROM=10.0.0.0/8 REMOTE_ADDR=
expect 403 "no REMOTE_ADDR with allow_from"
post "$(sample_body af1)" VEO_ALLOW_FROM="192.0.2.0/24, 10.0.0.0/8" REMOTE_ADDR=10.200.3.4
expect 200 "address inside allow_from (second entry)"
post "$(sample_body af2)" VEO_ALLOW_FROM=2001:db8::/32 REMOTE_ADDR=2001:db8:1::5
expect 200 "IPv6 address inside allow_from"
is "$(entry_field "$S/new/af2" remote-addr)" 2001:db8:1::5 "IPv6 remote-addr stored"
post "$(sample_body af3)" VEO_ALLOW_FROM=2001:db8::/32 REMOTE_ADDR=2001:db9::5
expect 403 "IPv6 address outside allow_from"
post "$(sample_body af3)" VEO_ALLOW_FROM=10.0.0.0/8 REMOTE_ADDR=::ffff:10.1.2.3
expect 200 "IPv4-mapped IPv6 address matches the IPv4 block"
post "$(sample_body af4)" VEO_ALLOW_FROM=10.0.0.0/33 REMOTE_ADDR=10.1.2.3
expect 503 "malformed allow_from"
is "$(hdr Retry-After)" 30 "malformed allow_from: Retry-After"
like "$LOG" "allow_from" "malformed allow_from: the log says which key"
ok "$([ ! -e "$S/new/af4" ]; echo $?)" "403/503 stored nothing"

# ---- 401 token ----
post "$(sample_body tk1)" VEO_TOKEN="$TOKEN"
expect 401 "token missing"
post "$(sample_body tk1)" VEO_TOKEN="$TOKEN" QUERY_STRING="token=wrong"
expect 401 "token wrong"
post "$(sample_body tk1)" VEO_TOKEN="$TOKEN" QUERY_STRING="token=${TOKEN}x"
expect 401 "token with an extra character"
post "$(sample_body tk1)" VEO_TOKEN="$TOKEN" QUERY_STRING="xtoken=$TOKEN"
expect 401 "token under another parameter name"
post "$(sample_body tk1)" VEO_TOKEN="$TOKEN" QUERY_STRING="token="
expect 401 "token empty"
ok "$([ ! -e "$S/new/tk1" ]; echo $?)" "401s stored nothing"
post "$(sample_body tk1)" VEO_TOKEN="$TOKEN" QUERY_STRING="token=$TOKEN"
expect 200 "token right"
post "$(sample_body tk2)" VEO_TOKEN="$TOKEN" QUERY_STRING="a=1&token=$TOKEN&b=2"
expect 200 "token right among other parameters"
# One rule: the raw, undecoded query value against the token as configured.
post "$(sample_body tk3)" VEO_TOKEN="$TOKEN2" QUERY_STRING="token=$TOKEN2"
expect 200 "a token with '%' and '+' matches byte for byte"
post "$(sample_body tk4)" VEO_TOKEN="$TOKEN2" QUERY_STRING="token=tok%2fS3cr%26t+sp"
expect 401 "the same token, other hex case: no match (not decoded)"
post "$(sample_body tk4)" VEO_TOKEN="$TOKEN2_Q" QUERY_STRING="token=$TOKEN2"
expect 401 "a configured token is not matched by its percent-encoding"
post "$(sample_body tk4)" VEO_TOKEN="a b" QUERY_STRING="token=a+b"
expect 401 "'+' is not a space"
post "$(sample_body tk5)" VEO_TOKEN="a+b" QUERY_STRING="token=a+b"
expect 200 "'+' is a plus"
post "$(sample_body tk4)" VEO_TOKEN="$TOKEN2" QUERY_STRING="token=tok%2"
expect 401 "a prefix of the token"

# ---- 411 / 413: before a byte of the body is read ----
noread VEO_MAX_BODY=1024
is "$RC" 0 "no CONTENT_LENGTH: answered without reading stdin"
is "$ST" 411 "no CONTENT_LENGTH: 411"
is "$JC" 411 "411 JSON body"
noread VEO_MAX_BODY=1024 CONTENT_LENGTH=
is "$ST" 411 "empty CONTENT_LENGTH: 411"
noread VEO_MAX_BODY=1024 CONTENT_LENGTH=1025
is "$RC" 0 "over max_body: answered without reading stdin"
is "$ST" 413 "CONTENT_LENGTH max_body+1: 413"
is "$JC" 413 "413 JSON body"
noread CONTENT_LENGTH=65537
is "$ST" 413 "default max_body is 64K"
noread VEO_MAX_BODY=1024 CONTENT_LENGTH=99999999999999999999999999
is "$ST" 413 "absurd CONTENT_LENGTH (would overflow): 413"
noread VEO_MAX_BODY=1024 CONTENT_LENGTH=12x
is "$ST" 400 "non-numeric CONTENT_LENGTH: 400"
noread VEO_MAX_BODY=1024 CONTENT_LENGTH=-5
is "$ST" 400 "negative CONTENT_LENGTH: 400"
noread VEO_TOKEN="$TOKEN" CONTENT_LENGTH=100
is "$RC.$ST" 0.401 "wrong token: 401 without reading stdin"
noread VEO_ALLOW_FROM=10.0.0.0/8 CONTENT_LENGTH=100
is "$RC.$ST" 0.403 "address refused: 403 without reading stdin"
noread CONTENT_LENGTH=100 CONTENT_TYPE=text/plain
is "$RC.$ST" 0.415 "wrong type: 415 without reading stdin"

# The cheapest check decides.
post "$(sample_body ord1)" REQUEST_METHOD=GET VEO_TOKEN="$TOKEN" VEO_ALLOW_FROM=10.0.0.0/8
is "$ST" 405 "method checked before address and token"
post "$(sample_body ord1)" VEO_TOKEN="$TOKEN" VEO_ALLOW_FROM=10.0.0.0/8
is "$ST" 403 "address checked before token"
post "$(sample_body ord1)" VEO_TOKEN="$TOKEN" CONTENT_LENGTH=99999999 CONTENT_TYPE=text/plain
is "$ST" 401 "token checked before length"
post "$(sample_body ord1)" CONTENT_LENGTH=99999999 CONTENT_TYPE=text/plain
is "$ST" 413 "length checked before type"
post '{"code":' VEO_TOKEN="$TOKEN"
is "$ST" 401 "token checked before the JSON"
post '{"code":' VEO_HMAC_KEY="$KEY"
is "$ST" 400 "JSON checked before the signature"

# Exactly max_body is accepted; one byte more is not.
BMAX=$(padded_body maxb 1024)
is "${#BMAX}" 1024 "padded body is 1024 bytes"
post "$BMAX" VEO_MAX_BODY=1024
expect 200 "body of exactly max_body"
entry_body "$S/new/maxb" | cmp -s - <(printf '%s' "$BMAX"); ok $? "max_body body stored byte for byte"
BOVER=$(padded_body maxc 1025)
post "$BOVER" VEO_MAX_BODY=1024
expect 413 "body of max_body+1"
like "$BODY" "max_body" "413 message names max_body"
ok "$([ ! -e "$S/new/maxc" ]; echo $?)" "413 stored nothing"
post "$BOVER" VEO_MAX_BODY=1K
expect 413 "max_body given as 1K"

# ---- 415 ----
post "$(sample_body ct1)" CONTENT_TYPE=text/plain
expect 415 "text/plain"
post "$(sample_body ct1)" CONTENT_TYPE=application/jsonp
expect 415 "application/jsonp"
post "$(sample_body ct1)" CONTENT_TYPE=application/x-www-form-urlencoded
expect 415 "form-urlencoded"
printf '%s' "$(sample_body ct1)" >"$T/in"
req "$T/in" REQUEST_METHOD=POST CONTENT_LENGTH=$(wc -c <"$T/in") REMOTE_ADDR=127.0.0.1 VEO_SPOOL_DIR="$S"
expect 415 "no CONTENT_TYPE"
ok "$([ ! -e "$S/new/ct1" ]; echo $?)" "415 stored nothing"
post "$(sample_body ct1)" CONTENT_TYPE="application/json; charset=utf-8"
expect 200 "application/json; charset=utf-8"
post "$(sample_body ct2)" CONTENT_TYPE="Application/JSON"
expect 200 "media type is case-insensitive"

# ---- 400 short body ----
B=$(sample_body short1)
printf '%s' "$B" >"$T/in"
req "$T/in" REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH=$((${#B} + 10)) \
	REMOTE_ADDR=127.0.0.1 VEO_SPOOL_DIR="$S"
expect 400 "body shorter than CONTENT_LENGTH"
like "$BODY" "shorter than Content-Length" "400 says the body is short"
ok "$([ ! -e "$S/new/short1" ]; echo $?)" "short body stored nothing"
post "$(sample_body short2)" CONTENT_LENGTH=0
expect 400 "CONTENT_LENGTH 0"

# ---- 400 JSON and schema, naming the field ----
bad() {	# bad BODY FIELD-REGEX DESC
	post "$1"
	expect 400 "$3"
	like "$BODY" "$2" "$3: message names $2"
}
bad '{"code":200,"msg":"x","data":{"taskId":"bj1","info":{"resultUrls":["https://a/b"]}}' 'JSON' "truncated JSON"
bad '[1,2]' 'top level' "top level an array"
bad '{"code":"200","msg":"x","data":{"taskId":"bj2"}}' 'code' "code a string"
bad '{"msg":"x","data":{"taskId":"bj3"}}' 'code' "code missing"
bad '{"code":501,"data":{"taskId":"bj4"}}' 'msg' "msg missing"
bad '{"code":501,"msg":"x"}' 'data' "data missing"
bad '{"code":501,"msg":"x","data":{}}' 'taskId' "taskId missing"
bad '{"code":501,"msg":"x","data":{"taskId":5}}' 'taskId' "taskId a number"
bad '{"code":200,"msg":"x","data":{"taskId":"bj5","info":{"resultUrls":[]}}}' 'resultUrls' "code 200 without result URL"
bad '{"code":200,"msg":"x","data":{"taskId":"bj6","info":{"resultUrls":["ftp://a/b.mp4"]}}}' 'resultUrls' "ftp result URL"
bad "$(printf '{"code":501,"msg":"x\377","data":{"taskId":"bj7"}}')" 'UTF-8|JSON' "invalid UTF-8"
ok "$(ls "$S/new" | grep -c '^bj' | grep -qx 0; echo $?)" "no rejected body stored"

# ---- HMAC ----
NOW=$(date +%s)
HB=$(sample_body hm1)
post "$HB" VEO_HMAC_KEY="$KEY"
expect 401 "signature headers missing"
like "$BODY" "X-Webhook" "401 names the missing header"
post "$HB" VEO_HMAC_KEY="$KEY" HTTP_X_WEBHOOK_TIMESTAMP=$NOW
expect 401 "signature header missing, timestamp present"
post "$HB" VEO_HMAC_KEY="$KEY" HTTP_X_WEBHOOK_TIMESTAMP=$NOW \
	HTTP_X_WEBHOOK_SIGNATURE="$(hmac_sign wrong-key hm1 "$NOW")"
expect 401 "signature with the wrong key"
post "$HB" VEO_HMAC_KEY="$KEY" HTTP_X_WEBHOOK_TIMESTAMP=$NOW \
	HTTP_X_WEBHOOK_SIGNATURE="$(hmac_sign "$KEY" other_task "$NOW")"
expect 401 "signature for another taskId"
post "$HB" VEO_HMAC_KEY="$KEY" HTTP_X_WEBHOOK_TIMESTAMP=$((NOW + 1)) \
	HTTP_X_WEBHOOK_SIGNATURE="$(hmac_sign "$KEY" hm1 "$NOW")"
expect 401 "signature for another timestamp"
OLDTS=$((NOW - 1000))
post "$HB" VEO_HMAC_KEY="$KEY" HTTP_X_WEBHOOK_TIMESTAMP=$OLDTS \
	HTTP_X_WEBHOOK_SIGNATURE="$(hmac_sign "$KEY" hm1 "$OLDTS")"
expect 401 "expired timestamp (1000 s old, tolerance 300)"
like "$BODY" "skew|expired|outside" "401 says the timestamp is out of range"
FUTTS=$((NOW + 1000))
post "$HB" VEO_HMAC_KEY="$KEY" HTTP_X_WEBHOOK_TIMESTAMP=$FUTTS \
	HTTP_X_WEBHOOK_SIGNATURE="$(hmac_sign "$KEY" hm1 "$FUTTS")"
expect 401 "timestamp 1000 s in the future"
post "$HB" VEO_HMAC_KEY="$KEY" HTTP_X_WEBHOOK_TIMESTAMP=$OLDTS VEO_HMAC_TOLERANCE=2000 \
	HTTP_X_WEBHOOK_SIGNATURE="$(hmac_sign "$KEY" hm1 "$OLDTS")"
expect 200 "the same old timestamp within a larger hmac_tolerance"
rm -f "$S/new/hm1"	# so that the next entry is made by the next request alone
post "$HB" VEO_HMAC_KEY="$KEY" HTTP_X_WEBHOOK_TIMESTAMP=$NOW \
	HTTP_X_WEBHOOK_SIGNATURE="$(hmac_sign "$KEY" hm1 "$NOW")"
expect 200 "right signature"
is "$(entry_field "$S/new/hm1" signature)" verified "entry signature: verified"
post "$(sample_body hm2)" VEO_HMAC_KEY="$KEY" VEO_HMAC_KEY_PREVIOUS="$KEY_PREV" \
	HTTP_X_WEBHOOK_TIMESTAMP=$NOW HTTP_X_WEBHOOK_SIGNATURE="$(hmac_sign "$KEY_PREV" hm2 "$NOW")"
expect 200 "signature with hmac_key_previous"
post "$(sample_body hm3)" VEO_HMAC_KEY="$KEY" \
	HTTP_X_WEBHOOK_TIMESTAMP=$NOW HTTP_X_WEBHOOK_SIGNATURE="$(hmac_sign "$KEY_PREV" hm3 "$NOW")"
expect 401 "previous key not accepted once hmac_key_previous is unset"
post "$(sample_body hm3)" VEO_HMAC_KEY="$KEY" VEO_HMAC_KEY_PREVIOUS="$KEY_PREV" \
	HTTP_X_WEBHOOK_TIMESTAMP=$NOW HTTP_X_WEBHOOK_SIGNATURE="$(hmac_sign "$KEY" hm3 "$NOW")"
expect 200 "current key still accepted during a key change"
post "$(sample_body hm4)" VEO_HMAC_KEY="$KEY" HTTP_X_WEBHOOK_TIMESTAMP=" $NOW " \
	HTTP_X_WEBHOOK_SIGNATURE=" $(hmac_sign "$KEY" hm4 "$NOW") "
expect 200 "header values with surrounding blanks"
post "$(sample_body hm5)" VEO_HMAC_KEY="$KEY" HTTP_X_WEBHOOK_TIMESTAMP="${NOW}.5" \
	HTTP_X_WEBHOOK_SIGNATURE="$(hmac_sign "$KEY" hm5 "${NOW}.5")"
expect 401 "non-integer timestamp"
ok "$([ ! -e "$S/new/hm5" ]; echo $?)" "401 stored nothing"

# ---- 503: the spool cannot take the write ----
post "$(sample_body sp1)" VEO_SPOOL_DIR="$T/nospool"
expect 503 "spool_dir does not exist"
is "$(hdr Retry-After)" 30 "Retry-After: 30"
ok "$([ ! -e "$T/nospool" ]; echo $?)" "missing spool_dir not created"
ok "$(printf '%s' "$BODY" | grep -qF "$T"; [ $? = 1 ]; echo $?)" "503 does not reveal the spool path"
post "$(sample_body sp1)" VEO_SPOOL_DIR="$T/nospool" VEO_RETRY_AFTER=7
is "$(hdr Retry-After)" 7 "Retry-After follows retry_after"
post "$(sample_body sp1)" VEO_SPOOL_DIR=relative/spool
expect 503 "relative spool_dir"
post "$(sample_body sp1)" VEO_MAX_BODY=lots
expect 503 "bad max_body value"
like "$LOG" "max_body" "log names the bad key"
ok "$([ ! -e "$S/new/sp1" ]; echo $?)" "nothing stored while misconfigured"
printf '%s' "$(sample_body sp2)" >"$T/in"
req "$T/in" REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH=$(wc -c <"$T/in") \
	REMOTE_ADDR=127.0.0.1 VEO_SPOOL_DIR="$S" VEO_CONFIG="$T/missing.conf"
expect 503 "VEO_CONFIG names a missing file"
is "$(hdr Retry-After)" 30 "missing config: Retry-After"
like "$LOG" "configuration: .*missing\.conf: No such file" "log says the configuration file is missing"
ok "$([ ! -e "$S/new/sp2" ]; echo $?)" "nothing stored without configuration"

# The configuration file, and the environment over it.
mkdir "$T/filespool" "$T/envspool"
printf '# test\nspool_dir = %s\n  token = %s  \n' "$T/filespool" "$FILE_TOKEN" >"$T/file.conf"
printf '%s' "$(sample_body cf1)" >"$T/in"
req "$T/in" REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH=$(wc -c <"$T/in") \
	REMOTE_ADDR=127.0.0.1 VEO_CONFIG="$T/file.conf" QUERY_STRING="token=$FILE_TOKEN"
expect 200 "settings from the configuration file"
ok "$([ -f "$T/filespool/new/cf1" ]; echo $?)" "stored in the file's spool_dir"
req "$T/in" REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH=$(wc -c <"$T/in") \
	REMOTE_ADDR=127.0.0.1 VEO_CONFIG="$T/file.conf" VEO_SPOOL_DIR="$T/envspool" VEO_TOKEN= VEO_AUTH=none
expect 200 "environment beats the file; an empty value switches token off"
ok "$([ -f "$T/envspool/new/cf1" ]; echo $?)" "stored in the environment's spool_dir"
printf 'spool_dir = %s\nno_such_key = 1\n' "$S" >"$T/bad.conf"
req "$T/in" REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH=$(wc -c <"$T/in") \
	REMOTE_ADDR=127.0.0.1 VEO_CONFIG="$T/bad.conf"
expect 503 "unknown key in the configuration file"
like "$LOG" "bad\.conf:2: unknown key" "log names file, line and key"

# ---- health ----
NEWN=$(count_files "$S/new")
: >"$T/empty"
req "$T/empty" REQUEST_METHOD=GET QUERY_STRING=health VEO_SPOOL_DIR="$S" \
	VEO_TOKEN="$TOKEN" VEO_HMAC_KEY="$KEY" VEO_HMAC_KEY_PREVIOUS="$KEY_PREV" REMOTE_ADDR=127.0.0.1
is "$ST" 200 "GET ?health: 200"
is "$(printf '%s' "$BODY" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["code"], d["spool"], d["pending"])')" \
	"200 writable $NEWN" "health JSON: code, spool writable, pending = entries in new/"
ok "$(printf '%s' "$BODY" | grep -q '/'; [ $? = 1 ]; echo $?)" "health reveals no path"
ok "$(printf '%s' "$BODY" | grep -qiE 'tok|hmac|key'; [ $? = 1 ]; echo $?)" "health reveals no key"
like "$LOG" "status=200 .*result=health" "health logged"
req "$T/empty" REQUEST_METHOD=GET QUERY_STRING="a=b&health" VEO_SPOOL_DIR="$S"
is "$ST" 200 "GET ?a=b&health: 200"
req "$T/empty" REQUEST_METHOD=GET QUERY_STRING=healthy VEO_SPOOL_DIR="$S"
is "$ST" 405 "GET ?healthy is not a health check"
req "$T/empty" REQUEST_METHOD=GET QUERY_STRING=health VEO_SPOOL_DIR="$T/nospool"
is "$ST" 503 "health with a missing spool: 503"
is "$(hdr Retry-After)" 30 "health 503: Retry-After"
ok "$(printf '%s' "$BODY" | grep -qF "$T"; [ $? = 1 ]; echo $?)" "health 503 reveals no path"
ok "$([ ! -e "$T/nospool" ]; echo $?)" "health did not create the missing spool"

# ---- health is cheap and free of side effects ----
mkdir "$T/hfresh"
req "$T/empty" REQUEST_METHOD=GET QUERY_STRING=health VEO_SPOOL_DIR="$T/hfresh"
is "$ST" 200 "health of a fresh, writable spool_dir: 200"
is "$(ls -A "$T/hfresh" | wc -l)" 0 "health created nothing in it (no tmp/, new/, old/)"
mkdir -p "$T/hbig/new"
(cd "$T/hbig/new" && seq 1 3000 | sed 's/^/t/' | xargs touch)
req "$T/empty" REQUEST_METHOD=GET QUERY_STRING=health VEO_SPOOL_DIR="$T/hbig"
is "$(printf '%s' "$BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pending"])')" 1000 \
	"3000 waiting: health counts at most 1000 (does not read all of new/)"

# ---- authentication by default ----
# No token, hmac_key or allow_from, and no "auth = none": nothing is stored.
: >"$T/noauth.conf"
noauth() {	# noauth BODY [VAR=value ...]: a POST with the empty configuration file
	_b=$1; shift
	printf '%s' "$_b" >"$T/in"
	req "$T/in" REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH=${#_b} \
		REMOTE_ADDR=127.0.0.1 VEO_SPOOL_DIR="$S" VEO_CONFIG="$T/noauth.conf" "$@"
}
noauth "$(sample_body au1)"
expect 503 "no authentication configured"
is "$(hdr Retry-After)" 30 "no authentication: Retry-After (kie.ai retries once it is fixed)"
like "$LOG" "configuration: no authentication configured: set token, hmac_key or allow_from \(or auth = none" \
	"the log names the missing settings"
ok "$([ ! -e "$S/new/au1" ]; echo $?)" "no authentication: nothing stored"
noauth "$(sample_body au1)" VEO_AUTH=none
expect 200 "auth = none: stored on purpose"
noauth "$(sample_body au2)" VEO_ALLOW_FROM=127.0.0.0/8
expect 200 "allow_from alone is authentication enough"
noauth "$(sample_body au3)" VEO_AUTH=yes
expect 503 "auth = yes is not a value"
like "$LOG" "auth .*the only value is none" "the log says auth takes only none"
req "$T/empty" REQUEST_METHOD=GET QUERY_STRING=health VEO_SPOOL_DIR="$S" VEO_CONFIG="$T/noauth.conf"
is "$ST" 503 "health without authentication configured: 503"
out=$(env -i PATH=/usr/bin:/bin VEO_CONFIG="$T/noauth.conf" VEO_SPOOL_DIR="$S" "$CALLBACK" --check-config)
like "$out" "# authentication: no authentication configured: set token, hmac_key or allow_from" \
	"--check-config says authentication is missing"
out=$(env -i PATH=/usr/bin:/bin VEO_CONFIG="$T/noauth.conf" VEO_SPOOL_DIR="$S" VEO_AUTH=none "$CALLBACK" --check-config)
like "$out" "# authentication: none \(auth = none\)" "--check-config says auth = none lets anyone store"
out=$(env -i PATH=/usr/bin:/bin VEO_CONFIG="$T/noauth.conf" VEO_SPOOL_DIR="$S" VEO_TOKEN="$TOKEN" "$CALLBACK" --check-config)
is "$(printf '%s\n' "$out" | grep -c '^# authentication\|^# warning')" 0 "--check-config: a plain token, nothing to say"
out=$(env -i PATH=/usr/bin:/bin VEO_CONFIG="$T/noauth.conf" VEO_SPOOL_DIR="$S" VEO_TOKEN="$TOKEN2" "$CALLBACK" --check-config)
like "$out" "# warning: token holds '%'.*raw, undecoded" "--check-config warns about a token with '%'"
ok "$(printf '%s' "$out" | grep -qF "$TOKEN2"; [ $? = 1 ]; echo $?)" "... without showing the token"

# ---- hostile taskIds ----
mkdir -p "$T/cwd/a/b"
rm -f /tmp/pwned
touch "$T/marker"
BEFORE=$(find "$S" | sort)
HOSTILE_LOG=$T/hostile.log
: >"$HOSTILE_LOG"
hostile() {	# hostile TASKID-AS-JSON-STRING DESC
	post "{\"code\":501,\"msg\":\"x\",\"data\":{\"taskId\":$1}}"
	expect 400 "hostile taskId $2"
	like "$BODY" "taskId" "hostile taskId $2: message names taskId"
	printf '%s\n' "$LOG" >>"$HOSTILE_LOG"
}
cd "$T/cwd/a/b" || exit 1
hostile '"../../etc/passwd"' "../../etc/passwd"
hostile '"../new/x"' "../new/x"
hostile '"/etc/passwd"' "absolute path"
hostile '"a\nb"' "with a newline"
hostile '"a\u001b[31mred\u001b[0m"' "with terminal escapes"
hostile '"a\u0000b"' "with a NUL"
hostile '"$(touch /tmp/pwned)"' "shell command substitution"
hostile "\"\$(touch $T/pwned)\"" "shell command substitution (private path)"
hostile '"`touch /tmp/pwned`"' "backticks"
hostile "\"$(printf 'a%.0s' $(seq 200))\"" "200 characters"
hostile "\"$(printf 'a%.0s' $(seq 129))\"" "129 characters"
hostile '".hidden"' "starting with a dot"
hostile '".."' ".."
hostile '""' "empty"
hostile '"a b"' "with a space"
hostile '"\u00e9t\u00e9"' "non-ASCII"
post '{"code":501,"msg":"x","data":{"task_id":"../../etc/passwd"}}'
expect 400 "hostile task_id"
post '{"code":501,"msg":"x","data":{"taskId":"ok_one","task_id":"../x"}}'
expect 400 "taskId and a hostile task_id that disagree"
cd "$ROOT" || exit 1
ok "$([ ! -e /tmp/pwned ] && [ ! -e "$T/pwned" ]; echo $?)" "no command ran"
is "$(find "$S" | sort)" "$BEFORE" "spool unchanged by hostile taskIds"
is "$(find "$T" -newer "$T/marker" -type f ! -path "$S/*" \
	! -name out ! -name err ! -name in ! -name replies ! -name cgi.log ! -name hostile.log | wc -l)" 0 \
	"no file created outside the spool"
ok "$([ ! -e "$T/etc" ] && [ ! -e "$T/cwd/etc" ] && [ ! -e "$T/cwd/a/etc" ]; echo $?)" "no traversal target created"
is "$(grep -c . "$HOSTILE_LOG")" 16 "one log line per hostile request"
is "$(LC_ALL=C grep -c '[^ -~]' "$HOSTILE_LOG")" 0 "hostile log lines hold only printable ASCII"
# A valid 128-character taskId is fine.
T128=$(printf 'b%.0s' $(seq 128))
post "$(sample_body "$T128")"
expect 200 "128-character taskId"
ok "$([ -f "$S/new/$T128" ]; echo $?)" "stored under its 128-character name"

# ---- secrets and the log as a whole ----
for s in "$TOKEN" "$TOKEN2" "$TOKEN2_Q" "$KEY" "$KEY_PREV" "$FILE_TOKEN"; do
	ok "$(grep -qF -- "$s" "$T/replies" "$T/cgi.log"; [ $? = 1 ]; echo $?)" "secret '${s:0:6}...' in no reply and no log line"
done
ok "$(grep -qF -- "S3cr3t" "$T/replies" "$T/cgi.log"; [ $? = 1 ]; echo $?)" "no fragment of a secret either"
is "$(LC_ALL=C grep -c '[^ -~]' "$T/cgi.log")" 0 "the whole log is printable ASCII"
is "$(grep -vc '^veo-callback: ' "$T/cgi.log")" 0 "every log line carries the program name"
is "$(count_files "$S/tmp")" 0 "nothing left in tmp/"

done_testing
