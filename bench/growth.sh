#!/bin/bash
# Sweep cost against history (issue 11, item 4), measured in one run:
#
#   history  N failure callbacks (default 100000, GROWTH_TASKS=N) stored by
#            the real responder in CGI mode, then taken in by one sweep
#   rows     a sweep taking in 10 new (failure) callbacks, over an empty
#            spool and over the history; an idle sweep at both; status
#            TASKID at both; status of every task
#
# Targets: 10-new sweep over history <= 1.5x over empty; idle sweep < 50 ms;
# status TASKID constant; status of 100,000 tasks < 2 s.  Each time is the
# median of 5.  Prints the exact commands.  Never fails the build.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CALLBACK=$ROOT/build/veo-callback SPOOLER=$ROOT/build/veo-spooler
N=${GROWTH_TASKS:-100000}
[ -x "$CALLBACK" ] && [ -x "$SPOOLER" ] || { echo "growth: build first (make)"; exit 0; }
T=$(mktemp -d /tmp/veo-growth.XXXXXX)
trap 'rm -rf "$T"' EXIT
: >"$T/empty.conf"
export VEO_CONFIG=$T/empty.conf VEO_SYNC=no VEO_MIN_FREE=0 VEO_AUTH=none

store() {	# store SPOOL PREFIX FROM TO: failure callbacks through the responder
	for ((i = $3; i < $4; i++)); do
		b='{"code":501,"msg":"generation failed","data":{"taskId":"'$2_$i'","info":null}}'
		printf '%s' "$b" | env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=POST \
			CONTENT_TYPE=application/json CONTENT_LENGTH=${#b} REMOTE_ADDR=127.0.0.1 \
			VEO_CONFIG="$T/empty.conf" VEO_AUTH=none VEO_SYNC=no VEO_MIN_FREE=0 \
			VEO_SPOOL_DIR="$1" "$CALLBACK" >/dev/null 2>&1
	done
}
ms() {	# ms CMD...: wall milliseconds of one run
	local a b
	a=${EPOCHREALTIME/./}; "$@" >/dev/null 2>&1; b=${EPOCHREALTIME/./}
	echo $(( (b - a) / 1000 ))
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
sweep() { VEO_SPOOL_DIR=$1 VEO_DOWNLOAD_DIR=$T/dl "$SPOOLER" run --once; }
status_one() { VEO_SPOOL_DIR=$1 "$SPOOLER" status "$2"; }
status_all() { VEO_SPOOL_DIR=$1 "$SPOOLER" status; }
new10() {	# new10 SPOOL ROUND: median input: 10 new callbacks, then time the sweep
	store "$1" "new$2" 0 10
	ms sweep "$1"
}

mkdir -p "$T/empty" "$T/hist" "$T/dl"
echo "history: $N failure callbacks through $CALLBACK (CGI), two at a time"
a=${EPOCHREALTIME/./}
store "$T/hist" old 0 $((N / 2)) & store "$T/hist" old $((N / 2)) "$N"; wait
b=${EPOCHREALTIME/./}
echo "  stored in $(( (b - a) / 1000000 )) s; one sweep takes them in:"
echo "  VEO_SPOOL_DIR=$T/hist $SPOOLER run --once   $(ms sweep "$T/hist") ms"
sweep "$T/empty"
echo
echo "commands measured (median of 5 each; VEO_SYNC=no, nothing downloaded):"
echo "  10 new: $CALLBACK (CGI) x10, then VEO_SPOOL_DIR=SPOOL $SPOOLER run --once"
echo "  idle:   VEO_SPOOL_DIR=SPOOL $SPOOLER run --once"
echo "  one:    VEO_SPOOL_DIR=SPOOL $SPOOLER status old_7"
echo "  all:    VEO_SPOOL_DIR=$T/hist $SPOOLER status"
store "$T/empty" old 7 8; sweep "$T/empty" 2>/dev/null
e_new=$(for r in 1 2 3 4 5; do new10 "$T/empty" "$r"; done | median)
h_new=$(for r in 1 2 3 4 5; do new10 "$T/hist" "$r"; done | median)
e_idle=$(for r in 1 2 3 4 5; do ms sweep "$T/empty"; done | median)
h_idle=$(for r in 1 2 3 4 5; do ms sweep "$T/hist"; done | median)
e_one=$(for r in 1 2 3 4 5; do ms status_one "$T/empty" old_7; done | median)
h_one=$(for r in 1 2 3 4 5; do ms status_one "$T/hist" old_7; done | median)
h_all=$(for r in 1 2 3; do ms status_all "$T/hist"; done | median)
ntask=$(ls "$T/hist/state" | wc -l)
echo
printf "%-34s %10s %12s %8s  %s\n" "row" "empty ms" "history ms" "ratio" "target"
row() { awk -v r="$1" -v e="$2" -v h="$3" -v t="$4" 'BEGIN {
	printf "%-34s %10d %12d %8.2f  %s\n", r, e, h, (e > 0 ? h / e : 0), t }'; }
row "sweep taking in 10 new tasks" "$e_new" "$h_new" "<= 1.5x"
row "idle sweep" "$e_idle" "$h_idle" "< 50 ms"
row "status TASKID" "$e_one" "$h_one" "constant"
printf "%-34s %10s %12d %8s  %s\n" "status of all $ntask tasks" "-" "$h_all" "-" "< 2000 ms"
exit 0
