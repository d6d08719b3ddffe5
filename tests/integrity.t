#!/bin/bash
# Never lose or corrupt a task (issue "integrity"): the hand-over between
# responder and spooler, files already at the final name, damaged state,
# slow servers, hooks, spliced resumes, stuck claims, a full download disk
# and leftovers.  Real responder (CGI), real nginx or the fault server,
# real sweeps; race windows are opened with an LD_PRELOAD shim.
. "$(dirname "$0")/lib/common.sh"

[ -x "$SPOOLER" ] || skip_all "build/veo-spooler not built"
SHIM=$BUILD/shim/pause-rename.so
[ -f "$SHIM" ] || skip_all "build/shim/pause-rename.so not built (make tools)"

SPOOL=$T/spool DL=$T/videos WWW=$T/www
mkdir -p "$SPOOL" "$DL" "$WWW/v" && : >"$T/empty.conf"
start_static PORT "$WWW" "location /slow/ { alias $WWW/v/; limit_rate 400k; }
	location /gone/ { return 410; }" ||
	{ echo "Bail out! static nginx did not start"; exit 1; }
BASE="http://127.0.0.1:$PORT"

export VEO_CONFIG=$T/empty.conf VEO_SPOOL_DIR=$SPOOL VEO_DOWNLOAD_DIR=$DL \
	VEO_ALLOW_PRIVATE=yes VEO_HTTPS_ONLY=no VEO_SYNC=no VEO_MIN_FREE=0

post() { spool_post "$1"; }
sweep() { sweep_once "$@"; }
field() { status_field "$@"; }
file_field() {	# file_field TASKID N KEY: a field of files[N]
	"$SPOOLER" status --json "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['files'][$2]['$3'])"
}
sha() { sha256sum <"$1" | cut -d' ' -f1; }

# paused_sweep WHEN: a sweep in the background that stops at its first
# rename out of new/ (before or after it) until $T/pause/go exists.
paused_sweep() {
	rm -rf "$T/pause" && mkdir "$T/pause"
	VEO_PAUSE_DIR=$T/pause VEO_PAUSE_MATCH=/new/ VEO_PAUSE_WHEN=$1 LD_PRELOAD=$SHIM \
		"$SPOOLER" run --once >"$T/out" 2>"$T/err" &
	_sweep_pid=$!
	wait_for_file "$T/pause/paused" 20
}
resume_sweep() { : >"$T/pause/go"; wait "$_sweep_pid"; }

# ---- 1. hand-over: a callback stored while a sweep takes the task ----
make_video "$WWW/v/a.mp4" 200000
make_video "$WWW/v/b.mp4" 300000
n=0
for when in before after; do
	n=$((n + 1)); id=race_$when
	is "$(post "$(callback_json 501 "Veo3.1 generation failed." $id)")" 200 "$when: failure callback stored"
	paused_sweep $when; ok $? "$when: sweep paused at the take"
	is "$(post "$(callback_json 200 "Veo3.1 video generated successfully." $id "$BASE/v/b.mp4")")" 200 \
		"$when: success callback stored during the take"
	resume_sweep
	sweep; is $? 0 "$when: the next sweep runs"
	is "$(field $id state)" done "$when: the later success callback is not lost"
	is "$(sha "$DL/$id/result-0.mp4" 2>/dev/null)" "$(sha "$WWW/v/b.mp4")" "$when: its video is on disk"
	is "$(count_files "$SPOOL/new")$(count_files "$SPOOL/taking")" 00 "$when: nothing left in new/ or taking/"
done

# A sweep killed between the take and recording the state: the entry is in
# taking/, and the next sweep takes it in.
is "$(post "$(callback_json 200 "ok" killed_take "$BASE/v/a.mp4")")" 200 "callback stored"
paused_sweep after; ok $? "sweep paused right after the take"
kill -9 "$_sweep_pid"; wait "$_sweep_pid" 2>/dev/null
[ -f "$SPOOL/taking/killed_take" ]; ok $? "the killed sweep left the entry in taking/"
"$SPOOLER" run --once >"$T/out" 2>"$T/err"; sweep
is "$(field killed_take state)" done "the next sweep took it in and downloaded it"

