#!/bin/bash
# veo-spooler against a server that misbehaves on demand (tests/lib/faultserver.py):
# retries with backoff, giving up, resuming after a kill, deadlines, two
# sweeps on one spool, the download policy, and the terminal display.
. "$(dirname "$0")/lib/common.sh"

[ -x "$SPOOLER" ] || skip_all "build/veo-spooler not built"

SPOOL=$T/spool DL=$T/videos
mkdir -p "$SPOOL" "$DL" && : >"$T/empty.conf"
start_faultserver PORT "$T/fault.log" || { echo "Bail out! fault server did not start"; exit 1; }
BASE="http://127.0.0.1:$PORT"

export VEO_CONFIG=$T/empty.conf VEO_SPOOL_DIR=$SPOOL VEO_DOWNLOAD_DIR=$DL \
	VEO_ALLOW_PRIVATE=yes VEO_HTTPS_ONLY=no VEO_SYNC=no VEO_MIN_FREE=0

post() { spool_post "$1"; }
sweep() { sweep_once "$@"; }
field() { status_field "$@"; }
make_due() {
	python3 - "$SPOOL/state/$1" <<'PY'
import json, os, sys
p = sys.argv[1]; s = json.load(open(p)); s['nextAttempt'] = 0
open(p + '.t', 'w').write(json.dumps(s)); os.rename(p + '.t', p)
PY
}
gets() { grep -c "^GET $1[? ]" "$T/fault.log" || true; }	# gets PATH: requests logged for it
source_sha() { python3 "$ROOT/tests/lib/faultserver.py" --generate "$1" "$2" | sha256sum; }

# ---- 503 then success: retried later, then done ----
post "$(callback_json 200 ok t_flaky "$BASE/flaky/fk1/1?size=300000")" >/dev/null
sweep; is $? 0 "run with a 503 exits 0"
is "$(cat "$T/err")" "" "a transient failure is not reported to cron"
is "$(field t_flaky state)/$(field t_flaky attempts)" pending/1 "503: pending, one attempt counted"
like "$(field t_flaky error)" "503" "the error names the status"
NEXT=$(field t_flaky nextAttempt); NOW=$(date +%s)
[ "$NEXT" -ge $((NOW + 30)) ] && [ "$NEXT" -le $((NOW + 90)) ]; ok $? "first retry is about a minute later (backoff)"
sweep
is "$(field t_flaky attempts)" 1 "not retried before it is due"
make_due t_flaky; sweep
is "$(field t_flaky state)" done "then the file arrives"
is "$(sha256sum <"$DL/t_flaky/result-0.mp4")" "$(source_sha fk1 300000)" "and it is whole"

# ---- errors the network makes: reset, short body, stall, HTML instead of video ----
post "$(callback_json 200 ok t_reset "$BASE/reset?after=100000&size=400000")" >/dev/null
post "$(callback_json 200 ok t_short "$BASE/short?size=400000&send=1000")" >/dev/null
post "$(callback_json 200 ok t_stall "$BASE/stall?after=1000&size=400000")" >/dev/null
post "$(callback_json 200 ok t_html "$BASE/html")" >/dev/null
VEO_STALL_TIMEOUT=2 sweep
for t in t_reset t_short t_stall t_html; do
	is "$(field $t state)/$(field $t attempts)" pending/1 "$t: retried later"
	is "$(ls "$DL/$t" 2>/dev/null | grep -vc 'part' )" 0 "$t: no file under its final name"
done
like "$(field t_html error)" "not a video" "HTML served as 200 is refused"
like "$(field t_stall error)" "too slow" "a stall is detected"

# ---- max_attempts ends it, with advice ----
post "$(callback_json 200 ok t_give "$BASE/status/503")" >/dev/null
VEO_MAX_ATTEMPTS=2 sweep
make_due t_give; VEO_MAX_ATTEMPTS=2 sweep
is "$(field t_give state)" failed "after max_attempts the task fails"
like "$(field t_give error)" "gave up after 2 attempts" "the error says why"
like "$(cat "$T/err")" "task t_give: failed" "and cron hears of it once"

# ---- the download policy (promise 7) at the spooler level ----
post "$(callback_json 200 ok t_private "$BASE/file/p?size=1000")" >/dev/null
VEO_ALLOW_PRIVATE=no sweep
is "$(field t_private state)" failed "a loopback URL is refused when allow_private = no"
like "$(field t_private advice)" "download policy" "with advice about the policy"
is "$(gets '/file/p')" 0 "and the server never saw a request"
post "$(callback_json 200 ok t_plain "$BASE/file/q?size=1000")" >/dev/null
VEO_HTTPS_ONLY=yes sweep
is "$(field t_plain state)" failed "plain http is refused when https_only = yes"
post "$(callback_json 200 ok t_big "$BASE/nolength?size=3000000")" >/dev/null
VEO_MAX_FILE_SIZE=1M sweep
is "$(field t_big state)" failed "a file over max_file_size is refused"
like "$(field t_big advice)" "max_file_size" "with advice naming the knob"
[ ! -e "$DL/t_big/result-0.mp4" ]; ok $? "and nothing is kept under its name"

# ---- resume after the spooler is killed mid-file (promises 5, 6) ----
SIZE=3000000
post "$(callback_json 200 ok t_resume "$BASE/slow/rs?size=$SIZE&rate=1000000")" >/dev/null
"$SPOOLER" run --once >/dev/null 2>&1 &
SP=$!
for i in $(seq 100); do
	s=$(stat -c %s "$DL/t_resume/result-0.mp4.part" 2>/dev/null || echo 0)
	[ "$s" -gt 500000 ] && break; sleep 0.1
