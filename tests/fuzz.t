#!/bin/bash
# The parsers that face untrusted bytes hold up under libFuzzer with ASan and
# UBSan (issue 9, item 6): the callback parser, the stored-entry parser, the
# state reader, the configuration reader, the responder's gates (token, HMAC,
# allow_from) and netguard.  Each target's seed corpus (tests/fuzz/corpus)
# is replayed, then each target is fuzzed for FUZZ_TEST_TIME seconds
# (default 10) from its seeds into a throw-away corpus.  Any crash, leak,
# sanitizer report, broken harness assertion or hang fails the test; the
# input that did it is kept under $T/artifacts (KEEP_TMP=1 keeps $T).
# Longer runs: make fuzz FUZZ_TIME=600.
. "$(dirname "$0")/lib/common.sh"
unset MAKEFLAGS MFLAGS MAKELEVEL
export TMPDIR=$T	# the state target's temporary spool

cc=${FUZZ_CC:-clang}
command -v "$cc" >/dev/null || skip_all "$cc not installed (tests/lib/install-deps.sh installs it)"

make -s -C "$ROOT" fuzzers ${FUZZ_CC:+FUZZ_CC=$FUZZ_CC} >"$T/build.log" 2>&1
rc=$?
ok $rc "make fuzzers builds the libFuzzer targets"
[ $rc = 0 ] || { diag "$(tail -n 30 "$T/build.log")"; done_testing; }

targets=$(ls "$ROOT"/tests/fuzz/fuzz_*.c | sed 's#.*/fuzz_\(.*\)\.c#\1#')
is "$(echo $targets)" "auth callback config entry netguard state" "the six targets are there"

for t in $targets; do
	seeds=$(ls "$ROOT/tests/fuzz/corpus/$t" 2>/dev/null | wc -l)
	ok $(( seeds < 5 )) "$t: a seed corpus ($seeds inputs)"
	# Given files rather than directories, libFuzzer runs each once and stops.
	"$ROOT/build/fuzz/fuzz_$t" -timeout=10 "$ROOT/tests/fuzz/corpus/$t"/* >"$T/replay-$t.log" 2>&1
	rc=$?
	ok $rc "$t: every seed runs clean"
	[ $rc = 0 ] || diag "$(grep -E 'ERROR|SUMMARY|assertion|runtime error' "$T/replay-$t.log" | head -n 10)"
	n=$(grep -c "^Executed .*/corpus/$t/" "$T/replay-$t.log")
	is "$n" "$seeds" "$t: ... each of the $seeds seeds was executed"
done

export FUZZ_WORK=$T	# the corpora and the crashes
for t in $targets; do
	line=$(sh "$ROOT/tests/fuzz/run.sh" "${FUZZ_TEST_TIME:-10}" "$t" 2>"$T/run-$t.err")
	ok $? "$t: fuzzed ${FUZZ_TEST_TIME:-10} s without a crash"
	[ -s "$T/run-$t.err" ] && diag "$(cat "$T/run-$t.err")"
	diag "$line"
done
done_testing
