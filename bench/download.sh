#!/bin/sh
# Download benchmark for veo-spooler, measured against curl in the same run.
#
#  1. throughput: the same URL list from the same local nginx, with the same
#     parallelism, fetched by `curl --parallel`, by `aria2c -j N` (one
#     connection a file, as curl) and by `veo-spooler run` (all writing to
#     the same disk); prints MiB/s and the ratio to curl; once at full
#     loopback speed and once with a per-connection rate limit; the files
#     are spread over four loopback addresses (so that no per-host rule
#     makes one program use fewer connections than another);
#  2. slow connections: one SLOW_MB file served at SLOW_RATE per connection
#     (nginx limit_rate), fetched by curl (one connection), by aria2c
#     -x 16 -s 16 (16 ranges at once) and by veo-spooler with its default
#     settings: where splitting a file into ranges pays, it shows here;
#  3. memory: peak RSS of `veo-spooler run` downloading one 1 GiB file.
# Each row prints the exact command it ran.
#
# Never fails the build: problems are reported ("skipped: install X") and
# the script exits 0.
# Knobs: FILES (8), SIZE_MB (64), PARALLEL (4), BIG_MB (1024), ROUNDS (3),
#        RATE_MB (16), SLOW_MB (64), SLOW_RATE (1m, nginx's syntax);
#        OLD_SPOOLER=path adds a row for another build, in the same run.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SPOOLER=$ROOT/build/veo-spooler
CALLBACK=$ROOT/build/veo-callback
FILES=${FILES:-8} SIZE_MB=${SIZE_MB:-64} PARALLEL=${PARALLEL:-4} BIG_MB=${BIG_MB:-1024}
ROUNDS=${ROUNDS:-3}
T=$(mktemp -d /tmp/veo-bench.XXXXXX)
chmod 755 "$T"	# nginx workers run as nobody
NGINX_PID=

