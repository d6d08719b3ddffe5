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
PORT=$(free_port)
start_static "$PORT" "$WWW" || { echo "Bail out! static nginx did not start"; exit 1; }
BASE="http://127.0.0.1:$PORT"

export VEO_CONFIG=$T/empty.conf VEO_SPOOL_DIR=$SPOOL VEO_DOWNLOAD_DIR=$DL \
	VEO_ALLOW_PRIVATE=yes VEO_HTTPS_ONLY=no VEO_SYNC=no VEO_MIN_FREE=0

post() { cgi_post "$1" VEO_SPOOL_DIR="$SPOOL" VEO_SYNC=no VEO_MIN_FREE=0 VEO_AUTH=none | cgi_status; }
sweep() { "$SPOOLER" "$@" run >"$T/out" 2>"$T/err"; }
field() {	# field TASKID KEY: a top-level field of status --json
	"$SPOOLER" status --json "$1" | python3 -c "import json,sys; v=json.load(sys.stdin)['$2']; print(json.dumps(v) if isinstance(v,(list,dict)) else v)"
}
file_field() {	# file_field TASKID N KEY: a field of files[N]
	"$SPOOLER" status --json "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['files'][$2]['$3'])"
}
sha() { sha256sum <"$1" | cut -d' ' -f1; }

# paused_sweep WHEN: a sweep in the background that stops at its first
# rename out of new/ (before or after it) until $T/pause/go exists.
paused_sweep() {
	rm -rf "$T/pause" && mkdir "$T/pause"
	VEO_PAUSE_DIR=$T/pause VEO_PAUSE_MATCH=/new/ VEO_PAUSE_WHEN=$1 LD_PRELOAD=$SHIM \
		"$SPOOLER" run >"$T/out" 2>"$T/err" &
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
"$SPOOLER" run >"$T/out" 2>"$T/err"; sweep
is "$(field killed_take state)" done "the next sweep took it in and downloaded it"

done_testing
