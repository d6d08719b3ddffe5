#!/bin/bash
# Promise 1 when the disk fills: the spool on a small tmpfs.  Replies turn
# to 503 with Retry-After; no 200 without a whole entry, no entry and no
# temp file for a 503; and once space is freed, replies are 200 again.
#   1. CGI, min_free = 0, the file system runs out of inodes: a real ENOSPC
#      from creating the temp entry or from linking it into new/ (tmpfs
#      counts links against nr_inodes).
#   2. nginx + 4 FastCGI responders, min_free = 0, blocks run out under
#      concurrent posts (a real ENOSPC mid-write when writers race past the
#      free-space check; reported, not required).
#   3. CGI, the free-space check passes but the write itself runs out of
#      space half-way (as with a quota): ENOSPC mid-write, temp removed.
#   4. nginx + FastCGI, min_free = 1M: refused before the disk is full.
. "$(dirname "$0")/lib/common.sh"

for c in spawn-fcgi nginx python3; do
	command -v $c >/dev/null || skip_all "$c not installed"
done
[ -x "$CALLBACK" ] || skip_all "build/veo-callback not built (run make)"
mount_tmpfs "$T/probe" size=64k 2>"$T/mount.err" ||
	skip_all "cannot mount a tmpfs here: $(head -n 1 "$T/mount.err")"

BODIES=$T/bodies
mkdir -p "$BODIES"

# avail DIR: bytes available to unprivileged writers on DIR's file system.
avail() { python3 -c 'import os,sys; v=os.statvfs(sys.argv[1]); print(v.f_bavail*v.f_frsize)' "$1"; }

# cgi_store RESULTS TASKID VAR=value...: posts a callback for TASKID in CGI
# mode; appends "TASKID STATUS RETRY-AFTER" to RESULTS.
cgi_store() {
	_res=$1 _tid=$2; shift 2
	sample_body "$_tid" >"$BODIES/$_tid"
	_reply=$(cgi_post "$(cat "$BODIES/$_tid")" "$@")
	_st=$(printf '%s\n' "$_reply" | cgi_status)
	_ra=$(printf '%s\n' "$_reply" | reply_header Retry-After)
	echo "$_tid ${_st:-0} ${_ra:--}" >>"$_res"
	echo "${_st:-0}"
}

# check_phase NAME SPOOL RESULTS: the invariants after replies turned to 503.
check_phase() {
	_n200=$(awk '$2 == 200' "$3" | wc -l)
	_n503=$(awk '$2 == 503' "$3" | wc -l)
	diag "$1: replies (status:count) $(awk '{ c[$2]++ } END { for (s in c) printf "%s:%d ", s, c[s] }' "$3")"
	[ "$_n200" -gt 0 ]; ok $? "$1: callbacks were stored before the disk filled ($_n200)"
	[ "$_n503" -gt 0 ]; ok $? "$1: replies turned to 503 once it was full ($_n503)"
	is "$(awk '$2 != 200 && $2 != 503' "$3" | wc -l)" 0 "$1: every reply was 200 or 503"
	_out=$(spoolcheck acked "$2" "$BODIES" "$3"); _rc=$?; ok $_rc "$1: every 200 has a whole entry with the body sent"
	[ $_rc = 0 ] || echo "$_out"
	_out=$(spoolcheck refused "$2" "$3"); _rc=$?; ok $_rc "$1: every 503 has Retry-After and no entry in new/"
	[ $_rc = 0 ] || echo "$_out"
	_out=$(spoolcheck complete "$2" "$BODIES"); _rc=$?; ok $_rc "$1: every file in new/ is whole"
	[ $_rc = 0 ] || echo "$_out"
	is "$(count_files "$2/tmp")" 0 "$1: nothing left in tmp/ after the 503s"
}

# check_recovered NAME SPOOL RESULTS: after space was freed.
check_recovered() {
	is "$(awk '$2 != 200' "$3" | wc -l)" 0 "$1: after freeing space every reply is 200 again"
	[ -s "$3" ]; ok $? "$1: ($(wc -l <"$3") posts after freeing)"
	_out=$(spoolcheck acked "$2" "$BODIES" "$3"); _rc=$?; ok $_rc "$1: and each is stored whole"
	[ $_rc = 0 ] || echo "$_out"
}