finish() {
	[ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null
	rm -rf "$T"
}
trap finish EXIT
skip() { echo "bench/download.sh: skipped: $*"; exit 0; }

for c in nginx curl python3; do
	command -v $c >/dev/null 2>&1 || skip "install $c (sh tests/lib/install-deps.sh)"
done
[ -x "$SPOOLER" ] || skip "build/veo-spooler missing (run make)"

. "$ROOT/bench/lib.sh"
RATE_MB=${RATE_MB:-16} SLOW_MB=${SLOW_MB:-64} SLOW_RATE=${SLOW_RATE:-1m}
ARIA2=
command -v aria2c >/dev/null 2>&1 && ARIA2=aria2c
mkdir -p "$T/www/slow" "$T/ngx"
nginx_conf() {	# for start_nginx: two ports, PORT and LPORT
PORT=$(port_candidate) LPORT=$(port_candidate)
while [ "$LPORT" = "$PORT" ]; do LPORT=$(port_candidate); done
cat >"$T/nginx.conf" <<NGX
daemon off;
worker_processes 2;
pid $T/nginx.pid;
error_log $T/nginx.err notice;
events { worker_connections 256; }
http {
	access_log off;
	sendfile on;
	client_body_temp_path $T/ngx/b; proxy_temp_path $T/ngx/p; fastcgi_temp_path $T/ngx/f;
	uwsgi_temp_path $T/ngx/u; scgi_temp_path $T/ngx/s;
	# Four loopback addresses, so that the spooler's per_host rule does
	# not make it use fewer connections than curl.  /slow/: one file at a
	# slow rate per connection, for the splitting row.
	server { listen 127.0.0.1:$PORT; listen 127.0.0.2:$PORT; listen 127.0.0.3:$PORT;
		 listen 127.0.0.4:$PORT; root $T/www; location /slow/ { limit_rate $SLOW_RATE; } }
	# The same files at a fixed rate per connection: downloads as they are
	# on a real network, where the link and not the CPU is the limit.
	server { listen 127.0.0.1:$LPORT; listen 127.0.0.2:$LPORT; listen 127.0.0.3:$LPORT;
		 listen 127.0.0.4:$LPORT; root $T/www; limit_rate ${RATE_MB}m; }
}
NGX
}

# Files that sniff as MP4: an ftyp box, an mdat box to the end, random bytes.
make_file() {
	{ printf '\000\000\000\030ftypmp42\000\000\000\000mp42isom\000\000\000\000mdat'
	  head -c $(($2 * 1048576 - 32)) /dev/urandom; } >"$1"
}
i=1
while [ $i -le "$FILES" ]; do make_file "$T/www/f$i.mp4" "$SIZE_MB"; i=$((i + 1)); done
make_file "$T/www/big.mp4" "$BIG_MB" || skip "cannot create the 1 GiB file"
make_file "$T/www/slow/slow.mp4" "$SLOW_MB" || skip "cannot create the $SLOW_MB MiB file"

start_nginx nginx_conf || skip "nginx did not start: $(tail -n 1 "$T/nginx.err")"

now() { python3 -c 'import time; print("%.6f" % time.monotonic())'; }
URLPORT=$PORT
urls() {	# file i from 127.0.0.(1 + i % 4)
	i=1
	while [ $i -le "$FILES" ]; do
		echo "http://127.0.0.$((1 + i % 4)):$URLPORT/f$i.mp4"
		i=$((i + 1))
	done
}

CURL_CMD='curl -sS --no-progress-meter --fail --parallel --parallel-max $PARALLEL -K $T/curl.cfg'
run_curl() {
	rm -rf "$T/curl"; mkdir -p "$T/curl"; : >"$T/curl.cfg"
	for u in $(urls); do printf 'url = "%s"\noutput = "%s/%s"\n' "$u" "$T/curl" "${u##*/}" >>"$T/curl.cfg"; done
	t0=$(now)
	eval "$CURL_CMD" || echo "curl failed" >&2
	t1=$(now)
	echo "$t0 $t1" | awk '{print $2 - $1}'
}
# aria2c, as curl: PARALLEL files at a time, one connection a file.
ARIA2_CMD='aria2c -q -j $PARALLEL -x 1 -s 1 --file-allocation=none --allow-overwrite=true -d $T/aria2 -i $T/aria2.list'
run_aria2() {
	rm -rf "$T/aria2"; mkdir -p "$T/aria2"
	urls >"$T/aria2.list"
	t0=$(now)
	eval "$ARIA2_CMD" || echo "aria2c failed" >&2
	t1=$(now)
	got=$(ls "$T"/aria2/*.mp4 2>/dev/null | wc -l)
	[ "$got" -eq "$FILES" ] || echo "aria2c fetched only $got of $FILES files" >&2
	echo "$t0 $t1" | awk '{print $2 - $1}'
}

SPOOLER_CMD='env VEO_CONFIG=/dev/null VEO_SPOOL_DIR=$T/spool VEO_DOWNLOAD_DIR=$T/dl VEO_SYNC=$1 VEO_ALLOW_PRIVATE=yes VEO_HTTPS_ONLY=no VEO_PARALLEL=$PARALLEL VEO_MAX_TIME=3600 $SPOOLER run --once'
run_spooler() {	# run_spooler SYNC
	rm -rf "$T/spool" "$T/dl"; mkdir -p "$T/spool" "$T/dl"
	n=1
	for u in $(urls); do
		body=$(printf '{"code":200,"msg":"ok","data":{"taskId":"bench%d","info":{"resultUrls":["%s"]}}}' $n "$u")
		printf '%s' "$body" | env -i VEO_CONFIG=/dev/null VEO_SPOOL_DIR="$T/spool" VEO_MIN_FREE=0 VEO_AUTH=none \
			REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH=${#body} \
			"$CALLBACK" >/dev/null 2>&1
		n=$((n + 1))
	done
	t0=$(now)
	eval "$SPOOLER_CMD" >/dev/null 2>"$T/spooler.err" || echo "spooler failed" >&2
	t1=$(now)
	got=$(ls "$T"/dl/*/result-0.mp4 2>/dev/null | wc -l)
	[ "$got" -eq "$FILES" ] || echo "spooler fetched only $got of $FILES files" >&2
	echo "$t0 $t1" | awk '{print $2 - $1}'
}

best() { sort -n | head -1; }
MB=$((FILES * SIZE_MB))
compare() {	# compare ROUNDS: curl, then the spooler, same URLs; prints the table
	C=$(r=0; while [ $r -lt "$1" ]; do run_curl; r=$((r + 1)); done | best)
	A=
	[ -n "$ARIA2" ] && A=$(r=0; while [ $r -lt "$1" ]; do run_aria2; r=$((r + 1)); done | best)
	S=$(r=0; while [ $r -lt "$1" ]; do run_spooler no; r=$((r + 1)); done | best)
	Y=$(r=0; while [ $r -lt "$1" ]; do run_spooler yes; r=$((r + 1)); done | best)
	O=
	[ -n "${OLD_SPOOLER:-}" ] && O=$(r=0; while [ $r -lt "$1" ]; do SPOOLER=$OLD_SPOOLER run_spooler no; r=$((r + 1)); done | best)
	awk -v mb="$MB" -v c="$C" -v a="$A" -v s="$S" -v y="$Y" -v o="$O" 'BEGIN {
		printf "  %-34s %8.1f MiB/s  (%.2f s)\n", "curl --parallel (baseline)", mb / c, c
		if (a != "") printf "  %-34s %8.1f MiB/s  (%.2f s)  ratio %.2f\n", "aria2c -j N", mb / a, a, c / a
		else printf "  %-34s skipped: install aria2\n", "aria2c -j N"
		printf "  %-34s %8.1f MiB/s  (%.2f s)  ratio %.2f\n", "veo-spooler run, sync = no", mb / s, s, c / s
		printf "  %-34s %8.1f MiB/s  (%.2f s)  ratio %.2f\n", "veo-spooler run, sync = yes", mb / y, y, c / y
		if (o != "") printf "  %-34s %8.1f MiB/s  (%.2f s)  ratio %.2f\n", "OLD_SPOOLER run, sync = no", mb / o, o, c / o
	}'
}
echo "load$(uptime | sed 's/.*load average//'); $(nproc 2>/dev/null || echo '?') CPUs"
echo "download throughput: $FILES files x $SIZE_MB MiB, parallel $PARALLEL, best of $ROUNDS; commands (URLs on 127.0.0.1-4):"
echo "  $(eval "echo \"$CURL_CMD\"")"
echo "  $(eval "echo \"$ARIA2_CMD\"")"
echo "  $(set -- SYNC; eval "echo \"$SPOOLER_CMD\"")  (one callback a file stored first)"
echo " loopback, no rate limit (CPU-bound: the spooler also SHA-256s every byte, curl does not):"
compare "$ROUNDS"
echo " each connection limited to $RATE_MB MiB/s by nginx (network-bound, as real downloads are):"
URLPORT=$LPORT
compare 1

