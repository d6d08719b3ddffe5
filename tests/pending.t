#!/bin/bash
# The pending/ index under kill -9 (task.h, task_save): a sweep killed
# between marking spool_dir/pending/<taskId> and writing the task's state,
# or between the state's last save and removing the mark, loses no task,
# leaves none unswept for ever, and downloads nothing twice.  The kill
# lands exactly there: tests/shim/pause-rename.so stops the sweep at the
# rename that puts the task's state in place (before it: marked, state not
# written; after it: state written, mark not yet removed).
#
# Then what judges a task and removes or rewrites it (purge, the expiry of
# old pending tasks, the forgetting of old finished ones) decides under
# the task's claim: a task that changed between the look and the claim is
# left alone.  The shim stops the judge between the two while another
# process (as another host, unshare -u) changes the task.
. "$(dirname "$0")/lib/common.sh"

[ -x "$SPOOLER" ] || skip_all "build/veo-spooler not built"
SHIM=$BUILD/shim/pause-rename.so
[ -f "$SHIM" ] || skip_all "build/shim/pause-rename.so not built (make tools)"

SPOOL=$T/spool DL=$T/videos WWW=$T/www
mkdir -p "$SPOOL" "$DL" "$WWW/v" && : >"$T/empty.conf"
start_static PORT "$WWW" "location /later/ { try_files \$uri =503; }" ||
	{ echo "Bail out! static nginx did not start"; exit 1; }
BASE="http://127.0.0.1:$PORT"
export VEO_CONFIG=$T/empty.conf VEO_SPOOL_DIR=$SPOOL VEO_DOWNLOAD_DIR=$DL \
	VEO_ALLOW_PRIVATE=yes VEO_HTTPS_ONLY=no VEO_SYNC=no VEO_MIN_FREE=0

post() { spool_post "$1"; }
sweep() { sweep_once "$@"; }
field() { status_field "$@"; }
gets() { grep -c "^GET /v/$1 " "$T/static.access"; }	# gets NAME: requests for a video (each task has its own)
marked() { [ -e "$SPOOL/pending/$1" ]; }

set_state() {	# set_state TASKID KEY=NUMBER...: edits its saved state (simulated time)
	python3 - "$SPOOL/state/$1" "${@:2}" <<'PY'
import json, os, sys
p = sys.argv[1]; s = json.load(open(p))
for kv in sys.argv[2:]:
    k, v = kv.split('='); s[k] = int(v)
open(p + '.t', 'w').write(json.dumps(s)); os.rename(p + '.t', p)
PY
}

# start_paused VEO_PAUSE_...=VALUE... COMMAND...: the command in the
# background under the shim; returns once it has paused (1 if it did not).
start_paused() {
	rm -rf "$T/pause" && mkdir "$T/pause"
	env VEO_PAUSE_DIR="$T/pause" LD_PRELOAD="$SHIM" "$@" >"$T/paused.out" 2>"$T/paused.err" &
	_pid=$!
	wait_for_file "$T/pause/paused" 20
}
go_on() { : >"$T/pause/go"; wait $_pid; }

# killed_at ID N WHEN: a sweep stopped at the N-th rename of the task's
# state into place (WHEN before or after it), then killed with SIGKILL.
killed_at() {
	start_paused VEO_PAUSE_MATCH_TO=/state/$1 VEO_PAUSE_NTH=$2 VEO_PAUSE_WHEN=$3 "$SPOOLER" run --once
	_rc=$?
	kill -9 $_pid; wait $_pid 2>/dev/null
	return $_rc
}

make_video "$WWW/v/a.mp4" 200000
make_video "$WWW/v/b.mp4" 300000
make_video "$WWW/v/c.mp4" 250000
make_video "$WWW/v/d.mp4" 150000
make_video "$WWW/v/e.mp4" 180000
make_video "$WWW/v/f.mp4" 220000

# ---- 1. marked, state not yet written: a new task ----
is "$(post "$(callback_json 200 ok p_new "$BASE/v/a.mp4")")" 200 "new task: callback stored"
killed_at p_new 1 before; ok $? "new task: sweep killed after marking, before its first state"
marked p_new; ok $? "new task: pending/ holds the mark"
[ ! -e "$SPOOL/state/p_new" ]; ok $? "new task: no state written"
[ -e "$SPOOL/taking/p_new" ]; ok $? "new task: the entry waits in taking/"
sweep; is $? 0 "new task: the next sweep runs"
is "$(field p_new state)" done "new task: taken in and downloaded"
is "$(gets a.mp4)" 1 "new task: its video fetched once"
marked p_new; ok $(( ! $? )) "new task: the mark is gone"
is "$(count_files "$SPOOL/taking")$(count_files "$SPOOL/new")" 00 "new task: taking/ and new/ empty"

