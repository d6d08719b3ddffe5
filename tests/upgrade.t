#!/bin/bash
# A spool from before pending/ (every state file only in state/) is indexed
# in place by the first run: no task is lost, pending ones complete, and a
# sweep afterwards reads only what is pending.
. "$(dirname "$0")/lib/common.sh"

[ -x "$SPOOLER" ] || skip_all "build/veo-spooler not built"

SPOOL=$T/spool DL=$T/videos WWW=$T/www
mkdir -p "$SPOOL" "$DL" "$WWW/v" && : >"$T/empty.conf"
start_static PORT "$WWW" 'location /v/later_ { try_files $uri =503; }' || { echo "Bail out! static nginx did not start"; exit 1; }
BASE="http://127.0.0.1:$PORT"
export VEO_CONFIG=$T/empty.conf VEO_SPOOL_DIR=$SPOOL VEO_DOWNLOAD_DIR=$DL \
	VEO_ALLOW_PRIVATE=yes VEO_HTTPS_ONLY=no VEO_SYNC=no VEO_MIN_FREE=0

post() { spool_post "$1"; }
field() {
	"$SPOOLER" status --json "$1" 2>/dev/null |
		python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])" 2>/dev/null
}
make_due() {
	python3 - "$SPOOL/state/$1" <<'PY'
import json, os, sys
p = sys.argv[1]; s = json.load(open(p)); s['nextAttempt'] = 0
open(p + '.t', 'w').write(json.dumps(s)); os.rename(p + '.t', p)
PY
}

# History through the real programs: done, failed, and pending (a 404 now,
# retried later).
make_video "$WWW/v/done.mp4" 100000
post "$(callback_json 200 ok up_done "$BASE/v/done.mp4")" >/dev/null
post "$(callback_json 501 failed up_failed)" >/dev/null
post "$(callback_json 400 refused up_failed2)" >/dev/null
for i in 1 2 3; do post "$(callback_json 200 ok up_pending_$i "$BASE/v/later_$i.mp4")" >/dev/null; done
"$SPOOLER" run --once >/dev/null 2>&1
is "$(field up_done state) $(field up_failed state) $(field up_pending_1 state)" "done failed pending" \
	"a spool with done, failed and pending tasks"
is "$(ls "$SPOOL/pending" | sort | tr '\n' ' ')" "up_pending_1 up_pending_2 up_pending_3 " \
	"only pending tasks are marked in pending/"

# The old layout: no pending/ at all, and no state.pack.
rm -rf "$SPOOL/pending" "$SPOOL/state.pack"
for i in 1 2 3; do make_video "$WWW/v/later_$i.mp4" 50000; make_due up_pending_$i; done
"$SPOOLER" status --json | grep -E '"taskId":"up_(done|failed|failed2)"' >"$T/finished.before"
"$SPOOLER" run --once >"$T/out" 2>"$T/err"
is "$?" 0 "the first run over the old layout exits 0"
is "$(cat "$T/err")" "" "and reports no problem"
[ -e "$SPOOL/pending/.indexed" ]; ok $? "the spool is indexed"
for i in 1 2 3; do
	is "$(field up_pending_$i state)" done "pending task $i completes after the upgrade"
	cmp -s "$DL/up_pending_$i/result-0.mp4" "$WWW/v/later_$i.mp4"; ok $? "its video is whole"
done
is "$(field up_done state)" done "the done task is still done"
is "$(field up_failed state) $(field up_failed2 state)" "failed failed" "the failed tasks are still failed"
is "$("$SPOOLER" status | tail -n +2 | wc -l)" 6 "status lists all six tasks"
"$SPOOLER" status --json | grep -E '"taskId":"up_(done|failed|failed2)"' >"$T/finished.after"
[ -s "$T/finished.before" ] && cmp -s "$T/finished.before" "$T/finished.after"
ok $? "the finished tasks' records are unchanged by the upgrade, byte for byte"
sleep 3
rm -f "$SPOOL/tidied"	# tidying (and packing states for status) runs at most hourly
"$SPOOLER" run --once >/dev/null 2>&1
[ -s "$SPOOL/state.pack" ]; ok $? "the next hourly tidy packs the finished states"
"$SPOOLER" status --json | grep -E '"taskId":"up_(done|failed|failed2)"' >"$T/finished.packed"
cmp -s "$T/finished.before" "$T/finished.packed"; ok $? "and status prints them the same from the pack"
is "$(ls "$SPOOL/pending")" "" "nothing pending is left marked"

# A finished task whose state is damaged is not read by sweeps; a pending
# one marked but without state is dropped from the index.
: >"$SPOOL/pending/up_ghost"
"$SPOOLER" run --once >/dev/null 2>&1
[ ! -e "$SPOOL/pending/up_ghost" ]; ok $? "a mark without a state is dropped"

# A hook owed on a finished task keeps it marked until paid.
printf '#!/bin/sh\necho "$VEO_TASK_ID" >>%s\n' "$T/hook.out" >"$T/hook.sh"; chmod +x "$T/hook.sh"
post "$(callback_json 501 failed up_hooked)" >/dev/null
rm -rf "$SPOOL/pending"
python3 - "$SPOOL" <<'PY'
# an old spool whose failed task still owes its hook (taken in, crash before the hook)
import json, os, sys, time
sp = sys.argv[1]
s = {"taskId": "up_owed", "state": "failed", "code": 501, "msg": "x", "attempts": 0,
     "error": "e", "advice": "a", "nextAttempt": 0, "firstSeen": int(time.time()),
     "updated": int(time.time()), "duplicates": 0, "hookOwed": "on_failed",
     "callbackSha256": "", "dir": sp + "/x", "files": []}
open(os.path.join(sp, "state", "up_owed"), "w").write(json.dumps(s))
PY
VEO_ON_FAILED=$T/hook.sh "$SPOOLER" run --once >/dev/null 2>&1
grep -q '^up_owed$' "$T/hook.out"; ok $? "a hook owed in the old layout is paid after the upgrade"
grep -q '^up_hooked$' "$T/hook.out"; ok $? "and a new failure's hook too"
is "$(ls "$SPOOL/pending")" "" "paid hooks leave no mark"

done_testing
