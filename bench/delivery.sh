#!/bin/sh
# End-to-end delivery benchmark (issue 11): from kie.ai's callbacks to the
# videos on disk, for
#   veo-callback + spooler  the real stack: nginx with the shipped
#                  nginx.conf.example (TLS; only ports and paths substituted,
#                  as tests/deploy-nginx.t does), the responder under
#                  spawn-fcgi as that file's comment starts it (one process),
#                  and `veo-spooler run --follow` as examples/veo-spooler.service
#                  runs it (default parallel and per_host; allow_private and
#                  https_only = no, the tests' settings for 127.0.0.1);
#   Flask sample   the Python receiver of kie.ai's callback page
#                  (bench/flask_receiver.py, copied as it is): it downloads
#                  in the request handler with requests, under Flask's own
#                  server (threaded), plain http as in the sample;
# in the same run, on the same files: N videos of SIZE_MB MiB (an ftyp box
# first, as the spooler's sniffing wants, then random bytes) served by a
# local nginx that limits every connection to each of RATES KiB/s.
#
# The sender (bench/delivery.py) plays kie.ai: N success callbacks at once,
# each with its own taskId; every attempt times out after TIMEOUT (15) s; a
# timed-out or failed attempt (no reply, or not 200) is retried after
# RETRY_DELAY s, at most RETRIES (3) times.  kie.ai's page gives no retry
# delay; 5 s is this benchmark's choice.
#
# Prints, per receiver and rate: first-try ack p50/p99, timed-out
# callbacks/attempts, lost callbacks, when every video was on disk with the
# right SHA-256 (for good, and first seen), the MiB the file server sent
# per video (its access log's $bytes_sent summed per file), the ratio of
# the two receivers' times, and the targets.
#
# Never fails the build: a missing tool is reported ("skipped: install X")
# and the script exits 0.  POSIX sh.
# Knobs: N (40), SIZE_MB (8), RATES ("2048 512", KiB/s), RETRY_DELAY (5),
#        TIMEOUT (15), RETRIES (3), CHILDREN (1, responder processes),
#        PER_HOST (unset: the spooler's default), MAX_WAIT (300 s per row);
#        for debugging: KEEP=DIR copies the site's logs and the spooler's
#        output there, HOLD=S keeps the stack up S seconds before the runs.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CALLBACK=$ROOT/build/veo-callback
SPOOLER=$ROOT/build/veo-spooler
N=${N:-40} SIZE_MB=${SIZE_MB:-8} RATES=${RATES:-"2048 512"} RETRY_DELAY=${RETRY_DELAY:-5}
TIMEOUT=${TIMEOUT:-15} RETRIES=${RETRIES:-3} CHILDREN=${CHILDREN:-1} PER_HOST=${PER_HOST:-}
MAX_WAIT=${MAX_WAIT:-300}
TOKEN='change-me-0b2d7c9a41e6f35d8a7c1e90'	# the shipped nginx.conf.example's

skip() { echo "bench/delivery.sh: skipped: $*"; exit 0; }
for c in nginx spawn-fcgi openssl python3; do
	command -v $c >/dev/null 2>&1 || skip "install $c (sh tests/lib/install-deps.sh)"
done
[ -x "$CALLBACK" ] && [ -x "$SPOOLER" ] || skip "build the programs first (make)"
[ -f /etc/nginx/fastcgi_params ] || skip "install nginx-light (/etc/nginx/fastcgi_params is missing)"
# A python3 with Flask and requests (Debian's python3-flask and
# python3-requests are for /usr/bin/python3; another python3 on PATH may
# have its own).
FLASK_PY=
for py in /usr/bin/python3 python3; do
	"$py" -c 'import flask, requests' 2>/dev/null && FLASK_PY=$py && break
done

