#!/bin/bash
# veo-spooler end to end: callbacks stored by the real responder (CGI mode),
# videos served by a real nginx, sweeps run as cron would run them.
. "$(dirname "$0")/lib/common.sh"

[ -x "$SPOOLER" ] || skip_all "build/veo-spooler not built"

SPOOL=$T/spool DL=$T/videos WWW=$T/www
mkdir -p "$SPOOL" "$DL" "$WWW/v" && : >"$T/empty.conf"
start_static PORT "$WWW" 'location /forbidden/ { return 403; } location /gone/ { return 410; }' ||
	{ echo "Bail out! static nginx did not start"; exit 1; }
BASE="http://127.0.0.1:$PORT"

export VEO_CONFIG=$T/empty.conf VEO_SPOOL_DIR=$SPOOL VEO_DOWNLOAD_DIR=$DL \
	VEO_ALLOW_PRIVATE=yes VEO_HTTPS_ONLY=no VEO_SYNC=no VEO_MIN_FREE=0

post() {	# post BODY: store a callback through the real responder
	cgi_post "$1" VEO_SPOOL_DIR="$SPOOL" VEO_SYNC=no VEO_MIN_FREE=0 VEO_AUTH=none | cgi_status
}
sweep() {	# sweep [ARGS]: one run; stdout/stderr to $T/out, $T/err; returns its status
	"$SPOOLER" "$@" run --once >"$T/out" 2>"$T/err"
}
field() { status_field "$@"; }
requests() {	# requests URI: how many GETs the static server logged for it
	grep -c "^GET $1 " "$T/static.access" 2>/dev/null || true
}
make_due() {	# make_due TASKID: move the next attempt into the past (simulated time)
	python3 - "$SPOOL/state/$1" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p)); s['nextAttempt'] = 0
open(p + '.t', 'w').write(json.dumps(s)); __import__('os').rename(p + '.t', p)
PY
}

# ---- an empty spool: silent success ----
sweep; is $? 0 "run on an empty spool exits 0"
is "$(cat "$T/out" "$T/err")" "" "run prints nothing when all is well (cron)"

# ---- the normal path: results and origin, hashes equal the source ----
make_video "$WWW/v/a.mp4" 3000000
make_video "$WWW/v/b.mp4" 1500000
make_video "$WWW/v/o.mp4" 700000
B1=$(callback_json 200 "Veo3.1 video generated successfully." task_one "$BASE/v/a.mp4" "$BASE/v/b.mp4" -- "$BASE/v/o.mp4")
is "$(post "$B1")" 200 "responder stores the callback"
sweep; is $? 0 "run exits 0"
is "$(cat "$T/out" "$T/err")" "" "a successful run is silent"
is "$(field task_one state)" done "task is done"
for f in result-0 result-1 origin-0; do
	[ -f "$DL/task_one/$f.mp4" ]; ok $? "$f.mp4 downloaded"
done
is "$(sha256sum <"$DL/task_one/result-0.mp4")" "$(sha256sum <"$WWW/v/a.mp4")" "result-0 equals the source"
is "$(sha256sum <"$DL/task_one/result-1.mp4")" "$(sha256sum <"$WWW/v/b.mp4")" "result-1 equals the source"
is "$(sha256sum <"$DL/task_one/origin-0.mp4")" "$(sha256sum <"$WWW/v/o.mp4")" "origin-0 equals the source"
"$SPOOLER" status --json task_one >"$T/st.json"
python3 - "$T/st.json" "$WWW/v/a.mp4" "$DL/task_one/result-0.mp4" <<'PY'
import json, sys, hashlib
s = json.load(open(sys.argv[1]))
need = {"taskId", "state", "code", "attempts", "error", "files"}
assert need <= set(s), need - set(s)
f = s["files"][0]
assert set(f) >= {"kind", "url", "path", "bytes", "sha256"}, f
assert f["kind"] == "result" and f["path"] == sys.argv[3], f
assert f["bytes"] == 3000000, f
assert f["sha256"] == hashlib.sha256(open(sys.argv[2], 'rb').read()).hexdigest(), f
assert s["code"] == 200 and s["attempts"] == 0 and s["error"] == ""
PY
ok $? "status --json has taskId, state, code, attempts, error and files {kind,url,path,bytes,sha256}"
is "$(ls "$DL/task_one" | grep -c part)" 0 "no .part file left behind"
is "$(requests /v/a.mp4)" 1 "a.mp4 fetched once"

