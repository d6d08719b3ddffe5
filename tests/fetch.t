#!/bin/bash
# The download engine (src/spooler/fetch.c) through tests/tools/fetch-cli, against
# the fault server (tests/lib/faultserver.py) and an https nginx: whole
# files, resume, every kind of failure, limits, sniffing, TLS.
. "$(dirname "$0")/lib/common.sh"

[ -x "$FETCH_CLI" ] || skip_all "build/tools/fetch-cli not built (make tools)"

LOG=$T/fault.log
start_faultserver PORT "$LOG" || { echo "Bail out! fault server did not start"; exit 1; }
B="http://127.0.0.1:$PORT"
D=$T/dl
mkdir -p "$D"

# fetch ARGS...: fetch-cli on loopback over http; its lines in $T/out,
# stderr in $T/err.  The address and scheme rules are ssrf.t's business.
fetch() { "$FETCH_CLI" --http-ok --allow-private "$@" >"$T/out" 2>"$T/err"; }
line() { sed -n "${1}p" "$T/out"; }
field() { line "$1" | cut -d' ' -f"$2"; }	# field LINE N
err_of() { line "$1" | cut -d' ' -f7-; }
fsize() { stat -c %s "$1" 2>/dev/null || echo none; }
requests() { grep -c "^GET $1" "$LOG"; }	# requests PATH-PREFIX

# ---- whole files, in parallel ----
urls=() want=()
for i in 1 2 3 4 5 6; do
	size=$((i * 700000 + i))
	urls+=("$B/file/p$i?size=$size" "$D/p$i.mp4")
	want+=("$(generated_sha "p$i" "$size")")
done
fetch --parallel 3 --per-host 2 "${urls[@]}"
is "$?" 0 "six parallel downloads: exit 0"
for i in 1 2 3 4 5 6; do
	is "$(field $i 1) $(field $i 3)" "FETCH_OK $((i * 700000 + i))" "p$i: ok, whole size"
	is "$(field $i 6)" "${want[$((i - 1))]}" "p$i: reported SHA-256 equals the source's"
	is "$(sha256sum <"$D/p$i.mp4" | cut -d' ' -f1)" "${want[$((i - 1))]}" "p$i: file on disk equals the source"
done
is "$(ls "$D" | grep -c '\.part')" 0 "no .part or .part.info left behind"
is "$(cat "$T/err")" "" "nothing on stderr without --progress"

# per_host caps connections to one host (the server counts the most
# /slow bodies it sent at once); parallel caps transfers in flight.
# Transfers queued by the per-host limit wait for a connection; the wait
# must not count as a connect timeout (1 s here, each transfer ~1 s).
peak() {	# the peak since the last call, once the server is idle
	_i=0
	while [ "$(curl -s --noproxy '*' "$B/peak" | cut -d' ' -f2)" != 0 ] && [ $_i -lt 100 ]; do
		sleep 0.05; _i=$((_i + 1))
	done
	curl -s --noproxy '*' "$B/peak?reset=1" | cut -d' ' -f1
}
slow3() {
	fetch "$@" "$B/slow/q1?size=200000&rate=200000" "$D/q1.mp4" \
		"$B/slow/q2?size=200000&rate=200000" "$D/q2.mp4" \
		"$B/slow/q3?size=200000&rate=200000" "$D/q3.mp4"
}
peak >/dev/null
slow3 --parallel 3 --per-host 1 --connect-timeout 1
is "$(cut -d' ' -f1 "$T/out" | sort -u)" "FETCH_OK" "transfers queued behind per_host = 1 do not time out"
is "$(peak)" 1 "per_host = 1: one connection at a time"
slow3 --parallel 3 --per-host 2
is "$(peak)" 2 "per_host = 2: two connections at a time"
slow3 --parallel 3 --per-host 3
is "$(peak)" 3 "per_host = 3, parallel = 3: three at a time"
slow3 --parallel 2 --per-host 3
is "$(peak)" 2 "parallel = 2: two transfers in flight"

# Proxies from the environment are never used.
http_proxy=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 ALL_PROXY=http://127.0.0.1:9 \
	fetch "$B/file/px?size=1000" "$D/px.mp4"
