#!/bin/bash
# A sweep costs what there is to do, not what was done (promise 10; issue
# 11, item 4), shown by what the programs touch, never by how long they
# take: over a spool of a few thousand finished tasks, made through the
# real responder over FastCGI,
#  - an idle sweep touches in state/ exactly the tasks marked pending, and
#    never lists state/;
#  - a sweep taking in new callbacks touches those and the pending ones;
#  - status TASKID opens one state file;
#  - status of every task opens no state file of a packed finished task
#    (state.pack, statepack.h), and prints the same as when every state
#    file is read; a task changed after the pack shows its new state.
# bench/growth.sh measures the times.
. "$(dirname "$0")/lib/common.sh"

POST=$BUILD/tools/fcgi-post
[ -x "$SPOOLER" ] && [ -x "$CALLBACK" ] || skip_all "build/veo-spooler or veo-callback not built"
[ -x "$POST" ] || skip_all "build/tools/fcgi-post not built (make tools)"
command -v strace >/dev/null 2>&1 || skip_all "strace not installed (apt-get install strace)"
strace -f -qq -o /dev/null true 2>/dev/null || skip_all "strace cannot trace here (ptrace not permitted)"

N=${GROWTH_TEST_TASKS:-3000}
SPOOL=$T/spool DL=$T/videos WWW=$T/www
mkdir -p "$SPOOL" "$DL" "$WWW/v" && : >"$T/empty.conf"
export VEO_CONFIG=$T/empty.conf VEO_SPOOL_DIR=$SPOOL VEO_DOWNLOAD_DIR=$DL \
	VEO_ALLOW_PRIVATE=yes VEO_HTTPS_ONLY=no VEO_SYNC=no VEO_MIN_FREE=0
start_static PORT "$WWW" 'location /v/later_ { return 503; }' ||
	{ echo "Bail out! static nginx did not start"; exit 1; }
BASE="http://127.0.0.1:$PORT"
post() { spool_post "$1"; }

# touched CMD...: runs CMD under strace; prints, one a line and sorted, the
# names in state/ that it opened, looked at or listed ("LIST" for a listing).
touched() {
	strace -f -qq -y -e trace=%file,getdents64 -o "$T/trace" "$@" >"$T/out" 2>"$T/err"
	_rc=$?
	python3 - "$SPOOL/state" "$T/trace" <<'PY'
import re, sys
d, names = sys.argv[1], set()
for line in open(sys.argv[2]):
    if d not in line:
        continue
    if re.search(r'getdents64\(\d+<' + re.escape(d) + '>', line):
        names.add('LIST')
    for m in re.finditer(re.escape(d) + r'/([^"/>]+)', line):
        names.add(m.group(1))
    m = re.search(r'\(\d+<' + re.escape(d) + r'>, "([^"]+)"', line)
    if m:
        names.add(m.group(1))
print('\n'.join(sorted(names)))
PY
	return $_rc
}
# opened CMD...: how many state files CMD opened (openat of state/<name>)
opened() {
	strace -f -qq -y -e trace=open,openat,openat2 -o "$T/trace" "$@" >"$T/out" 2>"$T/err"
	grep -Ec "$SPOOL/state/[^\"]+\"|<$SPOOL/state>, \"" "$T/trace"
}

# ---- the history: N failure callbacks through the responder over FastCGI ----
VEO_AUTH=none VEO_LOG=off "$CALLBACK" --listen "$T/cb.sock" 2>"$T/cb.err" &
_pids="$_pids $!"
wait_for_file "$T/cb.sock" || { echo "Bail out! veo-callback --listen did not start"; exit 1; }
like "$("$POST" "$T/cb.sock" old 0 "$N" 501 2)" "^sent=$N ok=$N bad=0 " \
	"$N failure callbacks stored through veo-callback --listen"
# ... a done task, one retrying later (503), two registered and waiting
make_video "$WWW/v/done.mp4" 50000
is "$(post "$(callback_json 200 ok g_done "$BASE/v/done.mp4")")" 200 "a success callback stored"
is "$(post "$(callback_json 200 ok g_later "$BASE/v/later_1.mp4")")" 200 "one whose video is not ready"
"$SPOOLER" expect g_exp1 g_exp2
"$SPOOLER" run --once >/dev/null 2>&1
is "$(ls "$SPOOL/state" | wc -l)" $((N + 4)) "one sweep took them all in"
is "$(ls "$SPOOL/pending" | sort | tr '\n' ' ')" "g_exp1 g_exp2 g_later " \
	"pending/ holds the three tasks still to work on"

