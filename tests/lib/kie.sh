# Helpers for tests that talk to the stand-in for kie.ai's API
# (tests/lib/kieserver.py).  Source after common.sh.
#
#   start_kieserver NAME [OPTIONS...]  starts it with the key $KIE_KEY
#                                      (from $T/NAME.key), scenarios in
#                                      $T/NAME.sc/, log in $T/NAME.log; sets
#                                      KIE_BASE to its http(s)://127.0.0.1:PORT
#   kie_scenario NAME TASKID JSON      writes the scenario of TASKID (atomically)
#   kie_log NAME                       the stand-in's log
KIESERVER="$ROOT/tests/lib/kieserver.py"
KIE_CLI=${KIE_CLI:-$BUILD/tools/kie-cli}
KIE_KEY=${KIE_KEY:-kie-test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')}

start_kieserver() {
	_kn=$1; shift
	mkdir -p "$T/$_kn.sc"
	printf '%s\n' "$KIE_KEY" >"$T/$_kn.key"
	rm -f "$T/$_kn.port"
	python3 "$KIESERVER" --key-file "$T/$_kn.key" --scenarios "$T/$_kn.sc" "$@" \
		"$T/$_kn.port" "$T/$_kn.log" 2>>"$T/$_kn.err" &
	_pids="$_pids $!"
	wait_for_file "$T/$_kn.port" || return 1
	_scheme=http
	case " $* " in *" --tls "*) _scheme=https ;; esac
	KIE_BASE="$_scheme://127.0.0.1:$(cat "$T/$_kn.port")"
}

kie_scenario() {
	printf '%s\n' "$3" >"$T/$1.sc/.$2.tmp" && mv "$T/$1.sc/.$2.tmp" "$T/$1.sc/$2.json"
}

kie_log() { cat "$T/$1.log"; }