# ---- 2. the wrong video is never marked done ----
make_video "$WWW/v/c.mp4" 250000
for u in a b c; do
	is "$(post "$(callback_json 200 "ok" three "$BASE/v/$u.mp4")")" 200 "callback $u for one task stored"
	sweep
done
path=$(file_field three 0 path)
is "$(file_field three 0 url)" "$BASE/v/c.mp4" "status shows the third callback's URL"
is "$(file_field three 0 sha256)" "$(sha "$WWW/v/c.mp4")" "and the third video's SHA-256"
is "$(sha "$path")" "$(sha "$WWW/v/c.mp4")" "the file at its path is the third video"
ls "$DL/three" | grep -q 'result-0.mp4.moved-'
ok $? "the earlier video at that name was moved aside, not deleted"

# Something planted at the final name is moved aside, never followed or adopted.
mkdir -p "$T/elsewhere" && echo "keep me" >"$T/elsewhere/target"
n=0
for kind in empty random symlink directory; do
	n=$((n + 1)); id=planted_$kind
	mkdir -p "$DL/$id"
	case $kind in
	empty) : >"$DL/$id/result-0.mp4" ;;
	random) head -c 5000 /dev/urandom >"$DL/$id/result-0.mp4" ;;
	symlink) ln -s "$T/elsewhere/target" "$DL/$id/result-0.mp4" ;;
	directory) mkdir "$DL/$id/result-0.mp4" ;;
	esac
	is "$(post "$(callback_json 200 "ok" $id "$BASE/v/a.mp4")")" 200 "$kind: callback stored"
	sweep
	is "$(field $id state)" done "$kind: task done"
	[ -f "$DL/$id/result-0.mp4" ] && [ ! -L "$DL/$id/result-0.mp4" ]
	ok $? "$kind: a regular file at the final name"
	is "$(sha "$DL/$id/result-0.mp4")" "$(sha "$WWW/v/a.mp4")" "$kind: it is the downloaded video"
	is "$(file_field $id 0 sha256)" "$(sha "$WWW/v/a.mp4")" "$kind: its recorded SHA-256 is the video's"
	ls "$DL/$id" | grep -q 'result-0.mp4.moved-'
	ok $? "$kind: the planted $kind was moved aside"
done
is "$(cat "$T/elsewhere/target")" "keep me" "the symlink's target was neither followed nor written"

# A symlinked task directory is refused, not written through.
mkdir -p "$T/outside"
ln -s "$T/outside" "$DL/linked_dir"
is "$(post "$(callback_json 200 "ok" linked_dir "$BASE/v/a.mp4")")" 200 "callback for a task whose directory is a symlink"
sweep
is "$(count_files "$T/outside")" 0 "nothing was written through the symlinked directory"
like "$(field linked_dir error)" "not a directory" "the task says why"
is "$(field linked_dir attempts)" 0 "no attempt counted"

# ---- 3. a damaged state file is reported once, kept, and the task rebuilt ----
# A second server answers 503 (try again later) until its file appears, so
# that the tasks stay pending while their state files are damaged.
mkdir -p "$T/www2/v"
run_nginx static2 P2 1 "" "listen 127.0.0.1:@PORT@; root $T/www2;
		location /v/ { try_files \$uri =503; }" ||
	{ echo "Bail out! second nginx did not start"; exit 1; }
for kind in truncated garbled empty wrongid directory; do
	is "$(post "$(callback_json 200 "ok" damaged_$kind "http://127.0.0.1:$P2/v/b.mp4")")" 200 \
		"$kind: callback stored"