is "$(field 1 1)" FETCH_OK "proxy variables in the environment are ignored"

fetch "$B/chunked/ch?size=123457" "$D/ch.mp4"
is "$(field 1 1) $(field 1 6)" "FETCH_OK $(generated_sha ch 123457)" "chunked body without Content-Length"

# ---- resume ----
# Killed mid-file: the next run asks for the rest and the hash is right.
SLOW="$B/slow/r?size=3000000&rate=800000"
"$FETCH_CLI" --http-ok --allow-private "$SLOW" "$D/r.mp4" >/dev/null 2>&1 &
cli=$!
i=0
while [ "$(fsize "$D/r.mp4.part")" = none ] || [ "$(fsize "$D/r.mp4.part")" -lt 400000 ]; do
	i=$((i + 1)); [ $i -gt 200 ] && break; sleep 0.05
done
kill -9 $cli; wait $cli 2>/dev/null
have=$(fsize "$D/r.mp4.part")
like "$have" '^[0-9]+$' "killed mid-file: a .part is left"
[ "$have" != none ] && [ "$have" -lt 3000000 ]
ok $? "the .part holds less than the whole file ($have bytes)"
fetch "$B/file/r?size=3000000" "$D/r.mp4"
is "$(field 1 1) $(field 1 5)" "FETCH_OK 1" "next run: ok, resumed"
is "$(field 1 4)" "$((3000000 - have))" "next run fetched only the missing bytes"
is "$(field 1 6)" "$(generated_sha r 3000000)" "resumed file has the right SHA-256"
like "$(grep '^GET /file/r' "$LOG")" "bytes=$have-\$" "the second request asked for bytes=$have-"
[ ! -e "$D/r.mp4.part" ] && [ ! -e "$D/r.mp4.part.info" ]
ok $? "side files removed once the file is in place"

# Cut by a reset (a RST loses what the client had not read yet, so the
# .part size is whatever arrived), then resumed (ETag validator).
fetch "$B/file/c?size=1000000&cut=400000" "$D/c.mp4"
have=$(fsize "$D/c.mp4.part")
is "$(field 1 1)" FETCH_NETWORK "reset mid-file: FETCH_NETWORK"
[ "$have" != none ] && [ "$have" -gt 0 ] && [ "$have" -le 400000 ]
ok $? "reset mid-file: the .part keeps what arrived ($have bytes)"
fetch "$B/file/c?size=1000000" "$D/c.mp4"
is "$(field 1 1) $(field 1 4) $(field 1 5)" "FETCH_OK $((1000000 - have)) 1" "resumed with If-Range (ETag): only the rest fetched"
is "$(field 1 6)" "$(generated_sha c 1000000)" "ETag-resumed file has the right SHA-256"

# Last-Modified as the validator when there is no ETag.
fetch "$B/file/l?size=500000&etag=none&cut=123456" "$D/l.mp4"
have=$(fsize "$D/l.mp4.part")
fetch "$B/file/l?size=500000&etag=none" "$D/l.mp4"
is "$(field 1 1) $(field 1 4) $(field 1 5)" "FETCH_OK $((500000 - have)) 1" "resumed with If-Range (Last-Modified)"
is "$(field 1 6)" "$(generated_sha l 500000)" "Last-Modified-resumed file has the right SHA-256"

# The file changed on the server: If-Range fails, the server sends it whole.
fetch "$B/file/v?size=800000&cut=300000" "$D/v.mp4"
fetch "$B/file/v?size=800000&v=2" "$D/v.mp4"
is "$(field 1 1) $(field 1 4) $(field 1 5)" "FETCH_OK 800000 0" "changed validator: restarted from zero"
is "$(field 1 6)" "$(generated_sha v 800000 2)" "changed file: SHA-256 of the new version, nothing spliced"

# A server that ignores Range answers 200: start over, still right.
fetch "$B/norange/n?size=900000&cut=300000" "$D/n.mp4"
have=$(fsize "$D/n.mp4.part")
fetch "$B/norange/n?size=900000" "$D/n.mp4"
like "$(grep '^GET /norange/n?size=900000 ' "$LOG")" "bytes=$have-\$" "a Range was asked for"
is "$(field 1 1) $(field 1 4) $(field 1 5)" "FETCH_OK 900000 0" "range ignored: whole file fetched again"
is "$(field 1 6)" "$(generated_sha n 900000)" "range ignored: SHA-256 right (no duplicate bytes)"

