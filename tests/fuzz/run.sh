#!/bin/sh
# tests/fuzz/run.sh SECONDS [TARGET...]: runs each libFuzzer target
# (build/fuzz/fuzz_<target>, `make fuzzers`) for SECONDS, starting from its
# seed corpus tests/fuzz/corpus/<target> (read only) and what earlier runs
# kept in $FUZZ_WORK/corpus/<target> (default build/fuzz), with the
# dictionary tests/fuzz/<target>.dict when there is one.  Crashes go to
# $FUZZ_WORK/artifacts/<target>-*.  Prints one line a target:
#   <target> execs=N cov=N ft=N corpus=N time=Ns
# and exits 1 if any target crashed, leaked or timed out.
set -u
cd "$(dirname "$0")/../.."
secs=${1:?usage: run.sh SECONDS [TARGET...]}; shift
work=${FUZZ_WORK:-build/fuzz}
[ $# -gt 0 ] || set -- $(ls tests/fuzz/fuzz_*.c | sed 's#.*/fuzz_\(.*\)\.c#\1#')
fail=0
for t in "$@"; do
	bin=build/fuzz/fuzz_$t
	[ -x "$bin" ] || { echo "$t: $bin missing (make fuzzers)" >&2; fail=1; continue; }
	mkdir -p "$work/corpus/$t" "$work/artifacts"
	dict=; [ -f "tests/fuzz/$t.dict" ] && dict=-dict=tests/fuzz/$t.dict
	log="$work/$t.log"
	# -timeout: an input that takes a second is a bug here (a hang in a parser).
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/$t-" $dict \
		"$work/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
	rc=$?
	# The last status line: "#N DONE cov: C ft: F corp: ..." (or the last pulse).
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(printf '%s\n' "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	echo "$t execs=${execs:-?} cov=${cov:-?} ft=${ft:-?} corpus=${corp:-?} time=${secs}s"
	if [ "$rc" != 0 ]; then
		fail=1
		echo "$t: fuzzer exited $rc; log $log:" >&2
		grep -E 'ERROR|SUMMARY|assertion|runtime error|Test unit written' "$log" | head -n 20 >&2
	fi
done
exit $fail