done
sweep
is "$(field damaged_empty state)" pending "tasks pending while their file is missing"
for kind in truncated garbled empty wrongid directory; do
	f=$SPOOL/state/damaged_$kind
	case $kind in
	truncated) head -c 40 "$f" >"$f.x" && mv "$f.x" "$f" ;;
	garbled) printf '{"taskId":"damaged_garbled",\001\377 nonsense' >"$f" ;;
	empty) : >"$f" ;;
	wrongid) sed 's/"taskId":"damaged_wrongid"/"taskId":"someone_else"/' "$f" >"$f.x" && mv "$f.x" "$f" ;;
	directory) rm -f "$f" && mkdir "$f" ;;
	esac
done
cp "$WWW/v/b.mp4" "$T/www2/v/b.mp4"
sweep -v; is $? 0 "the sweep runs over damaged states"
for kind in truncated garbled empty wrongid directory; do
	grep -q "task damaged_$kind: damaged state" "$T/err"
	ok $? "$kind: reported on stderr"
	is "$(field damaged_$kind state)" done "$kind: rebuilt from its callback and downloaded"
	ls "$SPOOL/bad" | grep -q "^damaged_$kind.state."
	ok $? "$kind: the damaged file is kept in bad/"
done
sweep
is "$(grep -c 'damaged state' "$T/err")" 0 "reported once: the next sweep is silent about it"

# ---- 5. hooks run at least once: a kill between the save and the hook ----
cat >"$T/hook.sh" <<HOOK
#!/bin/sh
echo "\$VEO_TASK_ID \$VEO_STATE" >>"$T/hooks.ran"
echo "hook output for \$VEO_TASK_ID"
HOOK
chmod +x "$T/hook.sh"
export VEO_ON_DONE=$T/hook.sh VEO_ON_FAILED=$T/hook.sh
is "$(post "$(callback_json 200 "ok" hook_kill "$BASE/v/a.mp4")")" 200 "callback stored"
rm -rf "$T/pause" && mkdir "$T/pause"
VEO_PAUSE_DIR=$T/pause VEO_PAUSE_MATCH_TO=/state/hook_kill VEO_PAUSE_NTH=2 VEO_PAUSE_WHEN=after \
	LD_PRELOAD=$SHIM "$SPOOLER" run --once >"$T/out" 2>"$T/err" &
pid=$!
wait_for_file "$T/pause/paused" 20; ok $? "sweep paused right after saving the task as done"
kill -9 $pid; wait $pid 2>/dev/null
is "$(field hook_kill state)" done "the state says done"
grep -q '^hook_kill' "$T/hooks.ran" 2>/dev/null
ok $(( $? == 0 )) "the hook has not run yet"
is "$(field hook_kill hookOwed)" on_done "the state records the hook as owed"
sweep; is $? 0 "the next sweep runs"
is "$(grep -c '^hook_kill done$' "$T/hooks.ran")" 1 "it ran the owed hook once"
is "$(field hook_kill hookOwed)" "" "and cleared it"
sweep
is "$(grep -c '^hook_kill done$' "$T/hooks.ran")" 1 "a further sweep does not run it again"
grep -q 'hook output for hook_kill' "$SPOOL/hooks.log"
ok $? "the hook's output went to spool_dir/hooks.log"
is "$(cat "$T/out")" "" "and not to the spooler's stdout"

# A hook that leaves a background child does not hold cron's pipe open.
cat >"$T/bg-hook.sh" <<HOOK
#!/bin/sh
sleep 120 &
echo \$! >"$T/bg.pid"
HOOK
chmod +x "$T/bg-hook.sh"
is "$(post "$(callback_json 200 "ok" hook_bg "$BASE/v/b.mp4")")" 200 "callback stored"
start=$(date +%s)
VEO_ON_DONE=$T/bg-hook.sh timeout 60 sh -c "'$SPOOLER' run --once 2>&1 | cat >/dev/null"
is $? 0 "the sweep's output pipe closes while the hook's child lives on"
end=$(date +%s)
ok $(( end - start >= 60 )) "well before the child would have exited ($((end - start)) s)"
[ -f "$T/bg.pid" ] && kill "$(cat "$T/bg.pid")" 2>/dev/null
unset VEO_ON_DONE VEO_ON_FAILED