# ---- promise 4: a repeat after done downloads nothing ----
is "$(post "$B1")" 200 "repeat callback answered 200"
sweep
is "$(requests /v/a.mp4)$(requests /v/b.mp4)$(requests /v/o.mp4)" 111 "repeat after done downloads nothing again"
is "$(field task_one duplicates)" 1 "the repeat is counted"
is "$(ls "$SPOOL/new")" "" "the repeat left nothing waiting"

# ---- a different callback for a done task is processed, old video kept ----
make_video "$WWW/v/a2.mp4" 200000
B1b=$(callback_json 200 "Veo3.1 video generated successfully." task_one "$BASE/v/a2.mp4" "$BASE/v/b.mp4")
post "$B1b" >/dev/null; sweep
is "$(field task_one state)" done "changed callback processed to done"
is "$(requests /v/a2.mp4)$(requests /v/b.mp4)" 11 "only the changed URL is fetched"
is "$(sha256sum <"$DL/task_one/result-0.mp4")" "$(sha256sum <"$WWW/v/a.mp4")" "the earlier video is not overwritten"
is "$(ls "$DL/task_one" | grep -c '^result-0-.*\.mp4$')" 1 "the new video got its own name"

# ---- https from a local nginx, its test CA given with ca_file ----
make_test_ca "$T/ca" && start_tls_static TPORT "$WWW" "$T/ca"
ok $? "(setup) nginx on https with a test CA"
post "$(callback_json 200 ok task_tls "https://127.0.0.1:$TPORT/v/b.mp4")" >/dev/null
VEO_HTTPS_ONLY=yes sweep
is "$(field task_tls state)" pending "https without ca_file: the certificate is refused, retried later"
like "$(field task_tls error)" "certificate|TLS|SSL" "the error names the certificate problem"
"$SPOOLER" retry task_tls >/dev/null 2>&1
VEO_HTTPS_ONLY=yes VEO_CA_FILE="$T/ca/ca.pem" sweep
is "$(field task_tls state)" done "https with ca_file = the test CA: downloaded"
is "$(sha256sum <"$DL/task_tls/result-0.mp4")" "$(sha256sum <"$WWW/v/b.mp4")" "and whole"

# ---- download_origin = no ----
B2=$(callback_json 200 ok task_two "$BASE/v/b.mp4" -- "$BASE/v/o.mp4")
post "$B2" >/dev/null
VEO_DOWNLOAD_ORIGIN=no sweep
[ -f "$DL/task_two/result-0.mp4" ] && [ ! -e "$DL/task_two/origin-0.mp4" ]
ok $? "download_origin = no skips originUrls"

# ---- failures reported by the provider: classified, with advice ----
check_failed() {	# check_failed CODE MSG ADVICE-REGEX
	_id="fail_$1_$RANDOM"
	post "$(callback_json "$1" "$2" "$_id")" >/dev/null
	sweep; _rc=$?
	is "$_rc" 0 "code $1: run still exits 0"
	is "$(field "$_id" state)" failed "code $1: task failed"
	like "$(field "$_id" advice)" "$3" "code $1: advice fits"
	like "$(cat "$T/err")" "^veo-spooler: task $_id: failed: .*advice" "code $1: one line on stderr"
	is "$(wc -l <"$T/err")" 1 "code $1: exactly one line"
	is "$(ls "$DL" | grep -c "^$_id$")" 0 "code $1: nothing downloaded"
}
check_failed 400 "Your prompt was flagged by Website as violating content policies" "content policy"
check_failed 400 "Only English prompts are supported" "English"
check_failed 400 "Failed to fetch the image. Kindly verify any access limits" "image could not be fetched"
check_failed 400 "public error unsafe image upload" "unsafe"
check_failed 422 "Your request was rejected by Flow" "fallback"
check_failed 500 "Internal Error, Please try again later." "transient"
check_failed 501 "Video generation failed" "generation failed"
check_failed 777 "something new" "unknown result code"

