#!/bin/sh
# Download benchmark for veo-spooler, measured against curl in the same run.
#
#  1. throughput: the same URL list from the same local nginx, with the same
#     parallelism, fetched by `curl --parallel` and by `veo-spooler run`
#     (both writing to the same disk); prints MB/s and the ratio; once at
#     full loopback speed and once with a per-connection rate limit; the
#     files are spread over four loopback addresses, as the spooler opens at
#     most two connections to one host;
#  2. memory: peak RSS of `veo-spooler run` downloading one 1 GiB file.
#
# Never fails the build: problems are reported and the script exits 0.
# Knobs: FILES (8), SIZE_MB (64), PARALLEL (4), BIG_MB (1024), ROUNDS (3).
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
skip() { echo "bench/download.sh: $*; skipped"; exit 0; }

for c in nginx curl python3; do
	command -v $c >/dev/null 2>&1 || skip "$c not installed"
done
[ -x "$SPOOLER" ] || skip "build/veo-spooler missing (run make)"

. "$ROOT/bench/lib.sh"
RATE_MB=${RATE_MB:-16}
mkdir -p "$T/www" "$T/ngx"
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
	# Four loopback addresses, so that the spooler's two-connections-a-host
	# rule does not make it use fewer connections than curl.
	server { listen 127.0.0.1:$PORT; listen 127.0.0.2:$PORT; listen 127.0.0.3:$PORT;
		 listen 127.0.0.4:$PORT; root $T/www; }
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

run_curl() {
	rm -rf "$T/curl"; mkdir -p "$T/curl"; : >"$T/curl.cfg"
	for u in $(urls); do printf 'url = "%s"\noutput = "%s/%s"\n' "$u" "$T/curl" "${u##*/}" >>"$T/curl.cfg"; done
	t0=$(now)
	curl -sS --no-progress-meter --fail --parallel --parallel-max "$PARALLEL" -K "$T/curl.cfg" || echo "curl failed" >&2
	t1=$(now)
	echo "$t0 $t1" | awk '{print $2 - $1}'
}

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
	env VEO_CONFIG=/dev/null VEO_SPOOL_DIR="$T/spool" VEO_DOWNLOAD_DIR="$T/dl" VEO_SYNC="$1" \
		VEO_ALLOW_PRIVATE=yes VEO_HTTPS_ONLY=no VEO_PARALLEL="$PARALLEL" VEO_MAX_TIME=3600 \
		"$SPOOLER" run --once >/dev/null 2>"$T/spooler.err" || echo "spooler failed" >&2
	t1=$(now)
	got=$(ls "$T"/dl/*/result-0.mp4 2>/dev/null | wc -l)
	[ "$got" -eq "$FILES" ] || echo "spooler fetched only $got of $FILES files" >&2
	echo "$t0 $t1" | awk '{print $2 - $1}'
}

best() { sort -n | head -1; }
MB=$((FILES * SIZE_MB))
compare() {	# compare ROUNDS: curl, then the spooler, same URLs; prints the table
	C=$(r=0; while [ $r -lt "$1" ]; do run_curl; r=$((r + 1)); done | best)
	S=$(r=0; while [ $r -lt "$1" ]; do run_spooler no; r=$((r + 1)); done | best)
	Y=$(r=0; while [ $r -lt "$1" ]; do run_spooler yes; r=$((r + 1)); done | best)
	awk -v mb="$MB" -v c="$C" -v s="$S" -v y="$Y" 'BEGIN {
		printf "  %-34s %8.1f MiB/s  (%.2f s)\n", "curl --parallel (baseline)", mb / c, c
		printf "  %-34s %8.1f MiB/s  (%.2f s)  ratio %.2f\n", "veo-spooler run, sync = no", mb / s, s, c / s
		printf "  %-34s %8.1f MiB/s  (%.2f s)  ratio %.2f\n", "veo-spooler run, sync = yes", mb / y, y, c / y
	}'
}
echo "download throughput: $FILES files x $SIZE_MB MiB, parallel $PARALLEL, best of $ROUNDS"
echo " loopback, no rate limit (CPU-bound: the spooler also SHA-256s every byte, curl does not):"
compare "$ROUNDS"
echo " each connection limited to $RATE_MB MiB/s by nginx (network-bound, as real downloads are):"
URLPORT=$LPORT
compare 1

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
