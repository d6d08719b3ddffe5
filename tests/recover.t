#!/bin/bash
# No video lost even when the callback is: veo-spooler with an api_key
# against the stand-in for kie.ai (tests/lib/kieserver.py).  Registering
# tasks (expect, and the expect/ drop directory), recovery for each
# successFlag, throttling and errors that are never the task's fault, an
# unknown task, a wrong key, a callback arriving after recovery, verify
# (agreeing, differing, failing, unreachable), 1080p and 4K upgrades, 4K
# callbacks in both shapes and their failure, and the key in no output.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/kie.sh"

[ -x "$SPOOLER" ] || skip_all "build/veo-spooler not built"
start_kieserver kie || { echo "Bail out! the kie.ai stand-in did not start"; exit 1; }

SPOOL=$T/spool DL=$T/videos ALL=$T/all-output
mkdir -p "$SPOOL" "$DL" && : >"$T/empty.conf"
export VEO_CONFIG=$T/empty.conf VEO_SPOOL_DIR=$SPOOL VEO_DOWNLOAD_DIR=$DL \
	VEO_ALLOW_PRIVATE=yes VEO_HTTPS_ONLY=no VEO_SYNC=no VEO_MIN_FREE=0 \
	VEO_API_KEY=$KIE_KEY VEO_API_BASE=$KIE_BASE VEO_RECOVER_AFTER=0 \
	VEO_POLL_INTERVAL=1 VEO_VERIFY=no

V=$KIE_BASE/video	# the stand-in serves generated videos: $V/NAME.mp4?size=N
post() { spool_post "$1"; }
sweep() {	# one run; its output in $T/out and $T/err, and in $ALL
	"$SPOOLER" "$@" run --once >"$T/out" 2>"$T/err"
	_rc=$?
	cat "$T/out" "$T/err" >>"$ALL"
	return $_rc
}
status_json() { "$SPOOLER" status --json "$1" 2>>"$ALL" | tee -a "$ALL"; }
field() {
	status_json "$1" | python3 -c "import json,sys; v=json.load(sys.stdin); k='$2'.split('.')
for p in k: v=v[p]
print(json.dumps(v) if isinstance(v,(list,dict)) else v)"
}
files_of() {	# files_of TASKID KIND: "path sha256" of its files of KIND
	status_json "$1" | python3 -c "import json,sys
for f in json.load(sys.stdin)['files']:
    if f['kind'] == '$2': print(f['path'], f['sha256'], f['done'])"
}
ask_due() {	# ask_due TASKID: the next question to kie.ai is due now (simulated time)
	python3 - "$SPOOL/state/$1" <<'PY'
import json, os, sys
p = sys.argv[1]; s = json.load(open(p)); s['nextAsk'] = 0
open(p + '.t', 'w').write(json.dumps(s)); os.rename(p + '.t', p)
PY
}
sc() { kie_scenario kie "$@"; }
gets() { grep -c "^GET /video/$1" "$T/kie.log"; }	# downloads of a stand-in video
asks() { grep -c "^GET /api/v1/veo/record-info taskId=$1 " "$T/kie.log"; }

# ---- registering ----
"$SPOOLER" expect reg_a reg_b >"$T/out" 2>&1; is $? 0 "expect registers two tasks (exit 0)"
"$SPOOLER" expect reg_a >"$T/out" 2>&1; is $? 0 "expect again: idempotent"
"$SPOOLER" expect '../etc/passwd' >"$T/out" 2>&1; rc=$?
ok $(( rc == 0 )) "a hostile taskId is refused (exit $rc)"
like "$(cat "$T/out")" "not a valid taskId" "with the rule in the message"
ok $([ ! -e "$SPOOL/etc" ]; echo $?) "and nothing was created outside expect/"
: >"$SPOOL/expect/drop_c"
: >"$SPOOL/expect/.drop_tmp"
printf 'x' >"$SPOOL/expect/bad name"
VEO_API_KEY= sweep; is $? 0 "a sweep without api_key takes registrations in"
is "$(field reg_a state)" pending "a registered task is pending"
is "$(field reg_a reason)" "waiting for the callback" "status says why"
is "$(field drop_c reason)" "waiting for the callback" "a file dropped into expect/ registers too"
like "$("$SPOOLER" status 2>&1)" "reg_b +pending .*waiting for the callback" "the table shows the reason"
ok $([ -e "$SPOOL/expect/.drop_tmp" ]; echo $?) "a dot file (a writer's temp name) is left alone"
grep -q "refused in expect/" "$T/err"; ok $? "an invalid name in expect/ is reported"
ok $([ ! -e "$SPOOL/expect/bad name" ]; echo $?) "and moved out of expect/"

