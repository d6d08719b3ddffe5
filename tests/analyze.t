#!/bin/bash
# Static analysis is part of the suite (issue 9, item 6): the clang build
# with -Werror, cppcheck, clang-tidy and gcc -fanalyzer over src/ and cgi/
# are clean, or each finding is listed with its reason in
# tests/analysis/*.supp (the checks chosen, and the ones left out with
# why, are in /.clang-tidy and tests/analysis/run.sh).  Each step is one
# test; its findings are printed as diagnostics when it fails.
. "$(dirname "$0")/lib/common.sh"
unset MAKEFLAGS MFLAGS MAKELEVEL
export TMPDIR=$T

step() {	# step NAME TOOL: make analyze-NAME, unless TOOL is missing
	if ! command -v "$2" >/dev/null; then
		echo "ok $((_tap_n + 1)) # SKIP $2 not installed (tests/lib/install-deps.sh installs it)"
		_tap_n=$((_tap_n + 1))
		return
	fi
	start=$(date +%s)
	make -s -C "$ROOT" "analyze-$1" >"$T/$1.out" 2>&1
	rc=$?
	ok $rc "$1: clean, or every finding justified ($(( $(date +%s) - start )) s)"
	[ $rc = 0 ] || diag "$(head -n 150 "$T/$1.out")"
	grep '^# ' "$T/$1.out" | while read -r l; do diag "${l#\# }"; done
}

step clang clang
step cppcheck cppcheck
step tidy clang-tidy
step fanalyzer gcc
done_testing
