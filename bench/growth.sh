#!/bin/bash
# Sweep and status cost against history (issue 11, item 4), in one run:
#
#   bash bench/growth.sh [N]        (default N = 100000; or GROWTH_TASKS=N)
#
#   history  N failure callbacks (code 501) POSTed through the real
#            responder, build/veo-callback as a FastCGI server (two
#            children under spawn-fcgi, else one with --listen), by
#            build/tools/fcgi-post on its Unix socket, with sync = no and
#            log = off (the history only has to exist: its durability is
#            not measured); then one sweep takes them all in, so the spool
#            holds N finished (failed) tasks; then the hourly tidy (forced)
#            packs their states for status (statepack.h)
#   rows     a sweep taking in 10 new (failure) callbacks, over an empty
#            spool and over the history; an idle sweep at both; status
#            TASKID at both; status and status --json of every task; and,
#            for information, status with the state files and the pack
#            dropped from the page cache (a status long after the tasks
#            ended), status without the pack (the first hour), and the
#            hourly tidy
#
# Targets: 10-new sweep over history <= 1.5x over empty; idle sweep < 50 ms
# at any history; status TASKID constant (history <= 1.5x empty); status of
# 100,000 tasks < 2 s.  Each time is wall clock, including the process
# start: the median of 7 (10 new), 11 (idle sweep, status TASKID: empty and
# history runs alternating) or 3 (status of all).  Prints the commands it times.
# Takes about 3 minutes at 100,000 on 2 cores.  Never fails the build.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CALLBACK=$ROOT/build/veo-callback SPOOLER=$ROOT/build/veo-spooler POST=$ROOT/build/tools/fcgi-post
N=${1:-${GROWTH_TASKS:-100000}}
case $N in ''|*[!0-9]*) echo "usage: bash bench/growth.sh [N]"; exit 0 ;; esac
[ -x "$CALLBACK" ] && [ -x "$SPOOLER" ] && [ -x "$POST" ] ||
	{ echo "growth: build first (make all tools)"; exit 0; }
