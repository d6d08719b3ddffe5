#!/bin/bash
# Promise 7: the downloader never connects to an address that is not
# public, whatever the URL looks like and wherever a redirect points; it
# fetches only http(s), only https by default, only allow_hosts when set.
#
# Direct URLs are tried on loopback.  Redirects need a first hop that is
# allowed, so they run in a network namespace where cdn.test is a
# public-looking address (100.1.2.3) and the targets (127.0.0.1, ::1,
# 10.0.0.1, 169.254.169.254, evil.test -> 127.0.0.1) all have a listening
# server whose request log must stay empty.
#
# Nothing outside $T is written: the namespace's host names come from
# $T/hosts, bind-mounted over /etc/hosts in a private mount namespace
# (unshare --mount) around each command, not from /etc/netns/<name>/hosts;
# the namespace is named after this process and deleted at exit.
. "$(dirname "$0")/lib/common.sh"

[ -x "$FETCH_CLI" ] || skip_all "build/tools/fetch-cli not built (make tools)"

cli() { "$@" >"$T/out" 2>"$T/err"; }	# cli COMMAND...: output in $T/out
field() { sed -n "${1}p" "$T/out" | cut -d' ' -f"$2"; }
err_of() { sed -n "${1}p" "$T/out" | cut -d' ' -f7-; }
lines() { wc -l <"$1" | tr -d ' '; }

# ---- direct URLs, on loopback ----
# The same port on 127.0.0.1 and ::1: the first server binds port 0, the
# second takes its number; if that is taken on ::1, both start again.
for try in 1 2 3 4 5 6 7 8 9 10; do
	start_faultserver PORT "$T/v4.log" 127.0.0.1 || { echo "Bail out! fault server"; exit 1; }
	v4pid=$FAULTSERVER_PID
	start_faultserver "$PORT" "$T/v6.log" ::1 && break
	[ "$try" = 10 ] && { echo "Bail out! fault server on ::1"; exit 1; }
	stop_failed "$v4pid"
done

# With allow_private these reach the servers: so an empty log below means
# blocked, not unreachable.
cli "$FETCH_CLI" --http-ok --allow-private \
	"http://127.0.0.1:$PORT/file/a?size=100" "$T/a.mp4" \
	"http://2130706433:$PORT/file/b?size=100" "$T/b.mp4" \
	"http://[::1]:$PORT/file/c?size=100" "$T/c.mp4"
is "$(cut -d' ' -f1 "$T/out" | tr '\n' ' ')" "FETCH_OK FETCH_OK FETCH_OK " \
	"allow_private = yes: 127.0.0.1, 2130706433 and [::1] are reachable"
is "$(lines "$T/v4.log") $(lines "$T/v6.log")" "2 1" "... and reached the servers"

n4=$(lines "$T/v4.log") n6=$(lines "$T/v6.log")
for host in 127.0.0.1 "[::1]" "[::ffff:127.0.0.1]" 2130706433 0x7f000001 0x7f.1 \
	017700000001 127.1 localhost 0.0.0.0 "[::]" 10.0.0.1 169.254.169.254 \
	"[fe80::1]" "[::ffff:169.254.169.254]" "[64:ff9b::a9fe:a9fe]" 192.168.0.1; do
	cli "$FETCH_CLI" --http-ok --connect-timeout 3 "http://$host:$PORT/file/x?size=100" "$T/x.mp4"
	is "$(field 1 1)" FETCH_BLOCKED "http://$host/ blocked"
	like "$(err_of 1)" "^refused to connect to .*(address|\)).*allow_private = yes only for testing" \
		"http://$host/: refused at connect time, says why"
done
is "$(lines "$T/v4.log") $(lines "$T/v6.log")" "$n4 $n6" "no blocked URL reached a server"
cli "$FETCH_CLI" --http-ok "http://127.0.0.1:$PORT/file/x?size=100" "$T/x.mp4"
is "$(err_of 1)" "refused to connect to 127.0.0.1: loopback address (set allow_private = yes only for testing)" \
	"the error a person reads"
cli "$FETCH_CLI" --http-ok "http://localhost:$PORT/file/x?size=100" "$T/x.mp4"
like "$(err_of 1)" "^refused to connect to localhost \((127\.0\.0\.1|::1)\): loopback address" \
	"a host name is shown with the address it resolved to"

