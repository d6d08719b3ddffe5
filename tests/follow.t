#!/bin/bash
# veo-spooler run --follow and a cron run that watches until its --max-time:
# callbacks stored by the real responder (CGI mode) are downloaded without a
# sweep started by the test; SIGTERM ends a follower cleanly with its .part
# kept; the inotify-less fallback (VEO_TEST_NO_INOTIFY, as on NFS); a
# follower and cron runs never fetch a file twice.
. "$(dirname "$0")/lib/common.sh"

[ -x "$SPOOLER" ] || skip_all "build/veo-spooler not built"

SPOOL=$T/spool DL=$T/videos WWW=$T/www
mkdir -p "$SPOOL" "$DL" "$WWW/v" "$WWW/slow" && : >"$T/empty.conf"
start_static PORT "$WWW" 'location /slow/ { limit_rate 256k; }' ||
	{ echo "Bail out! static nginx did not start"; exit 1; }
BASE="http://127.0.0.1:$PORT"

export VEO_CONFIG=$T/empty.conf VEO_SPOOL_DIR=$SPOOL VEO_DOWNLOAD_DIR=$DL \
	VEO_ALLOW_PRIVATE=yes VEO_HTTPS_ONLY=no VEO_SYNC=no VEO_MIN_FREE=0

post() {	# post BODY: store a callback through the real responder
	cgi_post "$1" VEO_SPOOL_DIR="$SPOOL" VEO_SYNC=no VEO_MIN_FREE=0 | cgi_status
}
field() {	# field TASKID KEY: a top-level field of status --json
	"$SPOOLER" status --json "$1" 2>/dev/null |
		python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])" 2>/dev/null
}
requests() {	# requests URI: how many GETs the static server logged for it
	grep -c "^GET $1 " "$T/static.access" 2>/dev/null || true
}
watching() { grep -q '^watching ' "$1" 2>/dev/null; }
state_is() { [ "$(field "$1" state)" = "$2" ]; }
gone() { ! proc_alive "$1"; }
follow() {	# follow OUT [ENV...]: a follower in the background; its pid in FPID
	_out=$1; shift
	env "$@" "$SPOOLER" -v run --follow >"$_out" 2>"$_out.err" &
	FPID=$!
	_pids="$_pids $FPID"
}

# ---- a follower takes a callback posted after it started ----
follow "$T/f1.out"
wait_until 30 "the follower to watch" watching "$T/f1.out"
ok $? "run --follow sweeps once, then watches the spool"
like "$(cat "$T/f1.out")" 'with inotify' "it watches with inotify"
make_video "$WWW/v/a.mp4" 300000
is "$(post "$(callback_json 200 ok follow_a "$BASE/v/a.mp4")")" 200 "a callback is stored"
wait_for_file "$DL/follow_a/result-0.mp4" 60
ok $? "the follower downloads it, no sweep started by the test"
is "$(sha256sum <"$DL/follow_a/result-0.mp4")" "$(sha256sum <"$WWW/v/a.mp4")" "the video is whole"
wait_until 30 "follow_a done" state_is follow_a done
ok $? "status says done"
is "$(post "$(callback_json 501 'generation failed' follow_b)")" 200 "a failure callback is stored"
wait_until 30 "follow_b failed" state_is follow_b failed
ok $? "the follower records the failure"
: >"$SPOOL/expect/follow_c"
wait_until 30 "follow_c registered" state_is follow_c pending
ok $? "a file in expect/ is taken at once"
proc_alive "$FPID"
ok $? "the follower is still running"

# ---- SIGTERM: exit 0 ----
kill -TERM "$FPID"
wait_until 30 "the follower to end" gone "$FPID"
wait "$FPID"; is $? 0 "SIGTERM ends an idle follower with exit status 0"

# ---- SIGTERM during a slow transfer: exit 0, .part kept, resumed later ----
make_video "$WWW/slow/big.mp4" 2000000
follow "$T/f2.out"
wait_until 30 "the follower to watch" watching "$T/f2.out"
post "$(callback_json 200 ok follow_slow "$BASE/slow/big.mp4")" >/dev/null
part=$DL/follow_slow/result-0.mp4.part
has_bytes() { [ -s "$part" ]; }
wait_until 60 "the slow transfer to start" has_bytes
ok $? "a slow transfer is under way"
kill -TERM "$FPID"
wait_until 60 "the follower to end" gone "$FPID"
wait "$FPID"; is $? 0 "SIGTERM during a transfer: exit status 0"
[ -s "$part" ]; ok $? "the .part is kept"
[ ! -e "$DL/follow_slow/result-0.mp4" ]; ok $? "nothing at the final name"
[ ! -e "$SPOOL/claim/follow_slow" ]; ok $? "the task's claim is let go"
is "$(field follow_slow state)" pending "the task is pending, ready to resume"
is "$(field follow_slow attempts)" 0 "no attempt counted"
"$SPOOLER" run --once --max-time 120 >/dev/null 2>"$T/resume.err"
is "$(sha256sum <"$DL/follow_slow/result-0.mp4" 2>/dev/null)" "$(sha256sum <"$WWW/slow/big.mp4")" \
	"the next run resumes it to the whole file"