# ---- recovery: each successFlag ----
sc rec_ok "{\"record\":{\"flags\":[1],\"resultUrls\":[\"$V/rec_ok.mp4?size=300000\"],\"originUrls\":[\"$V/rec_ok_o.mp4?size=100000\"]}}"
sc rec_gen "{\"record\":{\"flags\":[0,1],\"resultUrls\":[\"$V/rec_gen.mp4?size=200000\"]}}"
sc rec_f2 '{"record":{"flags":[2],"errorCode":400,"errorMessage":"Your prompt was flagged by the content policy."}}'
sc rec_f3 '{"record":{"flags":[3],"errorCode":501,"errorMessage":"The Google model was unable to generate audio for this request."}}'
"$SPOOLER" expect rec_ok rec_gen rec_f2 rec_f3 rec_unknown
sweep; is $? 0 "sweep with api_key runs"
is "$(field rec_ok state)" done "successFlag 1: recovered and downloaded"
is "$(field rec_ok source)" record-info "its source is record-info"
is "$(sha256sum <"$DL/rec_ok/result-0.mp4" | cut -d' ' -f1)" "$(generated_sha rec_ok 300000)" "the result is whole"
[ -f "$DL/rec_ok/origin-0.mp4" ]; ok $? "and the origin too"
is "$(field rec_gen state)" pending "successFlag 0: still pending"
is "$(field rec_f2 state)" failed "successFlag 2: failed"
like "$(field rec_f2 error)" "flagged by the content policy" "with kie.ai's errorMessage"
like "$(field rec_f2 advice)" "content policy" "and the advice of the callback path"
is "$(field rec_f3 state)" failed "successFlag 3: failed"
is "$(field rec_f3 code)" 501 "with kie.ai's errorCode"
is "$(field rec_unknown state)" pending "an unknown task is asked again, not failed at once"
ask_due rec_gen; ask_due rec_unknown; sweep
is "$(field rec_gen state)" done "generating, then success: downloaded"
ask_due rec_unknown; sweep
ask_due rec_unknown; sweep
is "$(field rec_unknown state)" failed "an unknown task fails after 3 'no record' answers"
like "$(field rec_unknown advice)" "check that the taskId" "with advice to check the taskId"

# ---- throttling and errors are never the task's fault ----
for e in 429 455 500 html cloudflare; do
	sc thr_$e "{\"record\":{\"errors\":[\"$e\"],\"flags\":[1],\"resultUrls\":[\"$V/thr_$e.mp4?size=50000\"]}}"
	"$SPOOLER" expect thr_$e
done
sweep
for e in 429 455 500 html cloudflare; do
	[ "$(field thr_$e state)" = pending ] || [ "$(field thr_$e state)" = done ]
	ok $? "$e: the task is not failed for it"
	ask_due thr_$e
done
sweep; sweep
for e in 429 455 500 html cloudflare; do ask_due thr_$e; done
sweep
for e in 429 455 500 html cloudflare; do
	is "$(field thr_$e state)" done "$e, then success: downloaded"
done

# ---- a wrong key: one clear error, no task failed for it ----
sc wrong_key "{\"record\":{\"flags\":[1],\"resultUrls\":[\"$V/wk.mp4?size=1000\"]}}"
"$SPOOLER" expect wrong_key
VEO_API_KEY=wrong-key-0123456789 sweep; is $? 0 "the sweep runs with a wrong key"
like "$(cat "$T/err")" "api_key" "the error names api_key"
is "$(field wrong_key state)" pending "no task failed for it"
ask_due wrong_key; sweep
is "$(field wrong_key state)" done "with the right key it is recovered"