# A 206 for the wrong range, or a 416: start over without a range.
for how in wrong 416; do
	fetch "$B/file/w$how?size=300000&cut=100000" "$D/w$how.mp4"
	fetch "$B/file/w$how?size=300000&range=$how" "$D/w$how.mp4"
	is "$(field 1 1) $(field 1 4) $(field 1 5)" "FETCH_OK 300000 0" "range answer '$how': restarted from zero"
	is "$(field 1 6)" "$(generated_sha "w$how" 300000)" "range answer '$how': SHA-256 right"
	is "$(grep "^GET /file/w$how?size=300000&range=$how " "$LOG" | cut -d' ' -f3 | sed 's/=[0-9]*-$/=N-/' | tr '\n' ' ')" \
		"bytes=N- - " "range answer '$how': asked with a Range, then without"
done

# ---- failures ----
fetch "$B/flaky/f/1?size=5000" "$D/f.mp4"
is "$(field 1 1) $(field 1 2)" "FETCH_HTTP 503" "503 is FETCH_HTTP 503 (retries are the spooler's)"
like "$(err_of 1)" "HTTP 503 from 127.0.0.1" "503: the error names status and host"
fetch "$B/flaky/f/1?size=5000" "$D/f.mp4"
is "$(field 1 1) $(field 1 6)" "FETCH_OK $(generated_sha f 5000)" "then the next call succeeds"

for code in 404 410 403 500; do
	fetch "$B/status/$code" "$D/s$code.mp4"
	is "$(field 1 1) $(field 1 2)" "FETCH_HTTP $code" "HTTP $code reported"
	[ ! -e "$D/s$code.mp4" ] && [ ! -e "$D/s$code.mp4.part" ]
	ok $? "HTTP $code: the error page is stored nowhere"
done
fetch "$B/status/404" "$D/x.mp4"
like "$(err_of 1)" "gone .*14 days" "404 explains that result URLs expire"
fetch "$B/status/403" "$D/x.mp4"
like "$(err_of 1)" "access denied" "403 says access denied"

# An error answer to a resume leaves the .part alone.
fetch "$B/file/e?size=200000&cut=50000" "$D/e.mp4"
before=$(sha256sum <"$D/e.mp4.part")
fetch "$B/status/404" "$D/e.mp4"
is "$(field 1 1) $(sha256sum <"$D/e.mp4.part")" "FETCH_HTTP $before" "404 body does not touch an existing .part"

fetch "$B/reset?after=1200000" "$D/reset.mp4"
is "$(field 1 1)" FETCH_NETWORK "connection reset: FETCH_NETWORK"
like "$(err_of 1)" "^connection reset by 127.0.0.1 after [0-9.]+ (kB|MB)\$" "reset: says so, with the bytes received"
is "$(fsize "$D/reset.mp4.part")" "$(field 1 4)" "reset: the .part keeps what arrived, for the resume"

fetch "$B/short?size=1000000&send=500000" "$D/short.mp4"
is "$(field 1 1)" FETCH_SHORT "body shorter than Content-Length: FETCH_SHORT"
is "$(err_of 1)" "server announced 1000000 bytes but sent 500000" "short: the error gives both sizes"
[ ! -e "$D/short.mp4" ]
ok $? "short: nothing renamed into place"

fetch --stall 2 "$B/stall?after=2000" "$D/stall.mp4"
is "$(field 1 1)" FETCH_NETWORK "stall: FETCH_NETWORK"
like "$(err_of 1)" "^too slow: under .*/s for 2 s" "stall: says too slow, and for how long"

fetch "$B/file/gone?size=1000" "$T/no/such/dir/x.mp4"
is "$(field 1 1)" FETCH_LOCAL "unwritable destination: FETCH_LOCAL"
like "$(err_of 1)" "cannot write .*No such file or directory" "local error names the cause"

# ---- redirects ----
fetch --allow-hosts "127.0.0.1,localhost" \
	"$B/redirect?to=http://localhost:$PORT/file/rd%3Fsize%3D4321" "$D/rd.mp4"