T=$(mktemp -d /tmp/veo-bench.XXXXXX) || skip "no temp directory"
chmod 755 "$T"	# nginx workers run as nobody
CDN_PID= SITE_PID= SPOOLER_PID= FLASK_PID=
finish() {
	for p in $SPOOLER_PID $FLASK_PID $SITE_PID $CDN_PID; do kill "$p" 2>/dev/null; done
	[ -f "$T/fcgi.pid" ] && for p in $(cat "$T/fcgi.pid"); do kill "$p" 2>/dev/null; done
	sleep 0.2
	rm -rf "$T"
}
trap finish EXIT
trap 'exit 130' INT TERM

. "$ROOT/bench/lib.sh"
TOP=$T

# ---- the videos, and the file server ("the CDN") ----
mkdir -p "$TOP/files" "$TOP/www" "$TOP/cdn/tmp"
i=1
while [ $i -le "$N" ]; do
	{ printf '\000\000\000\030ftypmp42\000\000\000\000mp42isom\000\000\000\000mdat'
	  head -c $((SIZE_MB * 1048576 - 32)) /dev/urandom; } >"$TOP/files/f$i.mp4" ||
		skip "cannot write $N files of $SIZE_MB MiB under /tmp"
	i=$((i + 1))
done
(cd "$TOP/files" && sha256sum f*.mp4) >"$TOP/sums"
LOCS=
for r in $RATES; do
	mkdir -p "$TOP/www/r$r"
	ln -s ../../files "$TOP/www/r$r/veo"
	ln -s ../../files "$TOP/www/r$r/flask"
	LOCS="$LOCS location /r$r/ { limit_rate ${r}k; }"
done
cdn_conf() {	# for start_nginx
FPORT=$(port_candidate)
cat >"$T/nginx.conf" <<NGX
daemon off;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx.err notice;
events { worker_connections 2048; }
http {
	log_format bytes '\$uri \$status \$bytes_sent \$request_time';
	access_log $T/access.log bytes;
	sendfile on;
	types { video/mp4 mp4; }
	client_body_temp_path $T/tmp/b; proxy_temp_path $T/tmp/p; fastcgi_temp_path $T/tmp/f;
	uwsgi_temp_path $T/tmp/u; scgi_temp_path $T/tmp/s;
	server {
		listen 127.0.0.1:$FPORT;
		root $TOP/www;
		$LOCS
	}
}
NGX
}
T=$TOP/cdn
start_nginx cdn_conf || skip "the file server's nginx did not start: $(tail -n 1 "$T/nginx.err")"
CDN_PID=$NGINX_PID
T=$TOP

# ---- the site: nginx.conf.example in front of the responder ----
mkdir -p "$TOP/site/tmp" "$TOP/run" "$TOP/spool"
cp /etc/nginx/fastcgi_params "$TOP/site/fastcgi_params"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj "/CN=callback.example.com" -addext "subjectAltName=DNS:callback.example.com" \
	-keyout "$TOP/site/tls.key" -out "$TOP/site/tls.crt" 2>/dev/null || skip "openssl cannot make a certificate"
site_conf() {	# for start_nginx: the shipped server blocks, ports and paths substituted
P80=$(port_candidate) P443=$(port_candidate)
while [ "$P443" = "$P80" ]; do P443=$(port_candidate); done
sed -e "s#^\([[:space:]]*\)listen 80;#\1listen 127.0.0.1:$P80;#" \
    -e "s#^\([[:space:]]*\)listen 443 ssl;#\1listen 127.0.0.1:$P443 ssl;#" \
    -e '/^[[:space:]]*listen \[::\]:/d' \
    -e "s#/etc/letsencrypt/live/callback.example.com/fullchain.pem#$T/tls.crt#" \
    -e "s#/etc/letsencrypt/live/callback.example.com/privkey.pem#$T/tls.key#" \
    -e "s#/run/veo-callback/#$TOP/run/#" \
    -e "s#/var/spool/veo-callback#$TOP/spool#" \
    -e "s#/var/log/nginx/#$T/#" \
    "$ROOT/nginx.conf.example" >"$T/site.conf"
cat >"$T/nginx.conf" <<NGX
daemon off;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx.err notice;
events { worker_connections 1024; }
http {
	access_log $T/access.log;
	client_body_temp_path $T/tmp/b; proxy_temp_path $T/tmp/p; fastcgi_temp_path $T/tmp/f;
	uwsgi_temp_path $T/tmp/u; scgi_temp_path $T/tmp/s;
	include $T/site.conf;
}
NGX
}
: >"$TOP/empty.conf"
SPAWN="spawn-fcgi -s $TOP/run/veo-callback.sock -M 0666 -F $CHILDREN -P $TOP/fcgi.pid -- $CALLBACK"
# shellcheck disable=SC2086
env -i PATH=/usr/bin:/bin VEO_CONFIG="$TOP/empty.conf" $SPAWN >/dev/null 2>"$TOP/spawn.err" ||
	skip "spawn-fcgi failed: $(tail -n 1 "$TOP/spawn.err")"