# ---- a callback arriving after recovery: each file fetched once ----
sc late "{\"record\":{\"flags\":[1],\"resultUrls\":[\"$V/late.mp4?size=120000\"]}}"
"$SPOOLER" expect late
sweep
is "$(field late state)" done "recovered before its callback"
is "$(post "$(callback_json 200 "Veo3.1 video generated successfully." late "$V/late.mp4?size=120000")")" 200 \
	"the late callback is answered 200"
sweep
is "$(field late state)" done "the task stays done"
is "$(gets late.mp4)" 1 "its video was fetched once"

# ---- verify ----
export VEO_VERIFY=yes
sc v_same "{\"record\":{\"flags\":[1],\"resultUrls\":[\"$V/v_same.mp4?size=80000\"]}}"
sc v_diff "{\"record\":{\"flags\":[1],\"resultUrls\":[\"$V/v_real.mp4?size=90000\"]}}"
sc v_fail '{"record":{"flags":[2],"errorCode":501,"errorMessage":"failed"}}'
sc v_down '{"record":{"errors":["reset","reset","reset","reset"],"flags":[1]}}'
post "$(callback_json 200 "ok" v_same "$V/v_same.mp4?size=80000")" >/dev/null
post "$(callback_json 200 "ok" v_diff "$V/v_forged.mp4?size=90000")" >/dev/null
post "$(callback_json 200 "ok" v_fail "$V/v_fail.mp4?size=1000")" >/dev/null
post "$(callback_json 200 "ok" v_unknown "$V/v_unknown.mp4?size=1000")" >/dev/null
post "$(callback_json 200 "ok" v_down "$V/v_down.mp4?size=1000")" >/dev/null
sweep
is "$(field v_same state)" done "verify agrees: downloaded"
is "$(field v_diff state)" done "verify differs: downloaded"
is "$(gets v_forged.mp4)" 0 "the callback's URL was never fetched"
is "$(sha256sum <"$DL/v_diff/result-0.mp4" | cut -d' ' -f1)" "$(generated_sha v_real 90000)" "record-info's file was"
like "$(cat "$T/err")" "v_diff: record-info: the callback's URLs differ" "and it was reported"
is "$(field v_fail state)" failed "record-info says failed: the task fails"
like "$(field v_fail advice)" "forged" "with advice naming a possibly forged callback"
is "$(field v_unknown state)" failed "record-info has no record: the task fails"
is "$(field v_down state)" pending "record-info unreachable: pending"
is "$(field v_down reason)" "waiting for record-info to confirm the callback" "waiting for confirmation"
is "$(gets v_down.mp4)" 0 "nothing unconfirmed was downloaded"
export VEO_VERIFY=no

# ---- 1080p ----
sc up1 "{\"1080p\":{\"notReady\":1,\"resultUrl\":\"$V/up1_1080.mp4?size=150000\"}}"
cb1=$(python3 -c "import json; print(json.dumps({'code':200,'msg':'ok','data':{'taskId':'up1','info':{'resultUrls':['$V/up1.mp4?size=60000'],'resolution':'720p'},'fallbackFlag':False}}))")
is "$(post "$cb1")" 200 "a 720p callback stored"
VEO_UPGRADE=1080p sweep
is "$(field up1 state)" done "the original is downloaded"
is "$(field up1 upgrade.state)" waiting "the 1080p version is being made"
# Out of memory as the ready URL is taken in (its 2nd strdup: the 1st is
# kie.c's): the sweep goes on, and the upgrade is left for the next one.
OOM=$BUILD/shim/fail-strdup.so
if [ -f "$OOM" ]; then
	ask_due up1
	VEO_UPGRADE=1080p LD_PRELOAD=$OOM VEO_FAIL_STRDUP_MATCH=up1_1080 VEO_FAIL_STRDUP_NTH=2 sweep
	is $? 0 "out of memory taking the 1080p URL in: the sweep ends normally"
	is "$(field up1 upgrade.state)" waiting "and the upgrade waits for the next sweep"