is "$(field 1 1) $(field 1 6)" "FETCH_OK $(generated_sha rd 4321)" "redirect to another allowed host works"
fetch "$B/redirect?to=/file/rr%3Fsize%3D999&code=307" "$D/rr.mp4"
is "$(field 1 1) $(field 1 6)" "FETCH_OK $(generated_sha rr 999)" "relative 307 redirect works"
fetch "$B/loop/5?size=777" "$D/loop5.mp4"
is "$(field 1 1) $(field 1 6)" "FETCH_OK $(generated_sha loop 777)" "5 redirects (the limit) are followed"
: >"$LOG.before"; cp "$LOG" "$LOG.before"
fetch "$B/loop/6?size=777" "$D/loop6.mp4"
is "$(field 1 1)" FETCH_BLOCKED "6 redirects: FETCH_BLOCKED"
like "$(err_of 1)" "too many redirects" "6 redirects: says too many redirects"
is "$(diff "$LOG.before" "$LOG" | grep -c '^> GET /loop/')" 6 "6 redirects: the 7th URL is never requested"
fetch --max-redirects 0 "$B/loop/1?size=777" "$D/loop1.mp4"
is "$(field 1 1)" FETCH_BLOCKED "max_redirects 0 follows none"

# ---- limits and content ----
fetch --max-file-size 1000000 "$B/nolength?size=20000000" "$D/big.mp4"
is "$(field 1 1)" FETCH_TOO_BIG "over max_file_size without Content-Length: FETCH_TOO_BIG"
[ "$(field 1 4)" -le 1000000 ]
ok $? "no more than max_file_size bytes accepted ($(field 1 4))"
[ ! -e "$D/big.mp4.part" ] && [ ! -e "$D/big.mp4" ]
ok $? "the oversized .part is removed, not left to grow"
i=0	# the server notices the hang-up on its next write
while ! grep -q '^ABORT /nolength' "$LOG" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
sent=$(sed -n 's/^ABORT \/nolength?size=20000000 sent=//p' "$LOG")
like "$sent" '^[0-9]+$' "the server saw the client hang up mid-stream"
[ -n "$sent" ] && [ "$sent" -lt 20000000 ]
ok $? "stopped mid-stream: the server sent $sent of 20000000 bytes"

fetch --max-file-size 1000000 "$B/file/big2?size=3000000" "$D/big2.mp4"
is "$(field 1 1) $(field 1 4)" "FETCH_TOO_BIG 0" "announced size over the limit: refused before any byte"
like "$(err_of 1)" "3.0 MB, more than max_file_size \(1.0 MB\)" "too big: the error gives both sizes"

fetch "$B/html" "$D/html.mp4"
is "$(field 1 1) $(field 1 2)" "FETCH_BAD_CONTENT 200" "HTML page served with 200: FETCH_BAD_CONTENT"
is "$(err_of 1)" "not a video: starts with '<!DOCTYPE html>'" "bad content: shows how it starts"
[ ! -e "$D/html.mp4" ] && [ ! -e "$D/html.mp4.part" ]
ok $? "bad content: nothing kept"
fetch "$B/ftyphtml" "$D/fh.mp4"
is "$(field 1 1)" FETCH_BAD_CONTENT "an ftyp box followed by an HTML page is not a video"
fetch --expect image "$B/file/img?size=1000" "$D/img.png"
is "$(field 1 1)" FETCH_BAD_CONTENT "an mp4 where an image is expected is rejected"
fetch --expect any "$B/html" "$D/page.html"
is "$(field 1 1)" FETCH_OK "--expect any accepts anything"

# ---- deadline, progress ----
n0=$(wc -l <"$LOG")
fetch --deadline-in 0 "$B/file/d1?size=100" "$D/d1.mp4" "$B/file/d2?size=100" "$D/d2.mp4"
is "$(cut -d' ' -f1 "$T/out" | sort -u)" FETCH_NOT_RUN "past the deadline: FETCH_NOT_RUN"
is "$(wc -l <"$LOG")" "$n0" "past the deadline: no request made"