T=$TOP/site
start_nginx site_conf || skip "the site's nginx did not start: $(tail -n 1 "$T/nginx.err")"
SITE_PID=$NGINX_PID
T=$TOP

# ---- the runs ----
config_default() { sed -n "s/^.*{ \"$1\", T_[A-Z]*, \"\([^\"]*\)\".*/\1/p" "$ROOT/src/common/config.c"; }
CONNS=${PER_HOST:-$(config_default per_host)}
PARALLEL=$(config_default parallel)
[ "$PARALLEL" -lt "$CONNS" ] && CONNS=$PARALLEL
URL="https://callback.example.com:$P443/veo-callback?token=$TOKEN"
SEND="python3 $ROOT/bench/delivery.py send --n $N --timeout $TIMEOUT --retries $RETRIES --retry-delay $RETRY_DELAY
	--files $TOP/files --sums $TOP/sums --access-log $TOP/cdn/access.log --fport $FPORT
	--max-wait $MAX_WAIT --out $TOP/results.jsonl"

echo "delivery: $N success callbacks at once, $N videos of $SIZE_MB MiB, file server limited to RATES KiB/s per connection: $RATES"
echo "sender: timeout $TIMEOUT s an attempt, retry after $RETRY_DELAY s on timeout or failure, at most $RETRIES retries"
echo "$(nproc 2>/dev/null || echo '?') CPUs; load$(uptime | sed 's/.*load average//')"
echo "commands:"
echo "  file server: nginx -c $TOP/cdn/nginx.conf  (limit_rate per location /rRATE/)"
echo "  site:        nginx -c $TOP/site/nginx.conf  (includes nginx.conf.example, ports $P80/$P443 and paths substituted)"
echo "  responder:   env -i VEO_CONFIG=$TOP/empty.conf $SPAWN"
echo "  spooler:     VEO_CONFIG=$TOP/spooler-RATE.conf ${PER_HOST:+VEO_PER_HOST=$PER_HOST }$SPOOLER -v run --follow"
[ -n "$FLASK_PY" ] && echo "  Flask:       cd $TOP/flask-RATE && FLASK_HOST=127.0.0.1 FLASK_PORT=PORT $FLASK_PY $ROOT/bench/flask_receiver.py"
echo "  sender:      $(echo "$SEND" | tr -s '\t\n' '  ') --name NAME --url URL ..."
[ -n "$FLASK_PY" ] || echo "Flask sample rows skipped: install python3-flask python3-requests (sh tests/lib/install-deps.sh)"