# ---- 1. CGI, min_free = 0, out of inodes ----
M=$T/m1 SPOOL=$T/m1/spool RES=$T/res1
mount_tmpfs "$M" size=4m,nr_inodes=48 || { ok 1 "mount tmpfs with nr_inodes"; done_testing; }
mkdir -p "$SPOOL" "$M/filler"
for i in 1 2 3 4 5 6 7 8 9 10; do : >"$M/filler/$i"; done
ENV1="VEO_SPOOL_DIR=$SPOOL VEO_MIN_FREE=0 VEO_SYNC=yes VEO_AUTH=none"
: >"$T/cgi.log"
i=0
# shellcheck disable=SC2086
while [ $i -lt 100 ] && [ "$(cgi_store "$RES" "inode_$i" $ENV1)" = 200 ]; do i=$((i + 1)); done
# shellcheck disable=SC2086
for j in 1 2 3; do cgi_store "$RES" "inode_more_$j" $ENV1 >/dev/null; done
check_phase "inodes" "$SPOOL" "$RES"
grep -q 'No space left on device' "$T/cgi.log"
ok $? "inodes: the 503s came from a real ENOSPC (min_free = 0)"
diag "inodes: failing steps: $(sed -n 's/.*spool [^ ]*: \([a-z ]*\): No space left.*/\1/p' "$T/cgi.log" | sort | uniq -c | tr -s ' \n' ' ')"
# Repeats of stored tasks while full: the identical body, and a changed one.
# Either may be refused (503) but neither may damage the stored entry.
: >"$RES.repeat"
# shellcheck disable=SC2086
cgi_store "$RES.repeat" inode_0 $ENV1 >/dev/null
changed=$(sample_body inode_1 | sed 's/1080p/720p/')
# shellcheck disable=SC2086
reply=$(cgi_post "$changed" $ENV1)
st=$(printf '%s\n' "$reply" | cgi_status)
echo "inode_1 ${st:-0} $(printf '%s\n' "$reply" | reply_header Retry-After)" >>"$RES.repeat"
[ "$st" = 200 ] && printf '%s' "$changed" >"$BODIES/inode_1"	# stored: now the expected body
diag "inodes: repeats while full: $(awk '{ print $1 "=" $2 }' "$RES.repeat" | tr '\n' ' ')"
is "$(awk '$2 != 200 && $2 != 503' "$RES.repeat" | wc -l)" 0 "inodes: repeats while full are answered 200 or 503"
echo "inode_0 inode_1" >"$T/stored-before"
_out=$(spoolcheck refused "$SPOOL" "$RES.repeat" "$T/stored-before"); _rc=$?; ok $_rc "inodes: a refused repeat carries Retry-After"
[ $_rc = 0 ] || echo "$_out"
_out=$(spoolcheck complete "$SPOOL" "$BODIES"); _rc=$?; ok $_rc "inodes: the entries of both tasks are still whole (and unchanged unless answered 200)"
[ $_rc = 0 ] || echo "$_out"
is "$(count_files "$SPOOL/tmp")" 0 "inodes: nothing left in tmp/"
rm -r "$M/filler"
: >"$RES.after"
# shellcheck disable=SC2086
for j in 1 2 3 4 5; do cgi_store "$RES.after" "inode_after_$j" $ENV1 >/dev/null; done
check_recovered "inodes" "$SPOOL" "$RES.after"

# ---- 2. nginx + FastCGI, min_free = 0, out of blocks, concurrent writers ----
M=$T/m2 SPOOL=$T/m2/spool RES=$T/res2
mount_tmpfs "$M" size=1m || { ok 1 "mount tmpfs"; done_testing; }
mkdir -p "$SPOOL"
dd if=/dev/zero of="$M/filler" bs=64k count=10 2>/dev/null
diag "blocks: $(avail "$M") bytes free before the posts"
FCGI_WRAPPER=$(fcgi_log_wrapper r2) start_fcgi r2 4 VEO_SPOOL_DIR="$SPOOL" VEO_MIN_FREE=0 VEO_SYNC=yes VEO_AUTH=none ||
	{ ok 1 "responders start"; done_testing; }
start_nginx P2 "$T/r2.sock" || { ok 1 "nginx starts"; done_testing; }
python3 "$BURST" "http://127.0.0.1:$P2/callback" "$RES" --bodies "$BODIES" --prefix blocks_ \
	--count 60 --threads 8 --pad 8000-30000 --seed 2
check_phase "blocks" "$SPOOL" "$RES"
if grep -Eq 'write (temp )?entry: No space left on device' "$T/r2.log"; then
	diag "blocks: writers raced past the free-space check and hit ENOSPC mid-write ($(grep -c 'No space left' "$T/r2.log") times)"
else
	diag "blocks: every 503 came from the free-space check (no writer hit ENOSPC mid-write this run)"
fi
rm -f "$M/filler"
python3 "$BURST" "http://127.0.0.1:$P2/callback" "$RES.after" --bodies "$BODIES" --prefix blocks_after_ \
	--count 10 --threads 4 --pad 8000-30000 --seed 3
