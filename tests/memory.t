#!/bin/bash
# Promise 8 for the responder: memory stays flat.
#  (a) valgrind: one FastCGI responder under valgrind behind nginx serves
#      2000 requests of every kind (valid, repeated, changed, failures,
#      malformed, schema errors, 401, 405, 413, 415, health), then exits on
#      SIGTERM; no errors, no definite or indirect leaks.  The CGI mode too,
#      for one request of each kind.
#  (b) RSS: one FastCGI responder (sync = no) behind nginx serves 100,000
#      requests (wrk, tests/lib/wrk-mix.lua); VmRSS after 100,000 is within
#      256 KiB of VmRSS after 10,000.
. "$(dirname "$0")/lib/common.sh"

for c in spawn-fcgi nginx python3 valgrind wrk; do
	command -v $c >/dev/null || skip_all "$c not installed"
done
[ -x "$CALLBACK" ] || skip_all "build/veo-callback not built (run make)"

VG_OPTS="--leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=no"
# vg_clean LOG: the valgrind log LOG ends in 0 errors and no definite or
# indirect leak.  Prints what it found.
vg_clean() {
	_errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$1" | tail -n 1)
	_def=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$1" | tr -d , | tail -n 1)
	_ind=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$1" | tr -d , | tail -n 1)
	grep -q 'All heap blocks were freed' "$1" && _def=0 _ind=0
	echo "errors=${_errs:-?} definitely-lost=${_def:-?} indirectly-lost=${_ind:-?}"
	[ "${_errs:-x}" = 0 ] && [ "${_def:-x}" = 0 ] && [ "${_ind:-x}" = 0 ]
}

# valgrind cannot replace malloc in a static program (make static,
# BINDIR_UNDER_TEST=build/static) and has no suppressions for its C library:
# part (a) is for dynamically linked builds only.
if readelf -d "$CALLBACK" 2>/dev/null | grep -q NEEDED; then
# ---- (a) valgrind, FastCGI behind nginx ----
SECONDS=0
SPOOL=$T/spool-vg
mkdir -p "$SPOOL"
printf '#!/bin/sh\nexec valgrind %s --log-file=%s "%s" "$@"\n' "$VG_OPTS" "$T/vg-fcgi.%p.log" "$CALLBACK" >"$T/vg.sh"
chmod 755 "$T/vg.sh"
FCGI_WRAPPER=$T/vg.sh start_fcgi vg 1 VEO_SPOOL_DIR="$SPOOL" VEO_SYNC=no VEO_MIN_FREE=0 \
	VEO_TOKEN=tok VEO_HMAC_KEY=hmac-secret || { ok 1 "responder under valgrind starts"; done_testing; }
VGPID=$(cat "$T/vg.fcgi.pid")
start_nginx PORT "$T/vg.sock" "fastcgi_read_timeout 120s;" || { ok 1 "nginx starts"; done_testing; }
python3 "$ROOT/tests/lib/mixload.py" "http://127.0.0.1:$PORT/callback" 2000 tok hmac-secret >"$T/mix.out"
ok $? "under valgrind: 2000 requests of every kind got their expected status"
grep -E '^#|wrong=[1-9]' "$T/mix.out"
diag "$(grep -v '^#' "$T/mix.out" | tr '\n' ';' | sed 's/ wrong=0//g')"
proc_alive "$VGPID"; ok $? "the responder under valgrind served them all in one process (pid $VGPID)"
kill -TERM "$VGPID"
wait_gone "$VGPID" 60; ok $? "it exits on SIGTERM"
out=$(vg_clean "$T/vg-fcgi.$VGPID.log"); rc=$?
ok $rc "FastCGI under valgrind: no errors, no definite or indirect leaks ($out)"
[ $rc = 0 ] && diag "valgrind: $(grep -E 'total heap usage' "$T/vg-fcgi.$VGPID.log" | sed 's/^==[0-9]*== *//')"
[ $rc = 0 ] || sed -n '/HEAP SUMMARY/,$s/^/# /p' "$T/vg-fcgi.$VGPID.log" | head -40
stop_nginx

diag "valgrind FastCGI part: ${SECONDS}s"