# ---- 2. marked, state not yet written: a done task gets a new callback ----
is "$(post "$(callback_json 200 ok p_again "$BASE/v/b.mp4")")" 200 "done task: first callback stored"
sweep
is "$(field p_again state)" done "done task: downloaded"
is "$(post "$(callback_json 200 ok p_again "$BASE/v/c.mp4")")" 200 "done task: a different callback stored"
killed_at p_again 1 before; ok $? "done task: sweep killed after marking, before the new state"
is "$(field p_again state)" done "done task: the state on disk is still the old one"
marked p_again; ok $? "done task: but the task is marked"
sweep
is "$(field p_again state)" done "done task: the next sweep takes the new callback in and downloads it"
like "$(field p_again files)" "/v/c.mp4" "done task: its files are the new callback's"
is "$(gets b.mp4) $(gets c.mp4)" "1 1" "done task: each video fetched once"
marked p_again; ok $(( ! $? )) "done task: the mark is gone"

# ---- 3. marked, state not yet written: a registered task ----
"$SPOOLER" expect p_expect >/dev/null 2>&1
killed_at p_expect 1 before; ok $? "registered task: sweep killed after marking, before its state"
[ -e "$SPOOL/expect/p_expect" ]; ok $? "registered task: expect/ still names it"
sweep
is "$(field p_expect state)" pending "registered task: the next sweep registers it"
is "$(field p_expect reason)" "waiting for the callback" "registered task: waiting for the callback"
marked p_expect; ok $? "registered task: marked while it waits"
is "$(post "$(callback_json 200 ok p_expect "$BASE/v/d.mp4")")" 200 "registered task: its callback stored"
sweep
is "$(field p_expect state)" done "registered task: done"
marked p_expect; ok $(( ! $? )) "registered task: the mark is gone"

# ---- 4. last state written, mark not yet removed ----
# Renames of the state: 1 taken in (pending), 2 done.
is "$(post "$(callback_json 200 ok p_unmark "$BASE/v/e.mp4")")" 200 "finished task: callback stored"
killed_at p_unmark 2 after; ok $? "finished task: sweep killed after saving it done, before unmarking"
is "$(field p_unmark state)" done "finished task: the state says done"
marked p_unmark; ok $? "finished task: a mark too many"
sweep; is $? 0 "finished task: the next sweep runs"
marked p_unmark; ok $(( ! $? )) "finished task: it drops the mark"
is "$(gets e.mp4)" 1 "finished task: its video fetched once, not again"
is "$(field p_unmark state)" done "finished task: still done"

# With a hook: 1 taken in, 2 done with the hook owed, 3 the hook paid.
cat >"$T/hook.sh" <<HOOK
#!/bin/sh
echo "\$VEO_TASK_ID \$VEO_STATE" >>"$T/hooks.ran"
HOOK
chmod +x "$T/hook.sh"
export VEO_ON_DONE=$T/hook.sh
is "$(post "$(callback_json 200 ok p_hook "$BASE/v/f.mp4")")" 200 "hooked task: callback stored"
killed_at p_hook 3 after; ok $? "hooked task: sweep killed after the hook's save, before unmarking"
is "$(grep -c '^p_hook done$' "$T/hooks.ran")" 1 "hooked task: the hook ran once"
is "$(field p_hook hookOwed)" "" "hooked task: the state says it was paid"
marked p_hook; ok $? "hooked task: a mark too many"
sweep; sweep
marked p_hook; ok $(( ! $? )) "hooked task: the next sweep drops the mark"
is "$(grep -c '^p_hook done$' "$T/hooks.ran")" 1 "hooked task: and does not run the hook again"
is "$(gets f.mp4)" 1 "hooked task: its video fetched once"
unset VEO_ON_DONE

# ---- 5. judged, then claimed: the judgement is made again under the claim ----
make_video "$WWW/v/g.mp4" 120000
make_video "$WWW/v/h.mp4" 130000
make_video "$WWW/v/i.mp4" 140000
make_video "$WWW/v/k.mp4" 160000
old=$(( $(date +%s) - 40 * 86400 ))

# purge: a task it judged old gets a new callback, downloaded, before the claim.
is "$(post "$(callback_json 200 ok p_purge "$BASE/v/g.mp4")")" 200 "purge: callback stored"
sweep
set_state p_purge updated=$old
start_paused VEO_PAUSE_MATCH_TO=/claim/p_purge VEO_PAUSE_WHEN=before "$SPOOLER" purge --older-than 1
ok $? "purge: it judged the task old and stops before claiming it"
is "$(post "$(callback_json 200 ok p_purge "$BASE/v/h.mp4")")" 200 "purge: meanwhile a new callback for it is stored"
sweep
is "$(field p_purge state)" done "purge: and downloaded"
go_on
is "$(field p_purge state 2>/dev/null)" done "purge: the task is kept: not old any more"
like "$(field p_purge files 2>/dev/null)" "/v/h.mp4" "purge: with the new callback's video"
[ -e "$SPOOL/cur/p_purge" ]; ok $? "purge: and its callback"

