#!/bin/bash
# A working local stack on loopback, for trying veo-callback out (`make run`):
#
#   nginx on 127.0.0.1:$PORT (default 8080)
#     /veo-callback   -> veo-callback over FastCGI (a unix socket)
#     /samples/       -> a tiny sample video, so that a callback can point at it
#   veo-spooler run --follow   downloads a callback's videos as soon as it is
#                     stored, allowed from 127.0.0.1 over http
#
# Everything lives under ./var/ (or $VEO_RUN_DIR): spool, downloads, logs,
# the generated nginx and veo-callback configuration.  Ctrl-C (or SIGTERM to
# this script) stops every process it started.
#
# Needs build/veo-callback, build/veo-spooler (make) and nginx.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR=${VEO_RUN_DIR:-$ROOT/var}
PORT=${PORT:-8080}
CALLBACK=$ROOT/build/veo-callback
SPOOLER=$ROOT/build/veo-spooler

say() { printf '%s\n' "$*"; }
die() { say "run-local: $*" >&2; exit 1; }

for b in "$CALLBACK" "$SPOOLER"; do
	[ -x "$b" ] || die "$b is missing: run make first"
done
"$SPOOLER" --version >/dev/null 2>&1 || die "$SPOOLER is not a working spooler yet"
command -v nginx >/dev/null || die "nginx is not installed (apt-get install nginx-light)"
case $PORT in *[!0-9]*|'') die "PORT must be a number, not '$PORT'" ;; esac
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
	die "something already listens on 127.0.0.1:$PORT (another make run?); try PORT=8081 make run"
fi

mkdir -p "$VAR/spool" "$VAR/videos" "$VAR/www" "$VAR/log" "$VAR/run" "$VAR/nginx/tmp" ||
	die "cannot create $VAR"
SOCK=$VAR/run/veo-callback.sock
rm -f "$SOCK" "$VAR/run/pgids"

# The token stays the same from one run to the next, so the URL does too.
[ -s "$VAR/token" ] || od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$VAR/token"
TOKEN=$(cat "$VAR/token")
URL="http://127.0.0.1:$PORT/veo-callback?token=$TOKEN"

cat >"$VAR/veo-callback.conf" <<EOF
# Written by tools/run-local.sh (make run); see veo-callback.conf(5).
spool_dir = $VAR/spool
download_dir = $VAR/videos
token = $TOKEN
EOF
export VEO_CONFIG=$VAR/veo-callback.conf

# A tiny but valid ISO BMFF file: an 'ftyp' box (brand isom), then a 'free'
# box of padding.  The spooler sniffs what it downloads: it must look like video.
{
	printf '\000\000\000\030ftypisom\000\000\002\000isomiso2'
	printf '\000\000\020\000free'
	head -c 4088 /dev/zero
} >"$VAR/www/sample.mp4"

# nginx: workers run as root only when we are root, so that they can read
# ./var/ wherever the repository lives.  Loopback only.
{
	echo "# Written by tools/run-local.sh (make run)."
	[ "$(id -u)" = 0 ] && echo "user root;"
	cat <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $VAR/run/nginx.pid;
error_log $VAR/log/nginx-error.log notice;
events { worker_connections 64; }
http {
	types { video/mp4 mp4; }
	default_type application/octet-stream;
	access_log $VAR/log/nginx-access.log;
	client_body_temp_path $VAR/nginx/tmp/body;
	fastcgi_temp_path $VAR/nginx/tmp/fastcgi;
	proxy_temp_path $VAR/nginx/tmp/proxy;
	uwsgi_temp_path $VAR/nginx/tmp/uwsgi;
	scgi_temp_path $VAR/nginx/tmp/scgi;
	server {
		listen 127.0.0.1:$PORT;
		server_name localhost;
		client_max_body_size 64k;
		client_body_buffer_size 64k;
		client_body_timeout 10s;
		location = /veo-callback {
			include /etc/nginx/fastcgi_params;
			fastcgi_pass unix:$SOCK;
			fastcgi_read_timeout 10s;
		}
		location /samples/ {
			alias $VAR/www/;
		}
		location / {
			return 404;
		}
	}
}
EOF
} >"$VAR/nginx/nginx.conf"

