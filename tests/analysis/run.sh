#!/bin/sh
# tests/analysis/run.sh STEP...: the static analysers over src/ and cgi/,
# STEP one of cppcheck, tidy (clang-tidy) and fanalyzer (gcc -fanalyzer).
# `make analyze` runs them (and the clang -Werror build) with ANALYZE_FLAGS,
# the build's preprocessor flags; tests/analyze.t runs each as a test.
#
# Each step prints what it found and exits 1 when a finding is neither
# fixed nor listed with a reason in tests/analysis/<tool>.supp (cppcheck's
# own format; filter.py's for the other two).  ANALYZE_JOBS (default 2)
# files are analysed at once.
set -u
cd "$(dirname "$0")/../.."
jobs=${ANALYZE_JOBS:-2}
steps=$*
# The flags as the Makefile quotes them (-DVEO_VERSION='"0.1.0"'), one a line.
eval "set -- ${ANALYZE_FLAGS:--std=c11 -D_GNU_SOURCE -Isrc/common -Isrc/responder -Isrc/spooler}"
flags=$(printf '%s\n' "$@")
out=$(mktemp -d "${TMPDIR:-/tmp}/veo-analyze.XXXXXX")
trap 'rm -rf "$out"' EXIT
files() { ls src/*/*.c cgi/*.c; }

# each_file SEP CMD...: runs "CMD... FILE SEP FLAGS..." for every file,
# ANALYZE_JOBS at a time (SEP: "--" for clang-tidy, "" for none).
each_file() {
	_sep=$1; shift
	files | FLAGS="$flags" SEP="$_sep" xargs -P "$jobs" -I{} sh -c '
		IFS="
"
		set -f
		exec "$@" {} $SEP $FLAGS' sh "$@"
}

step_cppcheck() {
	# Only our own headers: the system's would be parsed as code too.
	cppcheck --enable=warning,style,performance,portability --library=posix --std=c11 \
		-D_GNU_SOURCE -D__linux__ -Isrc/common -Isrc/responder -Isrc/spooler \
		--suppressions-list=tests/analysis/cppcheck.supp --inline-suppr --quiet \
		-j "$jobs" --error-exitcode=1 \
		--template='{file}:{line}: {severity}/{id}: {message}' src cgi
	rc=$?
	echo "# cppcheck $(cppcheck --version | cut -d' ' -f2): $([ $rc = 0 ] && echo clean || echo findings above)" \
		"($(grep -c '^[a-zA-Z]' tests/analysis/cppcheck.supp) suppressions with reasons)"
	return $rc
}

step_tidy() {
	# Checks from /.clang-tidy; "--" then the compiler flags (no compile_commands.json).
	each_file -- clang-tidy --quiet >"$out/tidy" 2>"$out/tidy.err"
	grep -v -e '^[0-9]* warnings\? generated' -e '^Suppressed [0-9]* warnings' \
		-e '^Use -header-filter' -e '^$' "$out/tidy.err" | grep . >&2
	python3 tests/analysis/filter.py clang-tidy tests/analysis/clang-tidy.supp <"$out/tidy"
}

step_fanalyzer() {
	# The build's optimisation level: the analyzer sees the code as compiled.
	each_file "" gcc -fanalyzer -fdiagnostics-path-format=separate-events -O2 -Wall -Wextra -Wno-unused-parameter -c -o /dev/null \
		>"$out/fan" 2>&1
	python3 tests/analysis/filter.py gcc-fanalyzer tests/analysis/gcc-analyzer.supp <"$out/fan"
}

[ -n "$steps" ] || { echo "usage: run.sh cppcheck|tidy|fanalyzer..." >&2; exit 2; }
rc=0
for s in $steps; do
	case $s in
	cppcheck|tidy|fanalyzer) "step_$s" || rc=1 ;;
	*) echo "run.sh: unknown step $s" >&2; rc=2 ;;
	esac
done
exit $rc