check_recovered "blocks" "$SPOOL" "$RES.after"
stop_nginx; stop_fcgi r2

# ---- 3. CGI, ENOSPC in the middle of writing the entry ----
# The free-space check cannot see every limit (a user quota, another writer
# filling the disk in between).  Here spool_dir itself is on the big disk
# but its tmp/, new/ and old/ lead into a small tmpfs, so the check passes
# and the write runs out of space half-way.
M=$T/m4 SPOOL=$T/quota-spool RES=$T/res4
mount_tmpfs "$M" size=256k || { ok 1 "mount tmpfs"; done_testing; }
mkdir -p "$M/tmp" "$M/new" "$M/old" "$SPOOL"
for d in tmp new old; do ln -s "$M/$d" "$SPOOL/$d"; done
dd if=/dev/zero of="$M/filler" bs=64k count=2 2>/dev/null
ENV4="VEO_SPOOL_DIR=$SPOOL VEO_MIN_FREE=0 VEO_SYNC=yes VEO_AUTH=none"
pad=$(head -c 24000 /dev/zero | tr '\0' p)
: >"$T/cgi.log"
i=0
while [ $i -lt 40 ]; do
	callback_json 200 "$pad $i" "midwrite_$i" "https://cdn.example.com/$i.mp4" >"$BODIES/midwrite_$i"
	# shellcheck disable=SC2086
	reply=$(cgi_post "$(cat "$BODIES/midwrite_$i")" $ENV4)
	st=$(printf '%s\n' "$reply" | cgi_status)
	echo "midwrite_$i ${st:-0} $(printf '%s\n' "$reply" | reply_header Retry-After)" >>"$RES"
	[ "$st" = 200 ] || break
	i=$((i + 1))
done
check_phase "mid-write" "$SPOOL" "$RES"
grep -Eq 'write (temp )?entry: No space left on device' "$T/cgi.log"
ok $? "mid-write: the 503 came from ENOSPC while writing the entry"
rm -f "$M/filler"
: >"$RES.after"
for j in 1 2 3; do
	callback_json 200 "$pad after $j" "midwrite_after_$j" "https://cdn.example.com/$j.mp4" >"$BODIES/midwrite_after_$j"
	# shellcheck disable=SC2086
	st=$(cgi_post "$(cat "$BODIES/midwrite_after_$j")" $ENV4 | cgi_status)
	echo "midwrite_after_$j ${st:-0} -" >>"$RES.after"
done
check_recovered "mid-write" "$SPOOL" "$RES.after"

# ---- 4. nginx + FastCGI, min_free = 1M: refused before the disk is full ----
M=$T/m3 SPOOL=$T/m3/spool RES=$T/res3 MIN_FREE=1048576
mount_tmpfs "$M" size=3m || { ok 1 "mount tmpfs"; done_testing; }
mkdir -p "$SPOOL"
dd if=/dev/zero of="$M/filler" bs=64k count=24 2>/dev/null
diag "min_free: $(avail "$M") bytes free before the posts, min_free $MIN_FREE"
FCGI_WRAPPER=$(fcgi_log_wrapper r3) start_fcgi r3 2 VEO_SPOOL_DIR="$SPOOL" VEO_MIN_FREE=1M VEO_SYNC=yes VEO_AUTH=none ||
	{ ok 1 "responders start"; done_testing; }
start_nginx P3 "$T/r3.sock" || { ok 1 "nginx starts"; done_testing; }
python3 "$BURST" "http://127.0.0.1:$P3/callback" "$RES" --bodies "$BODIES" --prefix minfree_ \
	--count 40 --threads 1 --pad 20000-30000 --seed 4
check_phase "min_free" "$SPOOL" "$RES"
left=$(avail "$M")
diag "min_free: $left bytes free after the 503s"
# A write is admitted only with min_free + body + 1 KiB free; tmpfs rounds
# files up to a page, so at most one page below min_free.
[ "$left" -ge $((MIN_FREE - 4096)) ]; ok $? "min_free: refused before the free space fell below min_free ($left bytes left)"
grep -q 'spool nearly full' "$T/r3.log"; ok $? "min_free: the log says the spool is nearly full"
! grep -q 'No space left on device' "$T/r3.log"; ok $? "min_free: no write ever hit ENOSPC"
rm -f "$M/filler"
python3 "$BURST" "http://127.0.0.1:$P3/callback" "$RES.after" --bodies "$BODIES" --prefix minfree_after_ \
	--count 5 --threads 1 --pad 20000-30000 --seed 5
check_recovered "min_free" "$SPOOL" "$RES.after"

done_testing
