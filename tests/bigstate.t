#!/bin/bash
# A state record the spooler writes is always readable back: a callback as
# large as max_body allows (16M) is stored, taken in, recorded, and then
# shown by `status` and taken up again by the next sweep.  (With a 1 MiB
# bound on reading state files, a callback over about 2 MiB was stored and
# taken in, and its task was unreadable from then on.)
. "$(dirname "$0")/lib/common.sh"
export LC_ALL=C

[ -x "$CALLBACK" ] || skip_all "build/veo-callback not built (run make)"
[ -x "$SPOOLER" ] && "$SPOOLER" --version >/dev/null 2>&1 || skip_all "build/veo-spooler not built"

SPOOL=$T/spool DL=$T/dl
mkdir -p "$SPOOL" "$DL"
export VEO_CONFIG=/dev/null VEO_SPOOL_DIR=$SPOOL VEO_DOWNLOAD_DIR=$DL VEO_SYNC=no VEO_MIN_FREE=0

# big TASK BYTES: a failure callback (nothing to download) of exactly BYTES
# bytes, most of them in msg, with characters that JSON escapes.
big() {
	python3 - "$1" "$2" >"$T/$1.json" <<'PY'
import json, sys
task, size = sys.argv[1], int(sys.argv[2])
head = {"code": 501, "msg": "", "data": {"taskId": task}}
base = len(json.dumps(head, separators=(',', ':')))
unit = 'generation failed "quoted" \\ and\ttabbed '
n = size - base
msg = (unit * (n // len(unit) + 1))
while len(json.dumps(msg)) - 2 > n:
    msg = msg[:-1 - (len(json.dumps(msg)) - 2 - n) // 2]
msg += 'x' * (n - (len(json.dumps(msg)) - 2))
head["msg"] = msg
out = json.dumps(head, separators=(',', ':'))
assert len(out) == size, (len(out), size)
sys.stdout.write(out)
PY
}
cgi_file() {	# cgi_file FILE: posts FILE as a CGI request; prints the status
	env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=POST \
		CONTENT_TYPE=application/json CONTENT_LENGTH=$(wc -c <"$1") REMOTE_ADDR=127.0.0.1 \
		VEO_CONFIG=/dev/null VEO_SPOOL_DIR="$SPOOL" VEO_AUTH=none VEO_MAX_BODY=16M VEO_LOG=stderr \
		"$CALLBACK" <"$1" 2>>"$T/cgi.log" | cgi_status
}

for spec in big3m:$((3 * 1024 * 1024)) big16m:$((16 * 1024 * 1024)); do
	task=${spec%%:*} size=${spec#*:}
	big "$task" "$size"
	is "$(wc -c <"$T/$task.json")" "$size" "$task: a callback of $size bytes"
	is "$(cgi_file "$T/$task.json")" 200 "$task: stored"
done
"$SPOOLER" run --once >"$T/run1.out" 2>"$T/run1.err"
ok $? "a sweep takes both in"
for task in big3m big16m; do
	sz=$(wc -c <"$SPOOL/state/$task" 2>/dev/null || echo 0)
	ok $(( sz <= 2 * 1024 * 1024 )) "$task: its state file is over 2 MiB ($sz bytes)"
	"$SPOOLER" status --json "$task" >"$T/$task.status" 2>"$T/$task.status.err"
	ok $? "$task: status reads its state back ($(head -c 200 "$T/$task.status.err"))"
	is "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["state"], d["code"], len(d["msg"]))' "$T/$task.status" 2>/dev/null)" \
		"failed 501 $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["msg"]))' "$T/$task.json")" \
		"$task: failed, code 501, the whole msg kept"
done
"$SPOOLER" run --once >"$T/run2.out" 2>"$T/run2.err"
ok $? "the next sweep runs"
grep -q 'damaged\|File too large' "$T/run1.err" "$T/run2.err"
is $? 1 "no sweep found a state it could not read"
"$SPOOLER" retry big3m >/dev/null 2>"$T/retry.err"
like "$(cat "$T/retry.err")" "failed at the provider" "retry reads the state too (and explains a provider failure)"

done_testing