else
	ok 0 "build/shim/fail-strdup.so not built (make tools)"; ok 0 "-"
fi
ask_due up1; VEO_UPGRADE=1080p sweep
is "$(field up1 upgrade.state)" done "1080p ready"
is "$(field up1 state)" done "and downloaded"
set -- $(files_of up1 1080p)
is "$(sha256sum <"$1" | cut -d' ' -f1)" "$(generated_sha up1_1080 150000)" "as a file of kind 1080p, whole"
is "$(basename "$1")" "1080p-0.mp4" "named 1080p-0.mp4 next to the original"

# ---- 4K: asked once, then its callback (both shapes), then downloaded ----
export VEO_UPGRADE=4k VEO_CALLBACK_URL="https://example.invalid/cb?token=secret-cb-token"
for shape in info flat; do
	id=fourk_$shape
	sc $id '{"4k":{}}'
	post "$(callback_json 200 "ok" $id "$V/$id.mp4?size=40000")" >/dev/null
	sweep
	is "$(field $id upgrade.state)" requested "$shape: 4K requested"
	is "$(grep -c "^POST /api/v1/veo/get-4k-video .*$id" "$T/kie.log")" 1 "$shape: asked once"
	sweep
	is "$(grep -c "^POST /api/v1/veo/get-4k-video .*$id" "$T/kie.log")" 1 "$shape: not asked again by the next sweep"
	if [ $shape = info ]; then
		body="{\"code\":200,\"msg\":\"4K Video generated successfully.\",\"data\":{\"taskId\":\"$id\",\"info\":{\"resultUrls\":[\"$V/${id}_4k.mp4?size=70000\"],\"imageUrls\":[\"$V/x.jpg\"]}}}"
	else
		body="{\"code\":200,\"msg\":\"4K Video generated successfully.\",\"data\":{\"task_id\":\"$id\",\"result_urls\":[\"$V/${id}_4k.mp4?size=70000\"],\"media_ids\":[\"CAUa\"],\"image_urls\":[\"$V/x.jpg\"]}}"
	fi
	is "$(post "$body")" 200 "$shape: the 4K callback is answered 200"
	sweep
	is "$(field $id state)" done "$shape: done again"
	set -- $(files_of $id 4k)
	is "$(sha256sum <"${1:-/dev/null}" | cut -d' ' -f1)" "$(generated_sha ${id}_4k 70000)" "$shape: the 4K file is whole"
	set -- $(files_of $id result)
	is "$(sha256sum <"$1" | cut -d' ' -f1)" "$(generated_sha $id 40000)" "$shape: the original result is untouched"
done
sc fourk_fail '{"4k":{}}'
post "$(callback_json 200 "ok" fourk_fail "$V/fourk_fail.mp4?size=30000")" >/dev/null
sweep
is "$(post '{"code":500,"msg":"The 4K version of this video is unavailable. Please try a different video.","data":{"taskId":"fourk_fail"}}')" 200 \
	"a 4K failure callback is answered 200"
sweep
is "$(field fourk_fail state)" done "it does not undo the finished task"
is "$(field fourk_fail upgrade.state)" failed "the upgrade is recorded as failed"
like "$(field fourk_fail upgrade.error)" "4K version" "with the provider's words"
unset VEO_UPGRADE VEO_CALLBACK_URL

# ---- the key and the callback URL's token appear in no output ----
cat "$SPOOL"/state/* "$SPOOL"/state.pack "$SPOOL"/hooks.log 2>/dev/null >>"$ALL"
grep -q -- "$KIE_KEY" "$ALL"; ok $(( $? == 0 )) "the api_key is in no output and no state file"
grep -q 'secret-cb-token' "$ALL"; ok $(( $? == 0 )) "nor the callback_url's token"
grep -q 'leak=yes' "$T/kie.log"; ok $(( $? == 0 )) "the key went nowhere but the Authorization header"
"$SPOOLER" check-config >"$T/cc" 2>&1
grep -q -- "$KIE_KEY" "$T/cc"; ok $(( $? == 0 )) "check-config masks it"

done_testing