cli "$FETCH_CLI" --allow-private "http://127.0.0.1:$PORT/file/x?size=100" "$T/x.mp4"
is "$(field 1 1)" FETCH_BLOCKED "plain http refused when https_only (the default)"
like "$(err_of 1)" "https_only" "... and the error names https_only"
for url in "ftp://127.0.0.1:$PORT/x.mp4" "file:///etc/passwd" "gopher://127.0.0.1:$PORT/" \
	"dict://127.0.0.1:$PORT/" "127.0.0.1:$PORT/file/x"; do
	cli "$FETCH_CLI" --http-ok --allow-private "$url" "$T/x.mp4"
	is "$(field 1 1)" FETCH_BLOCKED "$url refused"
done
cli "$FETCH_CLI" --http-ok --allow-private --allow-hosts "cdn.example.com" \
	"http://127.0.0.1:$PORT/file/x?size=100" "$T/x.mp4"
is "$(field 1 1)" FETCH_BLOCKED "a host not in allow_hosts is refused"
like "$(err_of 1)" "host 127.0.0.1 is not in allow_hosts" "... and the error says so"
is "$(lines "$T/v4.log") $(lines "$T/v6.log")" "$n4 $n6" "none of these reached a server"
[ ! -e "$T/x.mp4" ] && [ ! -e "$T/x.mp4.part" ]
ok $? "nothing written for any blocked URL"

# ---- redirects, in a network namespace ----
NS=veo-ssrf-$$
# ns COMMAND...: COMMAND in the namespace, with $T/hosts as its /etc/hosts
# (the bind mount lives and dies with the private mount namespace).
ns() {
	ip netns exec "$NS" unshare --mount --propagation private \
		sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$T/hosts" "$@"
}
ns_setup() {
	printf '%s\n' "127.0.0.1 localhost" "::1 localhost" "100.1.2.3 cdn.test" \
		"100.1.2.4 cdn2.test" "127.0.0.1 evil.test" "10.0.0.1 intranet.test" \
		>"$T/hosts" || return 1
	ip netns add "$NS" || return 1
	ns ip link set lo up || return 1
	# A dummy interface when the kernel has the module; the addresses work
	# the same on lo (containers often cannot load modules).
	dev=lo
	ns ip link add dummy0 type dummy 2>/dev/null && ns ip link set dummy0 up && dev=dummy0
	for a in 100.1.2.3 100.1.2.4 10.0.0.1 169.254.169.254; do
		ns ip addr add "$a/32" dev $dev || return 1
	done
	[ "$(ns getent hosts cdn.test | cut -d' ' -f1)" = 100.1.2.3 ]
}
ns_cleanup() {
	ip netns del "$NS" 2>/dev/null
}
trap 'cleanup; ns_cleanup' EXIT

NS_TESTS=37	# the test points below
if [ "$(id -u)" != 0 ] || ! ns_setup >"$T/netns.err" 2>&1; then
	why=$(head -n 1 "$T/netns.err" 2>/dev/null)
	for i in $(seq $NS_TESTS); do
		echo "ok $((_tap_n + 1)) # SKIP cannot set up a network namespace: ${why:-not root}"
		_tap_n=$((_tap_n + 1))
	done
	done_testing
fi

P1=8001 P2=8002 P3=8443
start_faultserver "$P1" "$T/hop.log" 100.1.2.3 ip netns exec "$NS" || echo "# first hop did not start"
start_faultserver "$P2" "$T/target.log" 0.0.0.0 ip netns exec "$NS" || echo "# target did not start"
start_faultserver "$P2" "$T/target6.log" ::1 ip netns exec "$NS" || echo "# target (::1) did not start"
make_test_ca "$T/ca" "DNS:cdn.test" || echo "# make_test_ca failed"
FAULT_TLS="$T/ca/server.pem $T/ca/server.key" \
	start_faultserver "$P3" "$T/tls.log" 100.1.2.3 ip netns exec "$NS" || echo "# https hop did not start"
HOP="http://cdn.test:$P1"
nsfetch() { cli ns "$FETCH_CLI" --http-ok --connect-timeout 3 "$@"; }
redirect_to() { printf '%s/redirect?to=%s' "$HOP" "$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1")"; }

nsfetch "$HOP/file/first?size=1000" "$T/first.mp4"
is "$(field 1 1)" FETCH_OK "namespace: a public-looking host (cdn.test = 100.1.2.3) is fetched"

hops=$(lines "$T/hop.log")
for target in "http://127.0.0.1:$P2/file/t?size=10" "http://[::1]:$P2/file/t?size=10" \
	"http://10.0.0.1:$P2/file/t?size=10" "http://169.254.169.254:$P2/latest/meta-data/" \
	"http://evil.test:$P2/file/t?size=10" "http://intranet.test:$P2/file/t?size=10" \
	"http://2130706433:$P2/file/t?size=10" "http://[::ffff:127.0.0.1]:$P2/file/t?size=10"; do
	nsfetch "$(redirect_to "$target")" "$T/r.mp4"
	is "$(field 1 1) $(field 1 2)" "FETCH_BLOCKED 302" "redirect to $target blocked"
	like "$(err_of 1)" "^refused to connect to .* after a redirect: .*address" \
		"redirect to $target: the error says refused after a redirect"