# ---- hooks: execve, no shell, the environment carries the facts ----
cat >"$T/hook.sh" <<HOOK
#!/bin/sh
env | grep '^VEO_' | sort >"$T/hook.\$VEO_STATE.\$VEO_TASK_ID"
printf '%s' "\$VEO_MSG" >"$T/hook.msg.\$VEO_TASK_ID"
HOOK
printf '#!/bin/sh\nexit 3\n' >"$T/hook-fails.sh"
chmod +x "$T/hook.sh" "$T/hook-fails.sh"
make_video "$WWW/v/h.mp4" 100000
post "$(callback_json 200 "done msg" task_hook "$BASE/v/h.mp4")" >/dev/null
VEO_ON_DONE="$T/hook.sh" sweep
like "$(cat "$T/hook.done.task_hook" 2>/dev/null)" "VEO_TASK_ID=task_hook" "on_done gets VEO_TASK_ID"
grep -qx "VEO_DIR=$DL/task_hook" "$T/hook.done.task_hook" 2>/dev/null; ok $? "on_done gets VEO_DIR"
grep -qx "VEO_FILES=$DL/task_hook/result-0.mp4" "$T/hook.done.task_hook" 2>/dev/null; ok $? "on_done gets VEO_FILES"
grep -qx "VEO_CODE=200" "$T/hook.done.task_hook" 2>/dev/null; ok $? "on_done gets VEO_CODE"
grep -qx "VEO_STATE=done" "$T/hook.done.task_hook" 2>/dev/null; ok $? "on_done gets VEO_STATE"
EVIL='$(touch '"$T"'/pwned) `touch '"$T"'/pwned2`; touch '"$T"'/pwned3'
post "$(callback_json 501 "$EVIL" task_evil)" >/dev/null
VEO_ON_FAILED="$T/hook.sh" sweep
is "$(cat "$T/hook.msg.task_evil" 2>/dev/null)" "$EVIL" "on_failed gets VEO_MSG literally"
[ ! -e "$T/pwned" ] && [ ! -e "$T/pwned2" ] && [ ! -e "$T/pwned3" ]; ok $? "nothing in msg was executed"
post "$(callback_json 501 "x" task_hookfail)" >/dev/null
VEO_ON_FAILED="$T/hook-fails.sh" sweep
like "$(cat "$T/err")" "on_failed hook.*exit status 3" "a failing hook is reported"
is "$(field task_hookfail state)" failed "a failing hook loses no state"
VEO_ON_DONE="relative/hook" sweep; is $? 0 "a bad hook setting does not stop the sweep"

printf '#!/bin/sh\nsleep 30\n' >"$T/hook-hangs.sh"; chmod +x "$T/hook-hangs.sh"
post "$(callback_json 501 "x" task_hookslow)" >/dev/null
S0=$(date +%s)
VEO_ON_FAILED="$T/hook-hangs.sh" VEO_HOOK_TIMEOUT=1 sweep
[ $(($(date +%s) - S0)) -lt 20 ]; ok $? "a hanging hook is stopped (hook_timeout)"
like "$(cat "$T/err")" "killed after the 1 s hook_timeout" "and reported"
is "$(field task_hookslow state)" failed "and the task keeps its state"

# ---- -v: a line per task ----
post "$(callback_json 200 ok task_verbose "$BASE/v/h.mp4")" >/dev/null
"$SPOOLER" -v run --once >"$T/out" 2>"$T/err"
like "$(cat "$T/out")" "task task_verbose: taken in" "-v: a line when a task is taken in"
like "$(cat "$T/out")" "task task_verbose: done" "-v: a line when it is done"

# ---- 404, 410 and 403 ----
post "$(callback_json 200 ok task_404 "$BASE/v/missing.mp4")" >/dev/null
sweep
is "$(field task_404 state)" failed "404 fails the task at once"
like "$(field task_404 advice)" "14 days" "404 advice says the result expired"
post "$(callback_json 200 ok task_410 "$BASE/gone/x.mp4")" >/dev/null
sweep
is "$(field task_410 state)" failed "410 fails the task at once"
post "$(callback_json 200 ok task_403 "$BASE/forbidden/x.mp4")" >/dev/null
sweep
is "$(field task_403 state)/$(field task_403 attempts)" pending/1 "first 403 is retried later"
make_due task_403; sweep
is "$(field task_403 state)" pending "second 403 is retried later"
make_due task_403; sweep
is "$(field task_403 state)" failed "third 403 fails the task as expired"
is "$(requests /forbidden/x.mp4)" 3 "403 was tried exactly three times"