if unshare -u true 2>/dev/null; then
	other() { unshare -u sh -c 'hostname veo-other-host && exec "$@"' sh "$@"; }
	tidy_due() { rm -f "$SPOOL/tidied"; }

	# Expiry: a sweep judges a 40-day-old pending task expired; before it
	# claims it, another host's sweep downloads it.
	is "$(post "$(callback_json 200 ok p_expire "$BASE/later/j.mp4")")" 200 "expiry: callback stored"
	sweep
	is "$(field p_expire state)" pending "expiry: pending (its server says 503)"
	set_state p_expire firstSeen=$old nextAttempt=$(( $(date +%s) + 3600 ))
	mkdir -p "$WWW/later" && make_video "$WWW/later/j.mp4" 110000
	tidy_due
	start_paused VEO_PAUSE_MATCH_TO=/claim/p_expire VEO_PAUSE_WHEN=before "$SPOOLER" run --once
	ok $? "expiry: a sweep judged the task expired and stops before claiming it"
	set_state p_expire nextAttempt=0
	other "$SPOOLER" run --once >"$T/out" 2>"$T/err"
	is "$(field p_expire state)" done "expiry: meanwhile another host's sweep downloads it"
	go_on
	is "$(field p_expire state)" done "expiry: the task stays done, not failed as expired"
	is "$(field p_expire error)" "" "expiry: with no error"

	# Forgetting (keep_days): a sweep judges a done task old; before it
	# removes it, a new callback for the task comes and another host's
	# sweep looks at it.
	is "$(post "$(callback_json 200 ok p_forget "$BASE/v/i.mp4")")" 200 "forget: callback stored"
	sweep
	set_state p_forget updated=$old
	touch -d '40 days ago' "$SPOOL/state/p_forget"
	tidy_due
	start_paused VEO_PAUSE_MATCH_UNLINK=/state/p_forget VEO_PAUSE_WHEN=before \
		VEO_KEEP_DAYS=1 "$SPOOLER" run --once
	ok $? "forget: a sweep judged the task old and stops before removing its state"
	is "$(post "$(callback_json 200 ok p_forget "$BASE/v/k.mp4")")" 200 "forget: meanwhile a new callback is stored"
	other "$SPOOLER" run --once >"$T/out" 2>"$T/err"
	go_on
	sweep
	is "$(field p_forget state 2>/dev/null)" done "forget: the new callback is not lost: its task is done"
	like "$(field p_forget files 2>/dev/null)" "/v/k.mp4" "forget: with its video"
	is "$(gets k.mp4)" 1 "forget: fetched once"

	# Download: a sweep lists a pending task as due; before it claims it,
	# another host takes in a different callback that verify must confirm
	# first.  (Its nextAttempt is set back so that the sweep's clock, read
	# before the pause, is not earlier than the new state's: the same
	# second, without the simulation.)
	is "$(post "$(callback_json 200 ok p_verify "$BASE/later/l.mp4")")" 200 "verify: callback stored"
	sweep
	is "$(field p_verify state)" pending "verify: pending (its server says 503)"
	set_state p_verify nextAttempt=0
	start_paused VEO_PAUSE_MATCH_TO=/claim/p_verify VEO_PAUSE_WHEN=before "$SPOOLER" run --once
	ok $? "verify: a sweep found the task due and stops before claiming it"
	is "$(post "$(callback_json 200 ok p_verify "$BASE/v/forged.mp4")")" 200 \
		"verify: meanwhile a different callback is stored"
	VEO_VERIFY=yes VEO_API_KEY=test-key VEO_API_BASE=http://127.0.0.1:9 other "$SPOOLER" run --once \
		>"$T/out" 2>"$T/err"
	is "$(field p_verify reason)" "waiting for record-info to confirm the callback" \
		"verify: another host (verify = yes) took it in, to be confirmed"
	set_state p_verify nextAttempt=0
	go_on
	is "$(gets forged.mp4)" 0 "verify: the sweep that claims it then fetches nothing unconfirmed"
	is "$(field p_verify reason)" "waiting for record-info to confirm the callback" \
		"verify: the task still waits for record-info"
else
	for i in $(seq 1 19); do ok 1 "# SKIP unshare -u not permitted: no second host"; done
fi

# ---- nothing left behind ----
is "$(ls "$SPOOL/pending" | grep -cv '^p_verify$')" 0 "pending/ marks no task but the one waiting for record-info"
is "$(ls -A "$SPOOL/claim" | grep -c .)" 0 "no claim or take-over marker left: every killed sweep's claim was taken over"

done_testing