# ---- one file, a slow rate per connection: where splitting shows ----
SLOW_URL=http://127.0.0.1:$PORT/slow/slow.mp4
SLOW_CURL='curl -sS --no-progress-meter --fail -o $T/slow-curl.mp4 $SLOW_URL'
SLOW_ARIA2='aria2c -q -x 16 -s 16 -k 1M --file-allocation=none --allow-overwrite=true -d $T -o slow-aria2.mp4 $SLOW_URL'
SLOW_SPOOLER='env VEO_CONFIG=/dev/null VEO_SPOOL_DIR=$T/spool VEO_DOWNLOAD_DIR=$T/dl VEO_ALLOW_PRIVATE=yes VEO_HTTPS_ONLY=no VEO_MAX_TIME=3600 $SPOOLER run --once'
timed() {	# timed CMD: wall seconds of eval CMD
	t0=$(now)
	eval "$1" >/dev/null 2>>"$T/slow.err" || echo "failed: $1" >&2
	t1=$(now)
	echo "$t0 $t1" | awk '{print $2 - $1}'
}
WANT=$(sha256sum <"$T/www/slow/slow.mp4")
same() { [ "$(sha256sum <"$1" 2>/dev/null)" = "$WANT" ] || echo "  (the file from $2 is not whole)"; }
echo
echo "one $SLOW_MB MiB file, each connection limited to $SLOW_RATE/s by nginx (a slow result host); commands:"
for c in "$SLOW_CURL" "$SLOW_ARIA2" "$SLOW_SPOOLER"; do echo "  $(eval "echo \"$c\"")"; done
SC=$(timed "$SLOW_CURL"); same "$T/slow-curl.mp4" curl
SA=
if [ -n "$ARIA2" ]; then SA=$(timed "$SLOW_ARIA2"); same "$T/slow-aria2.mp4" aria2c; fi
slow_spooler() {	# slow_spooler [VAR=VALUE]: a fresh spool, the callback, one run
	rm -rf "$T/spool" "$T/dl"; mkdir -p "$T/spool" "$T/dl"
	body=$(printf '{"code":200,"msg":"ok","data":{"taskId":"slow","info":{"resultUrls":["%s"]}}}' "$SLOW_URL")
	printf '%s' "$body" | env -i VEO_CONFIG=/dev/null VEO_SPOOL_DIR="$T/spool" VEO_MIN_FREE=0 VEO_AUTH=none \
		REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH=${#body} "$CALLBACK" >/dev/null 2>&1
	timed "$1 $SLOW_SPOOLER"
}
SS=$(slow_spooler ""); same "$T/dl/slow/result-0.mp4" veo-spooler
SS16=$(slow_spooler VEO_PER_HOST=16); same "$T/dl/slow/result-0.mp4" "veo-spooler (per_host = 16)"
awk -v mb="$SLOW_MB" -v c="$SC" -v a="$SA" -v s="$SS" -v s16="$SS16" 'BEGIN {
	printf "  %-34s %8.1f MiB/s  (%.2f s)\n", "curl, one connection (baseline)", mb / c, c
	if (a != "") printf "  %-34s %8.1f MiB/s  (%.2f s)  ratio %.2f\n", "aria2c -x 16 -s 16 -k 1M", mb / a, a, c / a
	else printf "  %-34s skipped: install aria2\n", "aria2c -x 16 -s 16 -k 1M"
	printf "  %-34s %8.1f MiB/s  (%.2f s)  ratio %.2f\n", "veo-spooler run (defaults)", mb / s, s, c / s
	printf "  %-34s %8.1f MiB/s  (%.2f s)  ratio %.2f\n", "veo-spooler run, per_host = 16", mb / s16, s16, c / s16
}'
rm -f "$T/slow-curl.mp4" "$T/slow-aria2.mp4"

