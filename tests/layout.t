#!/bin/bash
# The layout keeps its promises: the internet-facing responder links neither
# libcurl nor the spooler's code, and dependencies point down (common knows
# neither program; the responder knows nothing of the spooler).
. "$(dirname "$0")/lib/common.sh"
export LC_ALL=C
# The ordinary build's programs, whatever BINDIR_UNDER_TEST says: the
# static ones are stripped and hold no symbols to look at.
CALLBACK=$BUILD/veo-callback SPOOLER=$BUILD/veo-spooler

libs=$(ldd "$CALLBACK" 2>&1)
ok $? "ldd build/veo-callback runs"
printf '%s' "$libs" | grep -q libcurl
ok $(( $? == 0 )) "veo-callback does not link libcurl"
printf '%s' "$(ldd "$SPOOLER")" | grep -q libfcgi
ok $(( $? == 0 )) "veo-spooler does not link libfcgi"

syms=$(nm "$CALLBACK" 2>/dev/null)
ok $([ -n "$syms" ]; echo $?) "nm lists the responder's symbols"
for s in curl_easy_init hook_run fetch_run sweep_run task_save claim_task; do
	printf '%s\n' "$syms" | grep -Eq "[[:space:]]$s\$"
	ok $(( $? == 0 )) "veo-callback holds no $s"
done
printf '%s\n' "$syms" | grep -Eq '[[:space:]]T spool_store$'
ok $? "veo-callback holds spool_store (the check above would see symbols)"

# Which folder's headers each folder's sources include.
includes() {	# includes DIR: the quoted headers its files include
	sed -n 's/^#include "\([^"]*\)".*/\1/p' "$ROOT"/src/"$1"/*.[ch] | sort -u
}
allowed() {	# allowed HEADER DIR...: is HEADER in one of the DIRs?
	_h=$1; shift
	for _d in "$@"; do [ -f "$ROOT/src/$_d/$_h" ] && return 0; done
	return 1
}
for pair in "common:common" "responder:common responder" \
    "spooler:common spooler"; do
	dir=${pair%%:*} deps=${pair#*:}
	bad=""
	for h in $(includes "$dir"); do
		allowed "$h" $deps || bad="$bad $h"
	done
	is "$bad" "" "src/$dir includes headers of [$deps] only"
done
bad=""
for h in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$ROOT"/cgi/*.c); do
	allowed "$h" common responder || bad="$bad $h"
done
is "$bad" "" "cgi/ includes headers of [common responder] only"

# Comments that cite the design document point at a file the reader has.
grep -rlq 'DESIGN' "$ROOT/src" "$ROOT/cgi"
ok $(( $? != 0 )) "the sources cite the design document"
ok $([ -f "$ROOT/docs/DESIGN.md" ]; echo $?) "docs/DESIGN.md exists"

done_testing