# ---- (a) valgrind, CGI mode: one request of each kind ----
SECONDS=0
printf '#!/bin/sh\nexec valgrind %s --log-file="$VG_LOG" "%s" "$@"\n' "$VG_OPTS" "$CALLBACK" >"$T/vgcgi.sh"
chmod 755 "$T/vgcgi.sh"
CSPOOL=$T/spool-cgi
mkdir -p "$CSPOOL"
CENV="VEO_SPOOL_DIR=$CSPOOL VEO_MIN_FREE=0 VEO_SYNC=yes VEO_AUTH=none"
n=0
# vg_cgi EXPECTED-STATUS DESCRIPTION BODY [VAR=value ...]
vg_cgi() {
	_want=$1 _what=$2 _body=$3; shift 3
	n=$((n + 1))
	# shellcheck disable=SC2086
	_st=$(CALLBACK=$T/vgcgi.sh cgi_post "$_body" VG_LOG="$T/vg-cgi.$n.log" $CENV "$@" | cgi_status)
	_out=$(vg_clean "$T/vg-cgi.$n.log"); _rc=$?
	[ "$_st" = "$_want" ] && [ $_rc = 0 ]
	ok $? "CGI under valgrind, $_what: $_want, clean ($_out)"
	[ $_rc = 0 ] || sed -n '/HEAP SUMMARY/,$s/^/# /p' "$T/vg-cgi.$n.log" | head -20
}
vg_cgi 200 "new callback" "$(sample_body vgcgi_1)"
vg_cgi 200 "identical repeat" "$(sample_body vgcgi_1)"
vg_cgi 200 "changed body" "$(sample_body vgcgi_1 | sed 's/1080p/720p/')"
vg_cgi 400 "malformed JSON" '{"code":200,"msg":"x","data":{'
vg_cgi 400 "bad taskId" "$(sample_body ../../etc)"
vg_cgi 415 "wrong Content-Type" "$(sample_body vgcgi_2)" CONTENT_TYPE=text/plain
vg_cgi 413 "over max_body" "$(callback_json 200 "$(printf '%0300d' 0)" vgcgi_3 https://cdn.example.com/3.mp4)" VEO_MAX_BODY=256
vg_cgi 401 "bad signature" "$(sample_body vgcgi_4)" VEO_HMAC_KEY=k HTTP_X_WEBHOOK_TIMESTAMP="$(date +%s)" HTTP_X_WEBHOOK_SIGNATURE=AAAA
vg_cgi 200 "health" "" REQUEST_METHOD=GET QUERY_STRING=health CONTENT_LENGTH=

diag "valgrind CGI part: ${SECONDS}s"
else
	diag "$CALLBACK is static: the valgrind part is not run"
fi

# ---- (b) flat RSS over 100,000 requests ----
SECONDS=0
MSPOOL=$T/spool-mem
mkdir -p "$MSPOOL"
start_fcgi mem 1 VEO_SPOOL_DIR="$MSPOOL" VEO_SYNC=no VEO_MIN_FREE=0 VEO_TOKEN=tok ||
	{ ok 1 "responder starts"; done_testing; }
MPID=$(cat "$T/mem.fcgi.pid")
: >"$T/nginx.access"
start_nginx PORT "$T/mem.sock" || { ok 1 "nginx starts"; done_testing; }
served() { wc -l <"$T/nginx.access"; }
# served_or_gone N PID: nginx has logged N requests, or PID has exited.
served_or_gone() { [ "$(served)" -ge "$1" ] || ! kill -0 "$2" 2>/dev/null; }
# drive TOTAL: wrk until nginx has logged TOTAL requests (2 threads, each
# stops itself after its share; wrk itself runs on until SIGINT); prints
# wrk's status summary into $T/wrk.out.  It waits for both shares, which is
# TOTAL or TOTAL + 1 requests, so that wrk has nothing left to send.
drive() {
	_from=$(served)
	_share=$((($1 - _from + 1) / 2))
	MIX_TOKEN=tok MIX_LIMIT=$_share wrk -t2 -c8 -d300s -s "$ROOT/tests/lib/wrk-mix.lua" \
		"http://127.0.0.1:$PORT/" >"$T/wrk.out" 2>&1 &
	_w=$!
	wait_until 150 "nginx to log $((_from + 2 * _share)) requests (wrk's two shares)" \
		served_or_gone $((_from + 2 * _share)) $_w
	kill -INT $_w 2>/dev/null
	wait $_w
}
rss0=$(rss_kb "$MPID")
drive 10000
n1=$(served) rss1=$(rss_kb "$MPID")
diag "wrk, first $n1: $(grep '^status' "$T/wrk.out" | tr '\n' ' ')"
drive 100000
n2=$(served) rss2=$(rss_kb "$MPID")
diag "wrk, all $n2: $(grep '^status' "$T/wrk.out" | tr '\n' ' ')"
diag "VmRSS: ${rss0} KiB at start, ${rss1} KiB after $n1 requests, ${rss2} KiB after $n2 requests"
diag "RSS part: ${SECONDS}s"
[ "$n2" -ge 100000 ]; ok $? "one responder process served $n2 requests"
proc_alive "$MPID"; ok $? "the same process (pid $MPID) is still serving"
is "$(awk '$9 ~ /^5/' "$T/nginx.access" | wc -l)" 0 "no request got a 5xx"
[ -n "$rss1" ] && [ -n "$rss2" ] && [ $((rss2 - rss1)) -lt 256 ]
ok $? "VmRSS grew by less than 256 KiB from 10,000 to 100,000 requests ($((${rss2:-0} - ${rss1:-0})) KiB)"

done_testing
