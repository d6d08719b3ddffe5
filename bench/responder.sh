#!/bin/sh
# Responder benchmark: requests per second through nginx, for
#   null           a do-nothing libfcgi responder (bench/null-responder.c:
#                  accept, read the body, reply 200 JSON), the baseline;
#   sync=no        veo-callback, entries renamed into place without fsync;
#   sync=yes       veo-callback, fsync of entry and directory (the default);
#   sync=no, tmpfs  (when /dev/shm is a writable tmpfs) sync=no with the spool
#                  in memory: the responder's own cost without the disk's;
# all behind the same nginx config in the same run, each with the same
# number of FastCGI children (spawn-fcgi), driven by wrk with the same POST
# script (a valid callback, a new taskId every request, the token in the
# query: authentication is required by default).  Prints requests per
# second and the ratio to the baseline.
#
# Then two more measurements:
#   - the disk's durable-store limit: bench/durable-store.c does what the
#     responder does per new callback with sync=yes (O_TMPFILE write, fsync,
#     linkat, directory fsync) in CHILDREN processes, nothing else; sync=yes
#     is compared with it;
#   - latency at a fixed rate (RATE requests/s, default 500) with
#     bench/fixed-rate.c, an open-loop generator in the manner of wrk2 (a
#     new taskId every request; latency counted from when a request was
#     due): p50/p99/max for null, sync=no and sync=yes.  (hey -q sends one
#     body again and again, which here would measure the duplicate path.)
#
# Last, identical repeats: REPEATERS (32) connections POST one and the same
# stored callback again and again (one taskId), the case of a sender that
# retries; null, sync=no and sync=yes, with their ratio to null.  With
# OLD_CALLBACK=path/to/another/veo-callback, that program is measured in the
# same run beside this one (for example the build of an earlier commit).
#
# The responders log as shipped (log unset: auto, which under spawn-fcgi is
# syslog); LOG=... sets the log setting instead (for example a file path).
#
# Never fails the build: problems are reported and the script exits 0.
# POSIX sh (`make bench` runs it with sh).
# Knobs: CHILDREN (4), THREADS (2), CONNECTIONS (32), DURATION (10s),
#        WARMUP (2s), SPOOL_PARENT (a directory on the disk to measure; /tmp),
#        RATE (500), RATE_SECONDS (10), LOG (unset), REPEATERS (32),
#        OLD_CALLBACK (unset), ONLY=repeats (only the identical repeats).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CALLBACK=$ROOT/build/veo-callback
CHILDREN=${CHILDREN:-4} THREADS=${THREADS:-2} CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-10s} WARMUP=${WARMUP:-2s} SPOOL_PARENT=${SPOOL_PARENT:-/tmp}
RATE=${RATE:-500} RATE_SECONDS=${RATE_SECONDS:-10} LOG=${LOG:-}
REPEATERS=${REPEATERS:-32} OLD_CALLBACK=${OLD_CALLBACK:-} ONLY=${ONLY:-}
TOKEN=bench-0b2d7c9a41e6f35d8a7c1e90

skip() { echo "bench/responder.sh: $*; no measurement"; exit 0; }
for c in cc nginx spawn-fcgi wrk python3; do
	command -v $c >/dev/null 2>&1 || skip "$c not installed"
done
[ -x "$CALLBACK" ] || skip "build/veo-callback missing (run make)"
[ -z "$OLD_CALLBACK" ] || [ -x "$OLD_CALLBACK" ] || skip "OLD_CALLBACK $OLD_CALLBACK is not a program"

T=$(mktemp -d /tmp/veo-bench.XXXXXX) || skip "no temp directory"
chmod 755 "$T"	# nginx workers run as nobody
SPOOLS=$(mktemp -d "$SPOOL_PARENT/veo-bench-spool.XXXXXX") || skip "no spool directory under $SPOOL_PARENT"
SHM=
if [ "$(df -P -T /dev/shm 2>/dev/null | awk 'NR == 2 { print $2 }')" = tmpfs ] && [ -w /dev/shm ]; then
	SHM=$(mktemp -d /dev/shm/veo-bench-spool.XXXXXX) || SHM=