# ---- 7. claims: a reused PID or an unrefreshed claim does not block for ever ----
host=$(printf '%s' "$(hostname)" | tr '/ ' '__')
mystart=$(awk '{ sub(/.*\) /, ""); print $20 }' /proc/$$/stat)
for case in reused unrefreshed live; do
	id=claim_$case
	is "$(post "$(callback_json 200 "ok" $id "$BASE/v/a.mp4")")" 200 "$case: callback stored"
	case $case in
	reused) printf '%s %s %s\n' "$host" $$ $((mystart + 12345)) >"$SPOOL/claim/$id" ;;
	unrefreshed) printf '%s %s %s\n' "$host" $$ "$mystart" >"$SPOOL/claim/$id"
		touch -d '20 minutes ago' "$SPOOL/claim/$id" ;;
	live) printf '%s %s %s\n' "$host" $$ "$mystart" >"$SPOOL/claim/$id" ;;
	esac
done
sweep
is "$(field claim_reused state)" done "a claim whose PID now names another process is stale"
is "$(field claim_unrefreshed state)" done "a claim not refreshed for 10 minutes is stale"
[ -f "$DL/claim_live/result-0.mp4" ]
ok $(( $? == 0 )) "a fresh claim of a live process is respected"
rm -f "$SPOOL/claim/claim_live"

# ---- 9. leftovers: partial files of failed tasks, and stray ones ----
mkdir -p "$DL/gone_task"
head -c 1000 /dev/urandom >"$DL/gone_task/result-0.mp4.part"
printf 'veo-part 1\nlength 5000\nend\n' >"$DL/gone_task/result-0.mp4.part.info"
is "$(post "$(callback_json 200 "ok" gone_task "$BASE/gone/x.mp4")")" 200 "callback with an expired URL"
sweep
is "$(field gone_task state)" failed "the task failed (410)"
ls "$DL/gone_task" | grep -q part
ok $(( $? == 0 )) "its .part and .part.info were removed"
mkdir -p "$DL/forgotten"
: >"$DL/forgotten/result-0.mp4.part" && : >"$DL/forgotten/result-0.mp4.part.info"
: >"$DL/forgotten/fresh.mp4.part"
touch -d '2 days ago' "$DL/forgotten/result-0.mp4.part" "$DL/forgotten/result-0.mp4.part.info"
rm -f "$SPOOL/tidied"
sweep
[ -e "$DL/forgotten/result-0.mp4.part" ] || [ -e "$DL/forgotten/result-0.mp4.part.info" ]
ok $(( $? == 0 )) "stray partial files older than a day are removed"
[ -e "$DL/forgotten/fresh.mp4.part" ]; ok $? "a recent one is kept"

# ---- 10. a download directory that cannot be written ----
if mount_tmpfs "$T/rodl" size=1m 2>/dev/null && mount -o remount,ro "$T/rodl"; then
	is "$(post "$(callback_json 200 "ok" readonly_dl "$BASE/v/a.mp4")")" 200 "callback stored"
	VEO_DOWNLOAD_DIR=$T/rodl sweep
	like "$(VEO_DOWNLOAD_DIR=$T/rodl field readonly_dl error)" "cannot create download directory .*Read-only" \
		"a read-only download directory is named in the task's error"
	is "$(VEO_DOWNLOAD_DIR=$T/rodl field readonly_dl attempts)" 0 "no attempt counted"
	grep -q 'waiting: cannot create download directory' "$T/err"; ok $? "reported on stderr"
else
	ok 0 "# SKIP no read-only tmpfs here"
fi