until_line() {	# until_line FILE TEXT PID: up to 10 s for TEXT in FILE while PID runs
	_ul=0
	while [ $_ul -lt 200 ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.05; _ul=$((_ul + 1))
	done
	return 1
}
stop() {	# stop PID: TERM, wait
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

run_veo() {	# run_veo RATE
	printf '%s\n' "spool_dir = $TOP/spool" "download_dir = $TOP/dl-$1" "allow_private = yes" \
		"https_only = no" >"$TOP/spooler-$1.conf"
	env VEO_CONFIG="$TOP/spooler-$1.conf" ${PER_HOST:+VEO_PER_HOST=$PER_HOST} \
		"$SPOOLER" -v run --follow >"$TOP/spooler-$1.out" 2>&1 &
	SPOOLER_PID=$!
	until_line "$TOP/spooler-$1.out" '^watching ' $SPOOLER_PID ||
		{ echo "  veo-spooler did not start: $(tail -n 1 "$TOP/spooler-$1.out")"; return 1; }
	: >"$TOP/site/veo-callback.access.log"
	# shellcheck disable=SC2086
	$SEND --name veo --label "veo-callback + spooler" --rate-k "$1" --url "$URL" --connect 127.0.0.1 \
		--cafile "$TOP/site/tls.crt" --tasks "veo_r$1" \
		--file-url-base "http://127.0.0.1:$FPORT/r$1/veo" --uri-prefix "/r$1/veo/" \
		--expect "$TOP/dl-$1/{task}/result-0.mp4" --site-log "$TOP/site/veo-callback.access.log"
	stop $SPOOLER_PID; SPOOLER_PID=
	[ -n "${KEEP:-}" ] && cp -r "$TOP/site" "$TOP/spooler-$1.out" "$KEEP/"
	rm -rf "$TOP/dl-$1"
}

run_flask() {	# run_flask RATE
	mkdir -p "$TOP/flask-$1"
	for _try in 1 2 3 4 5; do
		FLPORT=$(port_candidate)
		(cd "$TOP/flask-$1" && FLASK_HOST=127.0.0.1 FLASK_PORT=$FLPORT exec "$FLASK_PY" \
			"$ROOT/bench/flask_receiver.py" >"$TOP/flask-$1.out" 2>"$TOP/flask-$1.err") &
		FLASK_PID=$!
		until_line "$TOP/flask-$1.err" 'Running on' $FLASK_PID && break
		stop $FLASK_PID; FLASK_PID=
	done
	[ -n "$FLASK_PID" ] || { echo "  the Flask sample did not start: $(tail -n 1 "$TOP/flask-$1.err")"; return 1; }
	# shellcheck disable=SC2086
	$SEND --name flask --label "Flask sample (kie.ai page)" --rate-k "$1" \
		--url "http://127.0.0.1:$FLPORT/veo3-1-callback" --tasks "flask_r$1" \
		--file-url-base "http://127.0.0.1:$FPORT/r$1/flask" --uri-prefix "/r$1/flask/" \
		--expect "$TOP/flask-$1/downloads/veo3.1_generated_{task}_0.mp4"
	stop $FLASK_PID; FLASK_PID=
	rm -rf "$TOP/flask-$1"
}

# The disk under the spool, as the responder uses it: bench/durable-store.c
# (write, fsync, link, directory fsync) in CHILDREN processes for 2 s.
if command -v cc >/dev/null 2>&1 && cc -O2 -o "$TOP/durable-store" "$ROOT/bench/durable-store.c" 2>/dev/null; then
	mkdir -p "$TOP/ds"
	# shellcheck disable=SC2046
	set -- $("$TOP/durable-store" "$TOP/ds" "$CHILDREN" 2 2>/dev/null)
	[ $# -ge 3 ] && echo "disk under the spool: one durable store (bench/durable-store.c, $CHILDREN process(es), 2 s): p50 $2 ms, p99 $3 ms"
	rm -rf "$TOP/ds"
fi
[ -n "${HOLD:-}" ] && echo "holding $HOLD s: $URL ($TOP)" && sleep "$HOLD"	# (for debugging)
for r in $RATES; do
	run_veo "$r"
	[ -n "$FLASK_PY" ] && run_flask "$r"
done
python3 "$ROOT/bench/delivery.py" table "$TOP/results.jsonl" --connections "$CONNS" --formula-rate 2048
echo "(ack: connect to reply, as the sender saw it, percentiles by nearest rank (p99 of $N is the slowest when N < 100);"
echo " on disk: every video whole with the right SHA-256, for good (as left at the end) and first (each seen whole once);"
echo " timeouts: callbacks with a timed-out attempt / attempts timed out; lost: no 200 in $((RETRIES + 1)) attempts;"
echo " connections: min(parallel, per_host) of the spooler, $CONNS, every video being on one host;"
echo " load at the end$(uptime | sed 's/.*load average//'))"
exit 0