fetch --progress "$B/slow/pg?size=600000&rate=600000" "$D/pg.mp4"
is "$(field 1 1)" FETCH_OK "with --progress: ok"
like "$(tr '\r\033' '\n\n' <"$T/err")" "pg\.mp4 .*/s" "with --progress: a live line with a rate"
like "$(tr '\r\033' '\n\n' <"$T/err")" "pg\.mp4: 600\.0 kB" "with --progress: a final line per file"

# The tick callback (the spooler refreshes its claims there) runs while a
# transfer does: about once a second, and this one takes about two.
fetch --tick "$B/slow/tk?size=400000&rate=200000" "$D/tk.mp4"
ticks=$(sed -n 's/^ticks //p' "$T/err")
[ "$(field 1 1)" = FETCH_OK ] && [ "${ticks:-0}" -ge 1 ]
ok $? "tick called during a transfer ($ticks times)"

# ---- the deadline stops transfers under way; the .part stays for the resume ----
fetch --deadline-in 2 --job-done "$B/slow/dl?size=3000000&rate=200000" "$D/dl.mp4" \
	"$B/file/dq?size=1000" "$D/dq.mp4"
is "$(field 1 1)" FETCH_STOPPED "a transfer still running at the deadline is stopped"
like "$(err_of 1)" "time limit" "saying why"
part=$(fsize "$D/dl.mp4.part")
[ "$part" -gt 0 ]; ok $? "its .part is kept ($part bytes)"
is "$(field 2 1)" FETCH_OK "a quick one finished before it"
grep -q '^done 0 FETCH_STOPPED$' "$T/err" && grep -q '^done 1 FETCH_OK$' "$T/err"
ok $? "job_done was called once for each job, with its result"
is "$(grep -c '^done ' "$T/err")" 2 "and only once"
fetch "$B/slow/dl?size=3000000&rate=3000000" "$D/dl.mp4"
is "$(field 1 1) $(field 1 5)" "FETCH_OK 1" "the next run resumes it"
is "$(field 1 6)" "$(generated_sha dl 3000000)" "whole"

# ---- a server that drips bytes cannot hold the transfer: min_speed ----
fetch --stall 2 --min-speed 1000 "$B/slow/drip?size=100000&rate=200" "$D/drip.mp4"
is "$(field 1 1)" FETCH_NETWORK "20 bytes a second against min_speed 1000: stopped"
like "$(err_of 1)" "^too slow: under .*/s for 2 s" "says too slow"

# ---- a stall on a reused connection is a stall, not a connect timeout ----
fetch --parallel 1 --stall 2 "$B/file/ka?size=5000" "$D/ka.mp4" \
	"$B/stall?after=0&size=50000" "$D/ka2.mp4"
is "$(field 1 1) $(field 2 1)" "FETCH_OK FETCH_NETWORK" "second request on the kept-alive connection stalls"
like "$(err_of 2)" "^too slow" "reported as too slow"
unlike_connect=$(err_of 2 | grep -c 'timed out connecting')
is "$unlike_connect" 0 "not as a connect timeout"

# ---- a server that ignores If-Range and changed the file: never spliced ----
fetch "$B/splice/sp?size=400000&cut=150000" "$D/sp.mp4"
[ "$(fsize "$D/sp.mp4.part")" -gt 0 ]; ok $? "first attempt cut, .part kept"
fetch "$B/splice/sp?size=400000" "$D/sp.mp4"
is "$(field 1 1)" FETCH_OK "second attempt completes"
is "$(sha256sum <"$D/sp.mp4" | cut -d' ' -f1)" "$(generated_sha sp 400000 2)" \
	"the file is the new version whole, not half old and half new"
is "$(field 1 5)" 0 "it was not taken as a resume"

# ---- a complete .part (killed before the rename) is finished, not fetched again ----
python3 "$FAULTSERVER" --generate cp 300000 >"$D/cp.mp4.part"
printf 'veo-part 1\nlength 300000\netag "x"\nend\n' >"$D/cp.mp4.part.info"
fetch "$B/file/cp?size=300000" "$D/cp.mp4"
is "$(field 1 1) $(field 1 4) $(field 1 5)" "FETCH_OK 0 1" "a complete .part is finished: ok, no byte fetched"
is "$(sha256sum <"$D/cp.mp4" | cut -d' ' -f1)" "$(generated_sha cp 300000)" "the file is whole"
is "$(requests /file/cp)" 0 "the server was not asked"
[ ! -e "$D/cp.mp4.part" ] && [ ! -e "$D/cp.mp4.part.info" ]; ok $? "no side file left"