# ---- retry: a failed task is due again (say, after a configuration fix) ----
post "$(callback_json 200 ok task_retry "$BASE/v/later.mp4")" >/dev/null
sweep
is "$(field task_retry state)" failed "(setup) a missing file fails the task"
"$SPOOLER" retry task_retry; is $? 0 "retry of a failed task is accepted"
is "$(field task_retry state)/$(field task_retry attempts)" pending/0 "retry makes it pending again"
make_video "$WWW/v/later.mp4" 50000
sweep
is "$(field task_retry state)" done "after retry the file is fetched"
"$SPOOLER" retry fail_missing_task 2>"$T/err"; [ $? -ne 0 ]; ok $? "retry of an unknown task fails"
"$SPOOLER" retry "$(ls "$SPOOL/state" | grep '^fail_501' | head -1)" 2>"$T/err"
like "$(cat "$T/err")" "failed at the provider \(code 501\)" "retry explains a provider failure cannot be retried"

# ---- status for people ----
"$SPOOLER" status >"$T/table"
like "$(head -1 "$T/table")" "^TASK +STATE +CODE +ATTEMPTS +FILES +ERROR" "status prints a table header"
like "$(grep '^task_one ' "$T/table")" "^task_one +done +200 +0 +2/2" "status row for a done task"
"$SPOOLER" status no_such_task 2>"$T/err"; is $? 1 "status of an unknown task exits 1"
like "$(cat "$T/err")" "no task 'no_such_task'" "and says so"
"$SPOOLER" bogus 2>"$T/err"; is $? 2 "unknown command is a usage error"
like "$(cat "$T/err")" "unknown command 'bogus'" "usage error says what was wrong"

# ---- the sweep lock: a second run on this host exits 0 at once ----
python3 - "$SPOOL/sweep.$(hostname).lock" <<'PY' &
import fcntl, sys, time
f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); open(sys.argv[1] + '.held', 'w'); time.sleep(5)
PY
LOCKER=$!
wait_for_file "$SPOOL/sweep.$(hostname).lock.held"
post "$(callback_json 200 ok task_locked "$BASE/v/h.mp4")" >/dev/null
sweep; is $? 0 "run while another holds the lock exits 0"
is "$(cat "$T/out" "$T/err")" "" "silently"
"$SPOOLER" -v run --once >"$T/out" 2>&1
like "$(cat "$T/out")" "another sweep is running" "with -v it says why"
is "$(ls "$SPOOL/new")" task_locked "and took nothing"
kill $LOCKER 2>/dev/null; wait $LOCKER 2>/dev/null
rm -f "$SPOOL/sweep.$(hostname).lock.held"
sweep; is "$(field task_locked state)" done "the next run does it"

# ---- tasks older than 14 days fail; keep_days forgets old records ----
set_state() {	# set_state TASKID KEY VALUE (simulated time)
	python3 - "$SPOOL/state/$1" "$2" "$3" <<'PY'
import json, os, sys
p = sys.argv[1]; s = json.load(open(p)); s[sys.argv[2]] = int(sys.argv[3])
open(p + '.t', 'w').write(json.dumps(s)); os.rename(p + '.t', p)
PY
}
post "$(callback_json 200 ok task_old "$BASE/v/never.mp4")" >/dev/null
"$SPOOLER" run --once --max-time 1 >/dev/null 2>&1	# taken in (the file 404s: fails)
"$SPOOLER" retry task_old >/dev/null 2>&1
set_state task_old firstSeen $(( $(date +%s) - 15 * 86400 ))
set_state task_old nextAttempt $(( $(date +%s) + 3600 ))
rm -f "$SPOOL/tidied"	# expiry and tidying run at most hourly
sweep
is "$(field task_old state)" failed "a task not downloaded within 14 days fails"
like "$(field task_old error)" "14 days" "and says why"
set_state task_one updated $(( $(date +%s) - 3 * 86400 ))
touch -d '3 days ago' "$SPOOL/state/task_one"	# the state's mtime is its last save
rm -f "$SPOOL/tidied"
VEO_KEEP_DAYS=2 sweep
[ ! -e "$SPOOL/state/task_one" ] && [ ! -e "$SPOOL/cur/task_one" ]; ok $? "keep_days: run forgets records older than keep_days"
[ -f "$DL/task_one/result-1.mp4" ]; ok $? "keep_days keeps the downloaded files"
[ -e "$SPOOL/state/task_two" ]; ok $? "keep_days keeps recent records"

# ---- purge ----
"$SPOOLER" purge --older-than 0 --files
[ ! -e "$SPOOL/state/task_two" ] && [ ! -e "$DL/task_two" ]; ok $? "purge --older-than 0 --files forgets done tasks and their files"
"$SPOOLER" purge 2>"$T/err"; is $? 2 "purge without --older-than is a usage error"

done_testing