done
kill -9 $SP; wait $SP 2>/dev/null
PART=$(stat -c %s "$DL/t_resume/result-0.mp4.part" 2>/dev/null || echo 0)
[ "$PART" -gt 0 ] && [ "$PART" -lt $SIZE ]; ok $? "killed mid-file: a partial .part ($PART bytes) is left"
[ -e "$SPOOL/claim/t_resume" ]; ok $? "and the dead sweep's claim is still there"
sweep
is "$(field t_resume state)" done "the next sweep takes over the claim and finishes"
is "$(sha256sum <"$DL/t_resume/result-0.mp4")" "$(source_sha rs $SIZE)" "the resumed file is whole"
like "$(grep '^GET /slow/rs' "$T/fault.log" | tail -1)" "bytes=[1-9][0-9]*-" "the second request asked for a Range"
SENT=$(grep '^GET /slow/rs' "$T/fault.log" | tail -1 | sed -n 's/.*bytes=\([0-9]*\)-.*/\1/p')
[ -n "$SENT" ] && [ "$SENT" -ge "$PART" ]; ok $? "it resumed from where the part ended, not from zero"

# ---- a file slow per connection is split over free slots, and survives kill -9 ----
SIZE=6000000
post "$(callback_json 200 ok t_split "$BASE/slow/spl?size=$SIZE&rate=1000000")" >/dev/null
"$SPOOLER" run --once >/dev/null 2>&1 &
SP=$!
wait_until 20 "the split recorded in the sidecar" grep -qs '^range ' "$DL/t_split/result-0.mp4.part.info"
sleep 0.5
kill -9 $SP; wait $SP 2>/dev/null
RANGES=$(grep -c '^range ' "$DL/t_split/result-0.mp4.part.info")
[ "$RANGES" -ge 2 ]; ok $? "killed while split: the sidecar names $RANGES ranges"
sweep
is "$(field t_split state)" done "the next sweep finishes the split file"
is "$(sha256sum <"$DL/t_split/result-0.mp4")" "$(source_sha spl $SIZE)" "and it is whole and right"
is "$(field t_split files | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["sha256"])')" \
	"$(source_sha spl $SIZE | cut -d' ' -f1)" "status records that SHA-256"
[ "$(grep -c '^GET /slow/spl.*bytes=[0-9]*-[0-9]' "$T/fault.log")" -ge 1 ]
ok $? "bounded ranges were asked for (the file was split)"

# ---- --max-time: no new transfer starts after the deadline, and running
# ones stop there, kept for the resume, without an attempt counted ----
for i in 1 2 3; do
	post "$(callback_json 200 ok t_dead$i "$BASE/slow/dl$i?size=2000000&rate=1000000")" >/dev/null
done
VEO_PARALLEL=1 sweep --max-time 1
done_count=0 untouched=0
for i in 1 2 3; do
	[ "$(field t_dead$i state)" = done ] && done_count=$((done_count + 1))
	[ "$(field t_dead$i attempts)" = 0 ] && [ "$(field t_dead$i state)" = pending ] && untouched=$((untouched + 1))
done
is "$done_count/$untouched" "0/3" "with --max-time 1 (each file takes 2 s) the running transfer stopped at the deadline, none failed, no attempt counted"
sweep
is "$(field t_dead2 state)$(field t_dead3 state)" donedone "the next run finishes them"

# ---- two sweeps at once on one spool (promise 5) ----
: >"$T/fault.log.mark"
for i in $(seq 1 8); do
	post "$(callback_json 200 ok t_pair$i "$BASE/slow/pair$i?size=600000&rate=2000000")" >/dev/null
done
# Two "hosts": separate UTS namespaces give each its own host name, so the
# per-host sweep lock does not serialise them and only the claims decide.
if unshare -u true 2>/dev/null; then
	unshare -u sh -c 'hostname veo-host-a; exec "$0" run --once' "$SPOOLER" 2>"$T/err.a" &
	A=$!
	unshare -u sh -c 'hostname veo-host-b; exec "$0" run --once' "$SPOOLER" 2>"$T/err.b" &
	B=$!
	wait $A $B
	n_done=0
	for i in $(seq 1 8); do [ "$(field t_pair$i state)" = done ] && n_done=$((n_done + 1)); done
	is "$n_done" 8 "two hosts sweeping one spool finish every task"
	dup=0
	for i in $(seq 1 8); do [ "$(gets "/slow/pair$i")" = 1 ] || dup=$((dup + 1)); done
	is "$dup" 0 "and each file was requested exactly once"
	ls "$SPOOL"/sweep.veo-host-a.lock "$SPOOL"/sweep.veo-host-b.lock >/dev/null 2>&1
	ok $? "each host took its own sweep lock"
else
	ok 0 "# SKIP unshare -u not permitted: cannot simulate two hosts"
	ok 0 "# SKIP"; ok 0 "# SKIP"
fi
for i in $(seq 1 4); do
	post "$(callback_json 200 ok t_same$i "$BASE/slow/same$i?size=400000&rate=2000000")" >/dev/null
done
"$SPOOLER" run --once 2>/dev/null & A=$!
"$SPOOLER" run --once 2>/dev/null & B=$!
wait $A $B
dup=0
for i in $(seq 1 4); do [ "$(gets "/slow/same$i")" = 1 ] || dup=$((dup + 1)); done
is "$dup" 0 "two runs at once on one host download each file once"

# ---- a terminal gets a live display; a pipe gets silence ----
post "$(callback_json 200 ok t_tty "$BASE/slow/tty?size=1500000&rate=1000000")" >/dev/null
script -qfec "$SPOOLER run --once" "$T/tty.out" >/dev/null 2>&1
like "$(tr '\r' '\n' <"$T/tty.out")" "result-0.mp4|t_tty" "on a terminal the transfer is shown while it runs"
is "$(field t_tty state)" done "and the task completes"

done_testing