# ---- a file slow per connection is split over free slots ----
# 1 MB/s a connection: after a second the download has most of its bytes
# to go, so free slots fetch the second halves of its ranges.
peak >/dev/null
fetch --parallel 4 --per-host 4 "$B/slow/split?size=6000000&rate=1000000" "$D/split.mp4"
is "$(field 1 1) $(field 1 3)" "FETCH_OK 6000000" "a slow 6 MB file split: ok, whole"
is "$(field 1 6)" "$(generated_sha split 6000000)" "reported SHA-256 is the source's"
is "$(sha256sum <"$D/split.mp4" | cut -d' ' -f1)" "$(generated_sha split 6000000)" \
	"the file on disk is the source"
is "$(field 1 4)" 6000000 "no byte fetched twice: 6000000 this run"
n=$(requests /slow/split)
[ "$n" -ge 2 ]; ok $? "fetched over several requests ($n)"
grep '^GET /slow/split' "$LOG" | grep -Eq 'bytes=[0-9]+-[0-9]*$'
ok $? "the later ones ask for ranges"
p=$(peak)
[ "$p" -ge 2 ] && [ "$p" -le 4 ]; ok $? "2 to 4 connections at once ($p), never more than per_host"
[ ! -e "$D/split.mp4.part" ] && [ ! -e "$D/split.mp4.part.info" ]; ok $? "no side file left"

fetch --parallel 4 --per-host 1 "$B/slow/one?size=2500000&rate=1000000" "$D/one.mp4"
is "$(field 1 1) $(requests /slow/one)" "FETCH_OK 1" "per_host = 1: never split"
fetch --parallel 4 --per-host 4 "$B/slow/nov?size=2500000&rate=1000000&etag=none&lm=none" "$D/nov.mp4"
is "$(field 1 1) $(requests /slow/nov)" "FETCH_OK 1" \
	"no validator to keep the pieces of one version together: never split"
fetch --parallel 4 --per-host 4 "$B/slow/multi?size=2500000&rate=1000000" "$D/multi.mp4" \
	"$B/file/m2?size=1000" "$D/m2.mp4"
is "$(field 1 1) $(field 2 1)" "FETCH_OK FETCH_OK" "a split beside other jobs"

# A server that answers range requests with the wrong range: the split
# fails, the file starts over once on one connection, and arrives whole.
fetch --parallel 4 --per-host 4 "$B/slow/wr?size=4000000&rate=1000000&range=wrong" "$D/wr.mp4"
is "$(field 1 1) $(field 1 6)" "FETCH_OK $(generated_sha wr 4000000)" \
	"ranges answered wrongly: started over unsplit, whole and right"

# Killed while split: the sidecar names each range and how far it is on
# disk; the next run fetches only what the ranges miss.
"$FETCH_CLI" --http-ok --allow-private --parallel 4 --per-host 4 \
	"$B/slow/ks?size=8000000&rate=1000000" "$D/ks.mp4" >/dev/null 2>&1 &
cli=$!
wait_until 20 "the split saved in the sidecar" grep -qs '^range .* [1-9][0-9]* ' "$D/ks.mp4.part.info"
sleep 1
kill -9 $cli; wait $cli 2>/dev/null
nr=$(grep -c '^range ' "$D/ks.mp4.part.info")
[ "$nr" -ge 2 ]; ok $? "killed mid-split: the sidecar holds $nr ranges"
have=$(awk '$1 == "range" { s += $3 - $2 } END { print s + 0 }' "$D/ks.mp4.part.info")
fetch --parallel 4 --per-host 4 "$B/file/ks?size=8000000" "$D/ks.mp4"
is "$(field 1 1) $(field 1 5)" "FETCH_OK 1" "next run: ok, resumed"
is "$(field 1 6)" "$(generated_sha ks 8000000)" "resumed split file has the right SHA-256"
is "$(sha256sum <"$D/ks.mp4" | cut -d' ' -f1)" "$(generated_sha ks 8000000)" "on disk too"
is "$(field 1 4)" "$((8000000 - have))" "it fetched only what the ranges missed ($((8000000 - have)) bytes)"
grep '^GET /file/ks' "$LOG" | grep -Eq 'bytes=[0-9]+-[0-9]+$'
ok $? "asking for bounded ranges"