# ---- sweeps ----
is "$(touched "$SPOOLER" run --once | tr '\n' ' ')" "g_exp1 g_exp2 g_later " \
	"an idle sweep over $N finished tasks touches only the pending ones in state/"
is "$(cat "$T/err")" "" "and reports nothing"
"$POST" "$T/cb.sock" new 0 10 501 1 >/dev/null
want=$( (printf 'new_%s\n' 0 1 2 3 4 5 6 7 8 9; printf 'g_exp1\ng_exp2\ng_later\n') | sort)
got=$(touched "$SPOOLER" run --once)
is "$(comm -23 <(echo "$got") <(echo "$want") | tr '\n' ' ')" "" \
	"a sweep taking in 10 new callbacks touches nothing else in state/"
is "$(echo "$got" | grep -c '^new_')" 10 "and touches each of the 10"
is "$("$SPOOLER" status --json new_3 | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" \
	failed "the new tasks were taken in"

# ---- status ----
is "$(opened "$SPOOLER" status old_7)" 1 "status TASKID opens one state file"
like "$(cat "$T/out")" "^old_7 +failed +501 +0 +0/0 +the provider reported code 501" \
	"and prints its row"

# The pack: written by the hourly tidy, of what did not change in the last seconds.
sleep 3
rm -f "$SPOOL/tidied"	# tidying runs at most hourly
"$SPOOLER" run --once >/dev/null 2>&1
[ -s "$SPOOL/state.pack" ]; ok $? "the hourly tidy packed the finished tasks' states"
is "$(opened "$SPOOLER" status)" 3 "status of $((N + 14)) tasks opens only the 3 pending tasks' state files"
cp "$T/out" "$T/table.pack"
"$SPOOLER" status --json >"$T/json.pack"
mv "$SPOOL/state.pack" "$T/state.pack"
is "$(opened "$SPOOLER" status)" $((N + 14)) "without the pack, status reads every state file"
# (a pending task's "retry in Ns" counts down between the two)
retry_n() { sed -E 's/retry in [0-9]+s/retry in Ns/' "$1"; }
cmp -s <(retry_n "$T/out") <(retry_n "$T/table.pack"); ok $? "and prints the same table"
"$SPOOLER" status --json >"$T/json.files"
cmp -s "$T/json.files" "$T/json.pack"; ok $? "status --json prints the same lines from the pack"
mv "$T/state.pack" "$SPOOL/state.pack"

is "$(head -n 1 "$T/table.pack")" "$(printf '%-36s %-8s %4s %8s %7s %s' TASK STATE CODE ATTEMPTS FILES ERROR)" \
	"the table's header as ever"
like "$(grep '^g_done ' "$T/table.pack")" '^g_done +done +200 +0 +1/1 *$' "a done task's row"
like "$(grep '^g_later ' "$T/table.pack")" '^g_later +pending +200 +1 +0/1 +retry in [0-9]+s HTTP 503' \
	"a pending task's row"
like "$(grep '^old_42 ' "$T/table.pack")" '^old_42 +failed +501 +0 +0/0 +the provider reported code 501$' \
	"a failed task's row"
like "$(grep '^g_exp1 ' "$T/table.pack")" '^g_exp1 +pending +0 +0 +0/0 +waiting for the callback$' \
	"a registered task's row"
for id in g_done g_later old_42 new_3 g_exp1; do
	"$SPOOLER" status --json "$id"
done >"$T/one.json"
grep -E '"taskId":"(g_done|g_later|old_42|new_3|g_exp1)"' "$T/json.pack" >"$T/some.json"
is "$(sort "$T/one.json" | md5sum)" "$(sort "$T/some.json" | md5sum)" \
	"status --json of all agrees with status --json TASKID"

# A finished task changed after the pack: status shows the change.
is "$(post "$(callback_json 400 "refused this time" old_42)")" 200 "another callback for a packed task"
"$SPOOLER" run --once >/dev/null 2>&1
like "$("$SPOOLER" status | grep '^old_42 ')" '^old_42 +failed +400 ' \
	"status shows it as it is now, not as packed"
like "$("$SPOOLER" status --json | grep '"taskId":"old_42"')" '"code":400' "so does status --json"

done_testing