echo
echo "peak memory: one $BIG_MB MiB file"
rm -rf "$T/spool" "$T/dl" "$T/curl"; mkdir -p "$T/spool" "$T/dl"
body=$(printf '{"code":200,"msg":"ok","data":{"taskId":"big","info":{"resultUrls":["http://127.0.0.1:%s/big.mp4"]}}}' "$PORT")
printf '%s' "$body" | env -i VEO_CONFIG=/dev/null VEO_SPOOL_DIR="$T/spool" VEO_MIN_FREE=0 VEO_AUTH=none \
	REQUEST_METHOD=POST CONTENT_TYPE=application/json CONTENT_LENGTH=${#body} "$CALLBACK" >/dev/null 2>&1
python3 - "$SPOOLER" "$T" <<'PY'
import os, subprocess, sys
spooler, t = sys.argv[1], sys.argv[2]
env = dict(os.environ, VEO_CONFIG="/dev/null", VEO_SPOOL_DIR=t + "/spool", VEO_DOWNLOAD_DIR=t + "/dl",
           VEO_ALLOW_PRIVATE="yes", VEO_HTTPS_ONLY="no", VEO_MAX_TIME="3600")
p = subprocess.Popen([spooler, "run", "--once"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, ru = os.wait4(p.pid, 0)
size = os.path.getsize(t + "/dl/big/result-0.mp4") if os.path.exists(t + "/dl/big/result-0.mp4") else 0
print("  veo-spooler run: peak RSS %.1f MiB for a %.0f MiB file (exit %d)" % (ru.ru_maxrss / 1024, size / 1048576, status >> 8))
PY
exit 0