# Stopped at the deadline while split: the ranges are saved, and resumed.
fetch --parallel 4 --per-host 4 --deadline-in 3 "$B/slow/dls?size=8000000&rate=1000000" "$D/dls.mp4"
is "$(field 1 1)" FETCH_STOPPED "a split download at the deadline is stopped"
[ "$(grep -c '^range ' "$D/dls.mp4.part.info")" -ge 2 ]; ok $? "its ranges are saved"
fetch --parallel 4 --per-host 4 "$B/file/dls?size=8000000" "$D/dls.mp4"
is "$(field 1 1) $(field 1 6)" "FETCH_OK $(generated_sha dls 8000000)" "and the next run completes it"

# Ranges that do not tile the file are not believed: start over, still right.
python3 "$FAULTSERVER" --generate bt 3000000 2>/dev/null | head -c 1000000 >"$D/bt.mp4.part"
printf 'veo-part 1\nlength 3000000\netag "x"\nrange 0 500000 1000000\nrange 2000000 2000000 3000000\nend\n' \
	>"$D/bt.mp4.part.info"
fetch "$B/file/bt?size=3000000" "$D/bt.mp4"
is "$(field 1 1) $(field 1 5) $(field 1 4)" "FETCH_OK 0 3000000" "ranges with a gap: fetched whole, not resumed"
is "$(field 1 6)" "$(generated_sha bt 3000000)" "and right"

# ---- a full disk: FETCH_DISK_FULL, the .part kept ----
if mount_tmpfs "$T/small" size=256k 2>/dev/null; then
	fetch "$B/file/big?size=2000000" "$T/small/big.mp4"
	is "$(field 1 1)" FETCH_DISK_FULL "ENOSPC while downloading: disk full, not a task error"
	like "$(err_of 1)" "disk holding .*small is full" "naming the directory"
	[ "$(fsize "$T/small/big.mp4.part")" -gt 0 ]; ok $? "the .part is kept for the resume"
else
	ok 0 "# SKIP cannot mount a tmpfs"; ok 0 "# SKIP"; ok 0 "# SKIP"
fi

# ---- https from nginx with a test CA ----
if ! command -v nginx >/dev/null || ! command -v openssl >/dev/null; then
	for i in 1 2 3 4; do
		_tap_n=$((_tap_n + 1)); echo "ok $_tap_n # SKIP nginx or openssl missing"
	done
else
	make_test_ca "$T/ca" || echo "# make_test_ca failed"
	mkdir -p "$T/www"
	python3 "$FAULTSERVER" --generate tls 2500000 >"$T/www/tls.mp4"
	chmod -R a+rX "$T/www"
	start_tls_static TPORT "$T/www" "$T/ca" || echo "# nginx (TLS) did not start"
	"$FETCH_CLI" --allow-private --ca-file "$T/ca/ca.pem" \
		"https://localhost:$TPORT/tls.mp4" "$D/tls.mp4" \
		"https://127.0.0.1:$TPORT/tls.mp4" "$D/tls2.mp4" >"$T/out" 2>"$T/err"
	is "$(field 1 1) $(field 1 6)" "FETCH_OK $(generated_sha tls 2500000)" "https download with ca_file (by name)"
	is "$(field 2 1) $(field 2 6)" "FETCH_OK $(generated_sha tls 2500000)" "https download with ca_file (by address)"
	"$FETCH_CLI" --allow-private "https://localhost:$TPORT/tls.mp4" "$D/tls3.mp4" >"$T/out" 2>"$T/err"
	is "$(field 1 1)" FETCH_NETWORK "https without the test CA fails"
	like "$(err_of 1)" "certificate of localhost not trusted" "untrusted certificate: says so"
fi

done_testing