# ---- processes: each in its own session, so that stopping one group stops
# all it started; their group IDs are kept in var/run/pgids. ----
pgids=""
stopping=""
stop() {
	[ -n "$stopping$pgids" ] || return
	[ -n "$stopping" ] && return
	stopping=1
	trap '' INT TERM
	say ""
	say "stopping..."
	for g in $pgids; do kill -TERM -- "-$g" 2>/dev/null; done
	for _ in $(seq 50); do
		alive=""
		for g in $pgids; do pgrep -g "$g" >/dev/null 2>&1 && alive=1; done
		[ -z "$alive" ] && break
		sleep 0.1
	done
	for g in $pgids; do kill -KILL -- "-$g" 2>/dev/null; done
	wait 2>/dev/null
	rm -f "$SOCK" "$VAR/run/pgids"
	say "stopped; spool, downloads and logs are kept in $VAR"
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'stop' EXIT

started() {	# started PID: the pid of "setsid CMD &" is its process group
	pgids="$pgids $1"
	echo "$1" >>"$VAR/run/pgids"
}

# The responder: its log lines (one per request) come to this terminal.
setsid "$CALLBACK" --listen "$SOCK" &
started $!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || die "veo-callback did not create $SOCK"

setsid nginx -e "$VAR/log/nginx-error.log" -p "$VAR/nginx" -c "$VAR/nginx/nginx.conf" &
started $!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null ||
	die "nginx did not start on 127.0.0.1:$PORT; see $VAR/log/nginx-error.log"

# The spooler, following the spool (run --follow): it takes a callback as
# soon as it is stored.  The sample is served over http by the nginx above,
# on 127.0.0.1, hence the two relaxations (tests only!).  Its per-task lines
# go to var/log/spooler.log; problems come to this terminal; each finished
# download is announced here.
setsid env VEO_ALLOW_PRIVATE=yes VEO_HTTPS_ONLY=no bash -c '
	spooler=$1 var=$2
	"$spooler" -v run --follow | while IFS= read -r line; do
		printf "%s\n" "$line" >>"$var/log/spooler.log"
		case $line in
		"task "*": done")
			id=${line#task }
			id=${id%: done}
			find "$var/videos/$id" -type f ! -name "*.part*" 2>/dev/null |
				sed "s|^|veo-spooler: downloaded |"
			;;
		esac
	done' run-local-follow "$SPOOLER" "$VAR" &
started $!

TASK="veo_local_$(date +%Y%m%d%H%M%S)"
BODY='{"code":200,"msg":"Veo3.1 video generated successfully.","data":{"taskId":"'$TASK'","info":{"resultUrls":["http://127.0.0.1:'$PORT'/samples/sample.mp4"],"originUrls":null,"resolution":"1080p"},"fallbackFlag":false}}'

cat <<EOF

veo-callback is running on 127.0.0.1:$PORT (Ctrl-C stops everything).

Callback URL (what kie.ai would get as callBackUrl):
  $URL

Post a sample callback; its video is served by this nginx:
  curl -sS -H 'Content-Type: application/json' --data-binary '$BODY' '$URL'

Within a second the video appears in:
  $VAR/videos/$TASK/result-0.mp4

Look around:
  curl -s 'http://127.0.0.1:$PORT/veo-callback?health'
  VEO_CONFIG=$VEO_CONFIG $SPOOLER status
  ls $VAR/spool/new $VAR/spool/state
  logs: $VAR/log/ (nginx, spooler.log)

EOF

# Until Ctrl-C, or until one of the processes dies.
wait -n
say "run-local: a process exited unexpectedly; see $VAR/log/" >&2
exit 1