grep -q '^GET /slow/big.mp4 [0-9]* "bytes=[1-9]' "$T/static.access"
ok $? "with a Range request"

# ---- a cron run stays until its budget and takes a callback meanwhile ----
"$SPOOLER" -v run --max-time 20 >"$T/c1.out" 2>"$T/c1.err" & CPID=$!
_pids="$_pids $CPID"
wait_until 30 "the cron run to watch" watching "$T/c1.out"
ok $? "a cron run that finished its work watches for new callbacks"
make_video "$WWW/v/c.mp4" 200000
post "$(callback_json 200 ok cron_c "$BASE/v/c.mp4")" >/dev/null
wait_for_file "$DL/cron_c/result-0.mp4" 60
ok $? "it downloads a callback posted meanwhile"
proc_alive "$CPID"
ok $? "and is still there afterwards (its budget is 20 s)"
wait_until 90 "the cron run to end" gone "$CPID"
ok $? "it ends once --max-time is spent"
wait "$CPID"; is $? 0 "exit status 0"
# As cron runs it: no -v, stdout not a terminal, nothing to say.
"$SPOOLER" run --max-time 2 >"$T/c2.out" 2>&1 </dev/null
is "$?:$(cat "$T/c2.out")" "0:" "a quiet cron run prints nothing"

# ---- without inotify (NFS): a scan every second ----
follow "$T/f3.out" VEO_TEST_NO_INOTIFY=1
wait_until 30 "the follower to watch" watching "$T/f3.out"
like "$(cat "$T/f3.out")" 'by a scan every second' "VEO_TEST_NO_INOTIFY=1: the fallback scan"
make_video "$WWW/v/d.mp4" 200000
post "$(callback_json 200 ok scan_d "$BASE/v/d.mp4")" >/dev/null
wait_for_file "$DL/scan_d/result-0.mp4" 60
ok $? "the scanning follower downloads a callback posted after it started"
: >"$SPOOL/expect/scan_e"
wait_until 30 "scan_e registered" state_is scan_e pending
ok $? "and takes expect/ files"
kill -TERM "$FPID"; wait_until 30 "the follower to end" gone "$FPID"
wait "$FPID"; is $? 0 "it stops on SIGTERM too"

# ---- a follower and cron runs (also as another host): each file once ----
follow "$T/f4.out"
wait_until 30 "the follower to watch" watching "$T/f4.out"
other_host=""
if unshare -u true 2>/dev/null; then other_host=1; fi
cron_pids=""
for i in 1 2 3; do
	"$SPOOLER" run --max-time 5 >/dev/null 2>&1 & cron_pids="$cron_pids $!"
	if [ -n "$other_host" ]; then
		unshare -u sh -c "hostname other$i && exec '$SPOOLER' run --max-time 5" \
			>/dev/null 2>&1 & cron_pids="$cron_pids $!"
	fi
done
for i in $(seq 1 12); do
	make_video "$WWW/v/m$i.mp4" 300000
	post "$(callback_json 200 ok many_$i "$BASE/v/m$i.mp4")" >/dev/null
done
all_done() {
	for i in $(seq 1 12); do [ -e "$DL/many_$i/result-0.mp4" ] || return 1; done
}
wait_until 120 "all twelve downloads" all_done
ok $? "twelve callbacks posted while a follower and cron runs sweep are all downloaded"
for p in $cron_pids; do wait "$p"; done
twice=0
for i in $(seq 1 12); do [ "$(requests "/v/m$i.mp4")" = 1 ] || twice=$((twice + 1)); done
is "$twice" 0 "no file was fetched twice (nginx access log)"
[ -n "$other_host" ] || diag "unshare -u unavailable: cron runs as another host not tried"
kill -TERM "$FPID"; wait_until 30 "the follower to end" gone "$FPID"
wait "$FPID"; is $? 0 "the follower exits 0"
is "$(cat "$T"/f[234].out.err)" "" "followers with nothing failing say nothing on stderr"

done_testing