# ---- 4. a slow server cannot hold a sweep; tasks are recorded as their files end ----
start_faultserver FPORT "$T/fault.log" || { echo "Bail out! fault server did not start"; exit 1; }
F="http://127.0.0.1:$FPORT"
is "$(post "$(callback_json 200 "ok" drip "$F/slow/drip.mp4?size=200000&rate=20")")" 200 "a task on a server sending 20 bytes a second"
is "$(post "$(callback_json 200 "ok" slowbig "$F/slow/slowbig.mp4?size=4000000&rate=250000")")" 200 "a task with a slow, long transfer"
is "$(post "$(callback_json 200 "ok" quick "$BASE/v/a.mp4")")" 200 "and a quick one"
VEO_STALL_TIMEOUT=3 VEO_MIN_SPEED=1K VEO_ON_DONE=$T/hook.sh timeout 60 "$SPOOLER" --max-time 8 run >"$T/out" 2>"$T/err" &
pid=$!
wait_until 30 "the quick task to be recorded while the sweep runs" \
	sh -c "'$SPOOLER' status --json quick | grep -q '\"state\":\"done\"'"
ok $? "the quick task is recorded done while the slow ones still transfer"
proc_alive $pid; ok $? "(the sweep was still running then)"
wait $pid; is $? 0 "the sweep ends at its --max-time, not when the slow server finishes"
is "$(field drip state)" pending "the dripping server's task is pending again"
like "$(field drip error)" "too slow" "stopped as too slow"
is "$(field slowbig state)" pending "the long transfer was stopped at the time limit"
is "$(field slowbig attempts)" 0 "which counts no attempt"
[ -s "$DL/slowbig/result-0.mp4.part" ]; ok $? "and its .part is kept for the resume"
grep -q '^quick done$' "$T/hooks.ran"; ok $? "the quick task's hook ran"

# ---- 10. a callback with more than 32 URLs is taken, the first 32 downloaded ----
urls=""
for i in $(seq 0 39); do urls="$urls $BASE/v/a.mp4?n=$i"; done
# shellcheck disable=SC2086
is "$(post "$(callback_json 200 "ok" many_urls $urls)")" 200 "a callback with 40 result URLs is answered 200"
sweep
is "$(field many_urls state)" done "its task is done"
is "$(ls "$DL/many_urls" | grep -c '^result-.*\.mp4$')" 32 "the first 32 URLs were downloaded"
grep -q 'many_urls: too many URLs: the callback lists 40 result URLs; the first 32 are downloaded' "$T/err"
ok $? "and the sweep says so"

# ---- kill -9 at random points of sweeps, 20 times: every file right, every hook run ----
rm -f "$T/hooks.ran"
export VEO_ON_DONE=$T/hook.sh VEO_ON_FAILED=$T/hook.sh
for k in 1 2 3 4 5 6; do
	make_video "$WWW/v/k$k.mp4" $((150000 + k * 40000))
	is "$(post "$(callback_json 200 "ok" killed_$k "$BASE/slow/k$k.mp4" "$BASE/slow/a.mp4")")" 200 \
		"killed_$k: callback stored"
done
for round in $(seq 1 20); do
	"$SPOOLER" run --once >/dev/null 2>&1 &
	pid=$!
	sleep "0.$(( RANDOM % 10 ))$(( RANDOM % 10 ))"
	kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
	# A killed sweep's claims stay until their holder is known to be gone.
done
for round in 1 2 3 4 5 6 7 8; do sweep; done
all=0
for k in 1 2 3 4 5 6; do
	[ "$(field killed_$k state)" = done ] || all=1
	[ "$(sha "$DL/killed_$k/result-0.mp4" 2>/dev/null)" = "$(sha "$WWW/v/k$k.mp4")" ] || all=1
	[ "$(sha "$DL/killed_$k/result-1.mp4" 2>/dev/null)" = "$(sha "$WWW/v/a.mp4")" ] || all=1
	[ "$(file_field killed_$k 0 sha256)" = "$(sha "$WWW/v/k$k.mp4")" ] || all=1
	grep -q "^killed_$k done\$" "$T/hooks.ran" 2>/dev/null || all=1
done
ok $all "after 20 random kills every task is done, every file has the right SHA-256, every hook ran"
[ $all = 0 ] || { diag "$("$SPOOLER" status 2>&1)"; diag "$(cat "$T/hooks.ran" 2>/dev/null)"; }
unset VEO_ON_DONE VEO_ON_FAILED

done_testing