T=$(mktemp -d /tmp/veo-growth.XXXXXX)
PIDS=
finish() { for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$T"; }
trap finish EXIT
trap 'exit 130' INT TERM
: >"$T/empty.conf"
export VEO_CONFIG=$T/empty.conf VEO_SYNC=no VEO_MIN_FREE=0 VEO_AUTH=none VEO_LOG=off

# responder SPOOL NAME: a FastCGI responder storing into SPOOL on $T/NAME.sock
responder() {
	if command -v spawn-fcgi >/dev/null 2>&1; then
		env VEO_SPOOL_DIR="$1" spawn-fcgi -s "$T/$2.sock" -M 0600 -F 2 -P "$T/$2.pid" \
			-- "$CALLBACK" >/dev/null 2>"$T/$2.err" || return 1
		PIDS="$PIDS $(cat "$T/$2.pid")"
	else
		VEO_SPOOL_DIR="$1" "$CALLBACK" --listen "$T/$2.sock" 2>"$T/$2.err" &
		PIDS="$PIDS $!"
		for _ in $(seq 100); do [ -S "$T/$2.sock" ] && break; sleep 0.05; done
	fi
	[ -S "$T/$2.sock" ]
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
status_json() { VEO_SPOOL_DIR=$1 "$SPOOLER" status --json; }
new10() {	# new10 NAME ROUND: 10 new callbacks, then the time of one sweep
	"$POST" "$T/$1.sock" "new$2" 0 10 501 1 >/dev/null
	ms sweep "$T/$1"
}
uncache() {	# drops SPOOL's state files and pack from the page cache (written back first)
	python3 - "$1" <<'PY' 2>/dev/null
import os, sys
sp = sys.argv[1]
d = os.path.join(sp, "state")
for p in [os.path.join(d, n) for n in os.listdir(d)] + [os.path.join(sp, "state.pack")]:
    try:
        f = os.open(p, os.O_RDONLY)
        os.fdatasync(f)
        os.posix_fadvise(f, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(f)
    except OSError:
        pass
PY
}
tidy() {	# tidy SPOOL: a sweep that does the hourly tidying (at most hourly otherwise)
	rm -f "$1/tidied"
	sweep "$1"
}

mkdir -p "$T/empty" "$T/hist" "$T/dl"
responder "$T/hist" hist && responder "$T/empty" empty ||
	{ echo "growth: the responder did not start: $(cat "$T"/*.err 2>/dev/null | tail -n 1)"; exit 0; }
echo "history: $N failure callbacks through $CALLBACK (FastCGI, sync = no, log = off):"
echo "  $POST $T/hist.sock old 0 $N 501 2"
echo "  $("$POST" "$T/hist.sock" old 0 "$N" 501 2)"
echo "  one sweep takes them in: VEO_SPOOL_DIR=$T/hist $SPOOLER run --once  $(ms sweep "$T/hist") ms"
sleep 3	# the pack leaves out states changed in the last 2 s (statepack.h)
t_pack=$(ms tidy "$T/hist")
t_tidy=$(ms tidy "$T/hist")
echo "  the hourly tidy packs them: rm $T/hist/tidied; (the same run --once)  $t_pack ms"
echo "  pack: $(ls -l "$T/hist/state.pack" 2>/dev/null | awk '{ print $5 }') bytes"
"$POST" "$T/empty.sock" old 7 8 501 1 >/dev/null
sweep "$T/empty" >/dev/null 2>&1
echo
echo "commands timed (VEO_CONFIG=$T/empty.conf VEO_SYNC=no; nothing to download):"
echo "  10 new: $POST SOCKET newR 0 10 501 1, then VEO_SPOOL_DIR=SPOOL $SPOOLER run --once"
echo "  idle:   VEO_SPOOL_DIR=SPOOL $SPOOLER run --once"
echo "  one:    VEO_SPOOL_DIR=SPOOL $SPOOLER status old_7"
echo "  all:    VEO_SPOOL_DIR=$T/hist $SPOOLER status [--json]"
# Empty and history runs alternate, so that both see the same load on a
# shared machine; each row is the median of its runs.
pair() {	# pair ROUNDS FUNCTION: "EMPTY-MS HISTORY-MS", FUNCTION NAME ROUND timing one run
	local e= h=
	for ((r = 1; r <= $1; r++)); do e+="$("$2" empty "$r") "; h+="$("$2" hist "$r") "; done
	echo "$(printf '%s\n' $e | median) $(printf '%s\n' $h | median)"
}
idle() { ms sweep "$T/$1"; }
one() { ms status_one "$T/$1" old_7; }
read -r e_new h_new < <(pair 7 new10)
read -r e_idle h_idle < <(pair 11 idle)
read -r e_one h_one < <(pair 11 one)
h_all=$(for r in 1 2 3; do ms status_all "$T/hist"; done | median)
h_json=$(for r in 1 2 3; do ms status_json "$T/hist"; done | median)
uncache "$T/hist"
h_cold=$(ms status_all "$T/hist")
mv "$T/hist/state.pack" "$T/state.pack" 2>/dev/null
h_nopack=$(for r in 1 2 3; do ms status_all "$T/hist"; done | median)
uncache "$T/hist"
h_nopack_cold=$(ms status_all "$T/hist")
mv "$T/state.pack" "$T/hist/state.pack" 2>/dev/null
ntask=$(status_all "$T/hist" | tail -n +2 | wc -l)
echo
printf "%-40s %9s %11s %7s  %s\n" "measure" "empty ms" "history ms" "ratio" "target"
row() { awk -v r="$1" -v e="$2" -v h="$3" -v t="$4" 'BEGIN {
	printf "%-40s %9d %11d %7.2f  %s\n", r, e, h, (e > 0 ? h / e : 0), t }'; }
row "sweep taking in 10 new tasks" "$e_new" "$h_new" "<= 1.5 (ratio)"
row "idle sweep" "$e_idle" "$h_idle" "< 50 ms"
row "status TASKID" "$e_one" "$h_one" "<= 1.5 (ratio), constant"
all() { awk -v r="$1" -v h="$2" -v t="$3" -v l="$4" 'BEGIN {
	printf "%-40s %9s %11d %7s  %s\n", r, "-", h, (l > 0 ? sprintf("%.2f", h / l) : "-"), t }'; }
all "status of all $ntask tasks" "$h_all" "< 2000 ms (ratio to it)" 2000
all "status --json of all $ntask tasks" "$h_json" "- (same path)" 0
all "status of all, nothing cached" "$h_cold" "- (information)" 0
all "status of all, no pack (first hour)" "$h_nopack" "- (information)" 0
all "status of all, no pack, nothing cached" "$h_nopack_cold" "- (information)" 0
all "hourly tidy sweep: first pack" "$t_pack" "- (information)" 0
all "hourly tidy sweep: pack unchanged" "$t_tidy" "- (information)" 0
exit 0
