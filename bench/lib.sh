# Sourced by the benchmark scripts (POSIX sh): nginx on loopback ports.
#
# nginx cannot bind port 0 and report the port it got, and a port found free
# (bind port 0, close) may be taken by another process before nginx binds
# it.  So start_nginx starts nginx on candidate ports and, when a bind fails
# because the port is in use, again on new candidates.

# port_candidate: prints a port that is free right now (the kernel's pick).
port_candidate() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_nginx WRITE-CONF: runs the function WRITE-CONF, which picks its ports
# with port_candidate and writes $T/nginx.conf (with "error_log $T/nginx.err
# notice;"), starts nginx in the background (NGINX_PID) and waits until it
# has started its workers.  Up to 5 times when a port was taken; fails when
# nginx did not start (see $T/nginx.err).
start_nginx() {
	_sn_tries=0
	while :; do
		"$1" || return 1
		: >"$T/nginx.err"
		nginx -c "$T/nginx.conf" -p "$T" 2>>"$T/nginx.err" &
		NGINX_PID=$!
		_sn_i=0 _sn_taken=
		while [ $_sn_i -lt 200 ]; do
			grep -q 'start worker processes' "$T/nginx.err" && return 0
			if grep -q 'bind() to .* failed (98: ' "$T/nginx.err"; then _sn_taken=1; break; fi
			kill -0 "$NGINX_PID" 2>/dev/null || break
			sleep 0.05; _sn_i=$((_sn_i + 1))
		done
		kill "$NGINX_PID" 2>/dev/null
		wait "$NGINX_PID" 2>/dev/null
		NGINX_PID=
		_sn_tries=$((_sn_tries + 1))
		[ -n "$_sn_taken" ] && [ $_sn_tries -lt 5 ] || return 1
	done
}