done
is "$(lines "$T/hop.log")" $((hops + 8)) "each redirect was served by the first hop"
is "$(lines "$T/target.log") $(lines "$T/target6.log")" "0 0" \
	"no redirect target (127.0.0.1, ::1, 10.0.0.1, 169.254.169.254) logged a request"
nsfetch "http://10.0.0.1:$P2/file/t?size=10" "$T/r.mp4" \
	"http://169.254.169.254:$P2/file/t?size=10" "$T/r2.mp4"
is "$(cut -d' ' -f1 "$T/out" | tr '\n' ' ')" "FETCH_BLOCKED FETCH_BLOCKED " \
	"direct 10.0.0.1 and 169.254.169.254 blocked while a server listens there"
is "$(lines "$T/target.log")" 0 "... and that server saw nothing"

nsfetch "$(redirect_to "http://cdn2.test:$P2/file/ok?size=5000")" "$T/ok.mp4"
is "$(field 1 1) $(field 1 6)" "FETCH_OK $(generated_sha ok 5000)" "redirect to another public-looking host works"
is "$(cat "$T/target.log")" "GET /file/ok?size=5000 -" "... and its server logged exactly that request"

n=$(lines "$T/target.log")
nsfetch --allow-hosts cdn.test "http://cdn2.test:$P2/file/ok?size=5000" "$T/ah.mp4"
is "$(field 1 1)" FETCH_BLOCKED "allow_hosts: a direct URL to another host refused"
nsfetch --allow-hosts cdn.test "$(redirect_to "http://cdn2.test:$P2/file/ok?size=5000")" "$T/ah.mp4"
is "$(field 1 1)" FETCH_BLOCKED "allow_hosts: a redirect to another host refused"
like "$(err_of 1)" "^redirect from cdn.test refused: host cdn2.test is not in allow_hosts" \
	"allow_hosts: the error names both hosts"
is "$(lines "$T/target.log")" "$n" "allow_hosts: the refused host saw no request"
nsfetch --allow-hosts "cdn.test, *.other.test cdn2.test" "$(redirect_to "http://cdn2.test:$P2/file/ok?size=5000")" "$T/ah2.mp4"
is "$(field 1 1)" FETCH_OK "allow_hosts: a redirect to a listed host works"

# https_only (no --http-ok): plain http refused, first hop or redirect.
cli ns "$FETCH_CLI" "$HOP/file/first?size=1000" "$T/h.mp4"
is "$(field 1 1)" FETCH_BLOCKED "https_only: a plain http URL is refused"
n=$(lines "$T/target.log")
cli ns "$FETCH_CLI" --ca-file "$T/ca/ca.pem" "https://cdn.test:$P3/file/s?size=3000" "$T/s.mp4"
is "$(field 1 1) $(field 1 6)" "FETCH_OK $(generated_sha s 3000)" "https_only: https from cdn.test works"
cli ns "$FETCH_CLI" --ca-file "$T/ca/ca.pem" \
	"https://cdn.test:$P3/redirect?to=http%3A%2F%2Fcdn2.test%3A$P2%2Ffile%2Fok%3Fsize%3D5000" "$T/s2.mp4"
is "$(field 1 1)" FETCH_BLOCKED "https_only: a redirect from https to http is refused"
like "$(err_of 1)" "plain http to cdn2.test refused" "... and the error says so"
is "$(lines "$T/target.log")" "$n" "... and the http host saw no request"

# allow_private lifts the address rule (tests only): the targets are real.
nsfetch --allow-private "$(redirect_to "http://10.0.0.1:$P2/file/t?size=10")" "$T/p.mp4"
is "$(field 1 1)" FETCH_OK "allow_private = yes: the same redirect to 10.0.0.1 is followed"

# Nothing of the namespace outlives the test, nothing was written to /etc.
is "$(getent hosts cdn.test)" "" "outside the namespace, /etc/hosts does not know cdn.test"
ok "$([ ! -e "/etc/netns/$NS" ]; echo $?)" "nothing was written under /etc/netns"
cleanup_pids() { for p in $_pids; do kill "$p" 2>/dev/null; done; sleep 0.2; }
cleanup_pids
ns_cleanup
ip netns list 2>/dev/null | grep -qw "$NS"
ok $(( $? == 0 )) "the namespace $NS is deleted"

done_testing