fi
NGINX_PID=
finish() {
	[ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null
	for f in "$T"/*.pid; do
		[ -f "$f" ] || continue
		for p in $(cat "$f"); do kill "$p" 2>/dev/null; done
	done
	rm -rf "$T" "$SPOOLS" ${SHM:+"$SHM"}
}
trap finish EXIT
trap 'exit 130' INT TERM

FCGI_LIBS=$(pkg-config --cflags --libs fcgi 2>/dev/null) || FCGI_LIBS=-lfcgi
# shellcheck disable=SC2086
cc -O2 -Wall -o "$T/null-responder" "$ROOT/bench/null-responder.c" $FCGI_LIBS 2>"$T/cc.err" ||
	skip "cannot compile bench/null-responder.c: $(head -n 1 "$T/cc.err")"
for b in durable-store fixed-rate; do
	cc -O2 -Wall -o "$T/$b" "$ROOT/bench/$b.c" 2>"$T/cc.err" ||
		skip "cannot compile bench/$b.c: $(head -n 1 "$T/cc.err")"
done

# pool NAME PROGRAM [VAR=value ...]: CHILDREN FastCGI processes on $T/NAME.sock.
pool() {
	_name=$1 _prog=$2; shift 2
	env -i PATH=/usr/bin:/bin VEO_CONFIG=/dev/null VEO_TOKEN=$TOKEN ${LOG:+VEO_LOG=$LOG} "$@" \
		spawn-fcgi -s "$T/$_name.sock" -M 0666 -F "$CHILDREN" \
		-P "$T/$_name.pid" -- "$_prog" >/dev/null 2>>"$T/spawn.err"
}
mkdir -p "$SPOOLS/no" "$SPOOLS/yes"
pool null "$T/null-responder" || skip "spawn-fcgi failed: $(tail -n 1 "$T/spawn.err")"
pool sync-no "$CALLBACK" VEO_SPOOL_DIR="$SPOOLS/no" VEO_SYNC=no VEO_MIN_FREE=0 ||
	skip "spawn-fcgi failed: $(tail -n 1 "$T/spawn.err")"
pool sync-yes "$CALLBACK" VEO_SPOOL_DIR="$SPOOLS/yes" VEO_SYNC=yes VEO_MIN_FREE=0 ||
	skip "spawn-fcgi failed: $(tail -n 1 "$T/spawn.err")"
if [ -n "$SHM" ] && ! pool shm "$CALLBACK" VEO_SPOOL_DIR="$SHM" VEO_SYNC=no VEO_MIN_FREE=0; then
	echo "no tmpfs row: spawn-fcgi failed" >&2
	SHM=
fi
if [ -n "$OLD_CALLBACK" ]; then
	mkdir -p "$SPOOLS/old-no" "$SPOOLS/old-yes"
	pool old-sync-no "$OLD_CALLBACK" VEO_SPOOL_DIR="$SPOOLS/old-no" VEO_SYNC=no VEO_MIN_FREE=0 &&
	pool old-sync-yes "$OLD_CALLBACK" VEO_SPOOL_DIR="$SPOOLS/old-yes" VEO_SYNC=yes VEO_MIN_FREE=0 ||
		{ echo "no OLD_CALLBACK rows: spawn-fcgi failed" >&2; OLD_CALLBACK=; }
fi

. "$ROOT/bench/lib.sh"
mkdir -p "$T/ngx"
loc() {
	printf '\t\tlocation /%s { include /etc/nginx/fastcgi_params; fastcgi_pass unix:%s/%s.sock; }\n' "$1" "$T" "$1"
}
nginx_conf() {	# for start_nginx
PORT=$(port_candidate)
cat >"$T/nginx.conf" <<NGX
daemon off;
worker_processes 2;
pid $T/nginx.pid;
error_log $T/nginx.err notice;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $T/ngx/body;
	fastcgi_temp_path $T/ngx/fcgi;
	proxy_temp_path $T/ngx/proxy;
	uwsgi_temp_path $T/ngx/uwsgi;
	scgi_temp_path $T/ngx/scgi;
	server {
		listen 127.0.0.1:$PORT;
$(loc null; loc sync-no; loc sync-yes; loc shm; loc old-sync-no; loc old-sync-yes)
	}
}
NGX
}
start_nginx nginx_conf || skip "nginx did not start: $(tail -n 1 "$T/nginx.err")"

# A valid callback; every request a new taskId (so each one is a new entry).
cat >"$T/post.lua" <<'LUA'
local n = 0
local id = 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("id", threads) end
function init(args) id = wrk.thread:get("id") or 0 end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
	n = n + 1
	local tid = string.format("bench_%d_%d_%d", id, os.time(), n)
	local body = '{"code":200,"msg":"Veo3.1 video generated successfully.","data":{"taskId":"' ..
		tid .. '","info":{"resultUrls":["https://cdn.example.com/' .. tid .. '.mp4"],' ..
		'"originUrls":null,"resolution":"1080p"},"fallbackFlag":false}}'
	return wrk.format(nil, nil, nil, body)
end
LUA

# One callback, the same every request: identical repeats of one taskId.
REPEAT_BODY='{"code":200,"msg":"Veo3.1 video generated successfully.","data":{"taskId":"bench_repeat","info":{"resultUrls":["https://cdn.example.com/bench_repeat.mp4"],"originUrls":null,"resolution":"1080p"},"fallbackFlag":false}}'
printf '%s' "$REPEAT_BODY" >"$T/repeat.json"
cat >"$T/repeat.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$REPEAT_BODY'
LUA

# measure NAME [SCRIPT CONNECTIONS]: prints requests per second at /NAME
# (post.lua over CONNECTIONS by default), or a reason on stderr.
measure() {
	_s=${2:-post} _c=${3:-$CONNECTIONS}
	wrk -t"$THREADS" -c"$_c" -d"$WARMUP" -s "$T/$_s.lua" "http://127.0.0.1:$PORT/$1?token=$TOKEN" >/dev/null 2>&1
	wrk -t"$THREADS" -c"$_c" -d"$DURATION" -s "$T/$_s.lua" "http://127.0.0.1:$PORT/$1?token=$TOKEN" \
		>"$T/wrk.$1" 2>&1 || { echo "$1: wrk failed: $(tail -n 1 "$T/wrk.$1")" >&2; return 1; }
	_bad=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$T/wrk.$1")
	_err=$(sed -n 's/.*Socket errors: *\(.*\)/\1/p' "$T/wrk.$1")
	[ -n "$_bad" ] && echo "$1: $_bad replies were not 2xx: not counted as a valid rate" >&2 && return 1
	[ -n "$_err" ] && echo "$1: socket errors: $_err" >&2
	sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$T/wrk.$1"
}

# ratio A: A / the baseline, two decimals.
ratio() { awk -v a="$1" -v b="$NULL_RPS" 'BEGIN { printf "%.2f", a / b }'; }
row() {
	if [ -n "$2" ]; then
		printf '%-38s %12.0f %10s\n' "$1" "$2" "$(ratio "$2")"
	else
		printf '%-38s %12s %10s\n' "$1" "-" "-"
	fi
}

# ---- identical repeats of one taskId ----
repeats() {
	# The callback stored once, so that every measured request is a repeat.
	for n in sync-no sync-yes ${OLD_CALLBACK:+old-sync-no old-sync-yes}; do
		curl -s -o /dev/null -H 'Content-Type: application/json' --data-binary @"$T/repeat.json" \
			"http://127.0.0.1:$PORT/$n?token=$TOKEN" || echo "$n: the first store failed" >&2
	done
	echo
	echo "$REPEATERS concurrent identical repeats of one taskId (the same stored callback every request):"
	echo "  wrk -t$THREADS -c$REPEATERS -d$DURATION -s repeat.lua 'http://127.0.0.1:$PORT/NAME?token=$TOKEN'"
	echo "  (NAME: null, sync-no, sync-yes${OLD_CALLBACK:+, old-sync-no, old-sync-yes}; after a ${WARMUP} warm-up), repeat.lua:"
	sed 's/^/    /' "$T/repeat.lua"
	NULL_RPS=$(measure null repeat "$REPEATERS")
	[ -n "$NULL_RPS" ] || { echo "no baseline rate for the repeats" >&2; return; }
	R_NO=$(measure sync-no repeat "$REPEATERS")
	R_YES=$(measure sync-yes repeat "$REPEATERS")
	if [ -n "$OLD_CALLBACK" ]; then
		R_OLD_NO=$(measure old-sync-no repeat "$REPEATERS")
		R_OLD_YES=$(measure old-sync-yes repeat "$REPEATERS")
	fi
	printf '\n%-38s %12s %10s\n' "responder, $REPEATERS concurrent repeats" "requests/s" "ratio"
	row "null (libfcgi, no work)" "$NULL_RPS"
	row "veo-callback sync=no" "$R_NO"
	row "veo-callback sync=yes" "$R_YES"
	if [ -n "$OLD_CALLBACK" ]; then
		row "OLD_CALLBACK sync=no" "$R_OLD_NO"
		row "OLD_CALLBACK sync=yes" "$R_OLD_YES"
		echo "  (OLD_CALLBACK=$OLD_CALLBACK)"
	fi
	echo "entries in new/: sync=no $(ls "$SPOOLS/no/new" 2>/dev/null | wc -l), sync=yes $(ls "$SPOOLS/yes/new" 2>/dev/null | wc -l)"
}

echo "veo-callback responder benchmark: wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after ${WARMUP} warm-up), POST through nginx"
echo "FastCGI children per responder: $CHILDREN (spawn-fcgi); spool under $SPOOL_PARENT ($(df -T "$SPOOLS" | awk 'NR == 2 { print $2 }'))"
echo "$(nproc 2>/dev/null || echo '?') CPUs; $(uname -sr)"
if [ "$ONLY" = repeats ]; then
	repeats
	exit 0
fi
NULL_RPS=$(measure null)
NO_RPS=$(measure sync-no)
SHM_RPS=
[ -n "$SHM" ] && SHM_RPS=$(measure shm)
# The disk's durable-store limit, then sync=yes: each after sync(1), so that
# the writeback of the sync=no run's files does not weigh on either.
sync
mkdir -p "$SPOOLS/limit"
LIMIT_OUT=$("$T/durable-store" "$SPOOLS/limit" "$CHILDREN" "${DURATION%s}" 2>"$T/limit.err") ||
	{ echo "durable-store failed: $(head -n 1 "$T/limit.err")" >&2; LIMIT_OUT=; }
LIMIT=${LIMIT_OUT%% *}
sync
YES_RPS=$(measure sync-yes)
[ -n "$NULL_RPS" ] || skip "no baseline rate"
printf '\n%-38s %12s %10s\n' "responder" "requests/s" "ratio"
row "null (libfcgi, no work)" "$NULL_RPS"
row "veo-callback sync=no" "$NO_RPS"
row "veo-callback sync=yes" "$YES_RPS"
[ -n "$SHM" ] && row "veo-callback sync=no, spool on tmpfs" "$SHM_RPS"
echo
echo "entries stored: sync=no $(ls "$SPOOLS/no/new" 2>/dev/null | wc -l), sync=yes $(ls "$SPOOLS/yes/new" 2>/dev/null | wc -l)${SHM:+, tmpfs $(ls "$SHM/new" 2>/dev/null | wc -l)}"

# ---- the disk's durable-store limit, at the responder's concurrency ----
printf '%-38s %12s %10s\n' "durable-store limit ($CHILDREN processes)" "${LIMIT:+$(printf '%.0f' "$LIMIT")}" \
	"${LIMIT:+$(awk -v a="$YES_RPS" -v b="$LIMIT" 'BEGIN { if (a != "") printf "%.2f", a / b }')}"
# shellcheck disable=SC2086
[ -n "$LIMIT_OUT" ] && set -- $LIMIT_OUT &&
	echo "  (ratio: veo-callback sync=yes / that limit; one durable store alone took p50 $2 ms, p99 $3 ms)"

# ---- latency at a fixed rate ----
echo
echo "latency at a fixed $RATE requests/s for ${RATE_SECONDS}s (bench/fixed-rate.c, 16 connections), in ms:"
printf '%-38s %8s %8s %8s %8s %8s\n' "responder" "rate" "p50" "p90" "p99" "max"
P99_YES=
for n in null sync-no sync-yes; do
	out=$("$T/fixed-rate" "$PORT" "/$n?token=$TOKEN" "$RATE" "$RATE_SECONDS" 16 2>&1) ||
		{ echo "$n: fixed-rate failed: $out" >&2; continue; }
	# shellcheck disable=SC2046
	set -- $(printf '%s\n' "$out" | sed 's/[a-z0-9]*=//g')
	[ "$3" != 0 ] && echo "$n: $3 replies were not 200" >&2
	printf '%-38s %8s %8s %8s %8s %8s\n' "$n" "$4" "$5" "$6" "$7" "$9"
	[ "$n" = sync-yes ] && P99_YES=$7
	[ "$n" = sync-no ] && P99_NO=$7
done
echo
[ -n "$NO_RPS" ] && awk -v a="$NO_RPS" -v b="$NULL_RPS" 'BEGIN {
	printf "target: sync=no at least 0.85 of null: %s (%.2f)\n", (a / b >= 0.85) ? "met" : "NOT met", a / b }'
[ -n "$YES_RPS" ] && [ -n "$LIMIT" ] && awk -v a="$YES_RPS" -v b="$LIMIT" 'BEGIN {
	printf "target: sync=yes at least 0.9 of the durable-store limit: %s (%.2f)\n", (a / b >= 0.9) ? "met" : "NOT met", a / b }'
for v in "sync=no ${P99_NO:-}" "sync=yes ${P99_YES:-}"; do
	set -- $v
	[ -n "${2:-}" ] && awk -v p="$2" -v r="$RATE" -v n="$1" 'BEGIN {
		printf "target: p99 under 5 ms at %d requests/s, %s: %s (%s ms)\n", r, n, (p < 5) ? "met" : "NOT met", p }'
done
repeats
exit 0
