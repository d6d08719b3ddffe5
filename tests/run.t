#!/bin/bash
# make run, as a newcomer uses it: it comes up on loopback, the printed curl
# line posts a sample callback, the video ends downloaded under the run
# directory within a bounded time, and Ctrl-C (SIGINT to the process group
# of make) stops everything it started.
. "$(dirname "$0")/lib/common.sh"
export LC_ALL=C
unset MAKEFLAGS MFLAGS MAKELEVEL

command -v nginx >/dev/null || skip_all "nginx not installed"
[ -x "$CALLBACK" ] || skip_all "build/veo-callback not built (run make)"
"$SPOOLER" --version 2>/dev/null | grep -q '^veo-spooler ' ||
	skip_all "build/veo-spooler is still the placeholder (the spooler issue has not landed)"

V=$T/var
run_cleanup() {
	[ -n "${MPID:-}" ] && kill -TERM -- "-$MPID" 2>/dev/null
	for g in $(cat "$V/run/pgids" 2>/dev/null); do kill -KILL -- "-$g" 2>/dev/null; done
	cleanup
}
trap run_cleanup EXIT
# The stack is started in its own process group, as a shell starts a
# foreground job (set -m), so that SIGINT reaches make and the script.
# When this test was started with SIGINT ignored (a background job of a
# script, some CI runners), make and the script would inherit that, and a
# shell cannot un-ignore a signal ignored at its start (trap - INT does not):
# perl puts SIGINT back to its default and execs make, as an interactive
# shell does for a foreground job.
#
# make run takes a port number (PORT=) and its nginx cannot report one it
# picked itself, so P is a candidate port: when it turns out to be taken
# (make run finds it in use, or nginx fails to bind it), the stack is
# stopped and started again on another candidate, at most 10 times.
start_run() {
	port_candidate P
	set -m
	PORT=$P VEO_RUN_DIR=$V perl -e '$SIG{INT} = "DEFAULT"; exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n"' \
		make -C "$ROOT" run >"$T/run.out" 2>&1 </dev/null &
	MPID=$!
	set +m
}
# Up: it printed the curl line and its own nginx holds port P.
run_up() {
	grep -q '^  curl -sS' "$T/run.out" 2>/dev/null &&
		listens "$(cat "$V/run/nginx.pid" 2>/dev/null || echo none)" "$P"
}
port_lost() {
	grep -q "already listens on 127\.0\.0\.1:$P" "$T/run.out" 2>/dev/null ||
		grep -q "bind() to 127\.0\.0\.1:$P failed (98: " "$V/log/nginx-error.log" 2>/dev/null
}
run_settled() { run_up || port_lost || ! kill -0 "$MPID" 2>/dev/null; }
stop_run() {
	kill -TERM -- "-$MPID" 2>/dev/null
	wait_gone "$MPID" 10
	for g in $(cat "$V/run/pgids" 2>/dev/null); do kill -KILL -- "-$g" 2>/dev/null; done
	wait "$MPID" 2>/dev/null
}
for try in 1 2 3 4 5 6 7 8 9 10; do
	start_run
	wait_until 30 "make run to come up on port $P" run_settled
	run_up || ! port_lost && break
	diag "port $P was taken; make run again on another"
	stop_run
done

grep -q '^  curl -sS' "$T/run.out"
ok $? "make run comes up and prints a curl line"
[ $? = 0 ] || diag "$(cat "$T/run.out")"
url=$(sed -n 's#^  \(http://127\.0\.0\.1:[0-9]*/veo-callback?token=[0-9a-f]*\)$#\1#p' "$T/run.out" | head -n 1)
like "$url" "^http://127\.0\.0\.1:$P/veo-callback\?token=[0-9a-f]{32}$" "it prints the callback URL, with a token"
line=$(grep -m 1 '^  curl -sS' "$T/run.out")
like "$line" "resultUrls\":\[\"http://127\.0\.0\.1:$P/samples/" "the sample callback points at a video served by the same nginx"
task=$(printf '%s' "$line" | sed -n 's/.*"taskId":"\([A-Za-z0-9._-]*\)".*/\1/p')
like "$task" '^veo_local_' "the sample has a task id"

h=$(curl -s "http://127.0.0.1:$P/veo-callback?health")
like "$h" '"code":200.*"spool":"writable"' "the health check answers"
r=$(curl -s "${url%%\?*}" -H 'Content-Type: application/json' --data-binary "$(sample_body no_token)")
is "$(printf '%s' "$r" | json_code)" 401 "a callback without the token is refused"

# The line as a user pastes it into a shell.
r=$(bash -c "$line")
is "$r" '{"code":200,"msg":"success"}' "the pasted curl line is answered 200"

f=$V/videos/$task/result-0.mp4
wait_for_file "$f" 30
ok $? "within 30 s the video is downloaded to var/videos/$task/result-0.mp4"
cmp -s "$f" "$V/www/sample.mp4"
ok $? "the downloaded file is the served sample"
is "$(head -c 8 "$f" 2>/dev/null | tail -c 4)" ftyp "the sample starts with an ISO BMFF ftyp box"
st=$(VEO_CONFIG=$V/veo-callback.conf "$SPOOLER" status --json "$task" 2>&1)
like "$st" '"state":"done"' "veo-spooler status says done"
i=0
until grep -q "downloaded $f" "$T/run.out" || [ $i -gt 100 ]; do sleep 0.05; i=$((i + 1)); done
grep -q "veo-spooler: downloaded $f" "$T/run.out"
ok $? "make run announces the download"
grep -q "status=200 task=$task .*result=stored" "$T/run.out"
ok $? "the responder's log line shows on the terminal"

# Ctrl-C: SIGINT to the foreground process group (make and the script).
pgids="$MPID $(cat "$V/run/pgids" 2>/dev/null)"
is "$(echo $pgids | wc -w)" 4 "make and the three process groups it started (responder, nginx, sweeps)"
kill -INT -- "-$MPID"
i=0
while kill -0 "$MPID" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
kill -0 "$MPID" 2>/dev/null
is $? 1 "make run exits on SIGINT"
left=""
for g in $pgids; do left="$left$(pgrep -g "$g" | tr '\n' ' ')"; done
left="$left$(pgrep -f "$V/" | tr '\n' ' ')"
is "$left" "" "no process is left behind"
wait_for_port "$P" 0
is $? 1 "nothing listens on the port any more"
like "$(tail -n 3 "$T/run.out")" 'stopped' "it says it stopped"
ok "$([ ! -e "$V/run/veo-callback.sock" ]; echo $?)" "the socket is removed"
MPID=""

done_testing
