#!/bin/bash
# The client of kie.ai's API (src/spooler/kie.c) end to end, through
# tests/tools/kie-cli, against the stand-in tests/lib/kieserver.py: each
# successFlag, generating then success, 429/455/5xx/HTML/Cloudflare-403
# (back off, then success), unknown tasks, a wrong key (401: an error that
# names api_key), 1080p and 4K with their quirks, the 4K callbacks the
# stand-in sends, TLS with ca_file, deadlines, and the key in no output.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/kie.sh"

[ -x "$KIE_CLI" ] || skip_all "build/tools/kie-cli not built (make tools)"

start_kieserver kie || { echo "Bail out! the kie.ai stand-in did not start"; exit 1; }
MAIN=$KIE_BASE
ALL=$T/all-output	# everything kie-cli printed, to look for the key at the end

# cli KEY BASE [kie-cli options and arguments]: kie-cli with VEO_API_KEY=KEY;
# its JSON line in $T/out, its fields in $T/flat, stderr in $T/err, all
# of it also in $ALL.  ask ARGS...: cli with the right key and the main stand-in.
cli() {
	_key=$1 _base=$2; shift 2
	rm -f "$T/flat"
	VEO_API_KEY=$_key "$KIE_CLI" --base "$_base" --flat "$T/flat" "$@" >"$T/out" 2>"$T/err"
	_rc=$?
	cat "$T/out" "$T/err" >>"$ALL"
	return $_rc
}
ask() { cli "$KIE_KEY" "$MAIN" "$@"; }
# jf FIELD...: those fields of the last answer, separated by blanks (lists
# joined by commas, null as "null", booleans as true/false).
jf() {
	_out="" _sep=""
	for _f in "$@"; do
		_out="$_out$_sep$(sed -n "s/^$_f=//p" "$T/flat" 2>/dev/null)"
		_sep=" "
	done
	printf '%s' "$_out"
}
sc() { kie_scenario kie "$@"; }
U=https://tempfile.example/v

# ---- record-info: each successFlag ----
sc f1 "{\"record\":{\"flags\":[1],\"resultUrls\":[\"$U/f1.mp4\"],\"originUrls\":[\"$U/f1o.mp4\"],\"resolution\":\"720p\"}}"
ask record-info f1
is "$?" 0 "kie-cli exits 0 when it printed an answer"
is "$(jf verdict successFlag resultUrls originUrls resolution)" "success 1 $U/f1.mp4 $U/f1o.mp4 720p" \
	"successFlag 1: success with resultUrls, originUrls, resolution"
is "$(jf http code error)" "200 200 " "successFlag 1: HTTP 200, code 200, no error"

sc f0 '{"record":{"flags":[0]}}'
ask record-info f0
is "$(jf verdict successFlag resultUrls transient)" "generating 0  false" "successFlag 0: generating, no URLs"

sc f2 '{"record":{"flags":[2],"errorCode":400,"errorMessage":"Your prompt was flagged by the content policy."}}'
ask record-info f2
is "$(jf verdict successFlag errorCode)" "failed 2 400" "successFlag 2: failed, errorCode 400"
is "$(jf errorMessage)" "Your prompt was flagged by the content policy." "successFlag 2: errorMessage"

sc f3 '{"record":{"flags":[3],"errorCode":501,"errorMessage":"The Google model was unable to generate audio for this request."}}'
ask record-info f3
is "$(jf verdict successFlag errorCode)" "failed 3 501" "successFlag 3: failed, errorCode 501"
like "$(jf error)" 'successFlag 3.*errorCode 501.*unable to generate audio' "successFlag 3: the error line says it all"

# ---- generating, then success ----
sc gs "{\"record\":{\"flags\":[0,0,1],\"resultUrls\":[\"$U/gs0.mp4\",\"$U/gs1.mp4\"]}}"
seq=""
for i in 1 2 3 4; do ask record-info gs; seq="$seq $(jf verdict)"; done
is "$seq" " generating generating success success" "generating, generating, then success (and it stays)"
is "$(jf resultUrls)" "$U/gs0.mp4,$U/gs1.mp4" "then both resultUrls"

# ---- back off: each transient answer, then success ----
for e in 429 455 500 502 503 '"code:429"' '"code:455"' '"code:503"' '"html"' '"html200"' '"cloudflare"' '"garbage"' '"cut"'; do
	name=$(printf 'b_%s' "$e" | tr -dc 'a-z0-9_')
	sc "$name" "{\"record\":{\"errors\":[$e],\"flags\":[1],\"resultUrls\":[\"$U/$name.mp4\"]}}"
	ask record-info "$name"
	is "$(jf verdict transient successFlag)" "throttled true -1" "$e: back off (throttled, transient, no task verdict)"
	ask record-info "$name"
	is "$(jf verdict resultUrls)" "success $U/$name.mp4" "$e, then success"
done
sc b_cf '{"record":{"errors":["cloudflare"]}}'
ask record-info b_cf
like "$(jf error)" 'Cloudflare.*403.*error code: 1010' "Cloudflare's 403 is named as such"
sc b_ra '{"record":{"errors":[429]}}'
ask record-info b_ra
is "$(jf http retryAfter)" "429 7" "429: Retry-After is passed on"
sc b_page '{"record":{"errors":["html200"]}}'
ask record-info b_page
like "$(jf error)" 'not its JSON envelope \(HTTP 200, text/html\)' "an HTML page under HTTP 200 is named as such"

# ---- tasks kie.ai does not know ----
ask record-info never_submitted
is "$(jf verdict code)" "no-record 422" "unknown task: no-record (body code 422 under HTTP 200)"
like "$(jf error)" 'no record.*record is null' "unknown task: the error quotes kie.ai"
for shape in 422-notexist 422-14days null 404; do
	sc "m_$shape" "{\"record\":{\"missing\":\"$shape\"}}"
	ask record-info "m_$shape"
	is "$(jf verdict transient)" "no-record false" "no record ($shape): no-record, not transient"
done

# ---- a wrong key ----
cli not-the-right-key "$MAIN" record-info f1
is "$(jf verdict http transient)" "auth-error 401 false" "wrong key: auth-error (HTTP 401), not transient"
like "$(jf error)" 'api_key' "wrong key: the error names api_key"
curl -s --noproxy '*' "$MAIN/_control/auth-style?style=body" >/dev/null
cli not-the-right-key "$MAIN" record-info f1
is "$(jf verdict http code)" "auth-error 200 401" "wrong key, body code 401 under HTTP 200: auth-error"
like "$(jf error)" 'api_key' "body 401: the error names api_key"
curl -s --noproxy '*' "$MAIN/_control/auth-style?style=http" >/dev/null
cli "" "$MAIN" record-info f1
is "$? $(cat "$T/err")" "2 kie-cli: api_key is not set" "no key: refused before asking, naming api_key"
cli "$KIE_KEY" "ftp://x" record-info f1
like "$? $(cat "$T/err")" '^2 .*api_base' "a base that is not http(s): refused, naming api_base"

# ---- 1080p ----
sc p1 "{\"1080p\":{\"notReady\":2,\"resultUrl\":\"$U/p1_1080.mp4\"}}"
seq=""
for i in 1 2 3; do ask 1080p p1 0; seq="$seq $(jf verdict ready code)"; done
is "$seq" " generating false 400 generating false 400 success true 200" "1080p: processing (code 400) twice, then ready"
is "$(jf resultUrl resultUrls)" "$U/p1_1080.mp4 $U/p1_1080.mp4" "1080p: resultUrl, one string"
like "$(kie_log kie | grep get-1080p-video | tail -1)" 'taskId=p1&index=0 ' "1080p: taskId and index in the query"
sc p2 '{"1080p":{"missing":"422-null"}}'
ask 1080p p2 0
is "$(jf verdict)" "no-record" "1080p: 422 record is null: no-record"

# ---- 4K ----
sc k1 "{\"4k\":{\"processing\":1,\"resultUrls\":[\"$U/k1_4k.mp4\"]}}"
seq=""
for i in 1 2 3; do ask 4k k1 0; seq="$seq $(jf verdict code)"; done
is "$seq" " requested 200 generating 422 success 422" "4K: requested, 422 processing, then 422 with resultUrls = done"
is "$(jf resultUrls)" "$U/k1_4k.mp4" "4K: the URL of a 422 answer is taken"
is "$(kie_log kie | grep -c 'POST /api/v1/veo/get-4k-video {"taskId":"k1","index":0}')" 3 "4K: POSTed JSON with taskId and index"

# The stand-in's 4K callbacks, as kie.ai documents them, signed.
printf 'hm4c-key\n' >"$T/hmac.key"
start_kieserver kcb --hmac-key-file "$T/hmac.key" || { echo "Bail out! second stand-in"; exit 1; }
CB_BASE=$KIE_BASE
python3 - "$T/recv.port" "$T/recv" <<'PY' &
import http.server, os, sys, threading
portfile, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
n = [0]
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            n[0] += 1
            p = "%s/%d" % (out, n[0])
        with open(p + ".tmp", "wb") as f:
            f.write(("%s\n%s\n%s\n" % (self.path, self.headers.get("X-Webhook-Timestamp", "-"),
                     self.headers.get("X-Webhook-Signature", "-"))).encode() + body)
        os.rename(p + ".tmp", p)
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"{}")
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(portfile + ".tmp", "w").write(str(s.server_address[1]))
os.rename(portfile + ".tmp", portfile)
s.serve_forever()
PY
_pids="$_pids $!"
wait_for_file "$T/recv.port"
RECV="http://127.0.0.1:$(cat "$T/recv.port")/cb?token=tok3n"
kie_scenario kcb c1 "{\"4k\":{\"resultUrls\":[\"$U/c1_4k.mp4\"],\"callback\":{\"shape\":\"info\",\"delay\":0.1}}}"
kie_scenario kcb c2 "{\"4k\":{\"resultUrls\":[\"$U/c2_4k.mp4\"],\"callback\":{\"shape\":\"flat\",\"delay\":0.1}}}"
kie_scenario kcb c3 '{"4k":{"callback":{"shape":"fail","delay":0.1}}}'
for t in c1 c2 c3; do
	cli "$KIE_KEY" "$CB_BASE" 4k "$t" 0 "$RECV"
	is "$(jf verdict)" "requested" "4K with callBackUrl ($t): requested"
done
wait_for_file "$T/recv/3" 10
# Each received callback as "TASK CODE SHAPE URLS PATH TIMESTAMP SIGNATURE".
cbs=$(python3 - "$T"/recv/[0-9]* <<'PY'
import json, sys
for p in sys.argv[1:]:
    path, ts, sig, body = open(p).read().split("\n", 3)
    d = json.loads(body)
    data = d["data"]
    task = data.get("taskId") or data.get("task_id")
    urls = (data.get("info") or {}).get("resultUrls") or data.get("result_urls") or []
    shape = "info" if "info" in data else "flat" if "task_id" in data else "none"
    print(task, d["code"], shape, ",".join(urls) or "-", path, ts, sig)
PY
)
is "$(printf '%s\n' "$cbs" | cut -d' ' -f1-5 | sort)" "c1 200 info $U/c1_4k.mp4 /cb?token=tok3n
c2 200 flat $U/c2_4k.mp4 /cb?token=tok3n
c3 500 none - /cb?token=tok3n" "the stand-in sent both documented 4K callback shapes and the failure"
sig_ok=0
while read -r task _ _ _ _ ts sig; do
	[ "$sig" = "$(hmac_sign hm4c-key "$task" "$ts")" ] || sig_ok=1
done <<<"$cbs"
ok $sig_ok "the 4K callbacks are signed as kie.ai signs (HMAC of taskId.timestamp)"
like "$(kie_log kcb | grep '^CALLBACK' | sort | tr '\n' ' ')" \
	'CALLBACK fail taskId=c3 url=http://127.0.0.1:[0-9]+/cb -> 200' "the stand-in logs callbacks without their query"

# ---- TLS: verified, with ca_file ----
if make_test_ca "$T/ca" 2>/dev/null; then
	start_kieserver ktls --tls "$T/ca/server.pem" "$T/ca/server.key" || { echo "Bail out! TLS stand-in"; exit 1; }
	kie_scenario ktls t1 "{\"record\":{\"flags\":[1],\"resultUrls\":[\"$U/t1.mp4\"]}}"
	cli "$KIE_KEY" "$KIE_BASE" record-info t1
	is "$(jf verdict transient)" "unreachable true" "https without the test CA: refused (certificate not trusted)"
	like "$(jf error)" 'certificate|SSL' "https without the CA: the error says why"
	cli "$KIE_KEY" "$KIE_BASE" --ca-file "$T/ca/ca.pem" record-info t1
	is "$(jf verdict resultUrls)" "success $U/t1.mp4" "https with ca_file naming the test CA: success"
	is "$(grep -c 'record-info' "$T/ktls.log")" 1 "only the verified connection reached the server"
else
	ok 0 "# skip openssl could not make a test CA"
fi

# ---- time limits ----
ask --deadline-in 0 record-info f1
is "$(jf verdict)" "not-asked" "deadline already passed: not asked"
sc slow '{"record":{"errors":["slow:6"],"flags":[0]}}'
ask --deadline-in 2 record-info slow
ms=$(jf ms)
is "$(jf verdict)" "unreachable" "an answer slower than the deadline: unreachable"
ok $(( ms > 3000 )) "the deadline held (${ms} ms for a 2 s limit)"
like "$(jf error)" "time limit" "and the error says it was the run's time limit"

# ---- the videos the stand-in serves (faultserver.py's generated files) ----
curl -s --noproxy '*' -o "$T/vid.mp4" "$MAIN/video/vid1.mp4?size=300000"
is "$(sha256sum <"$T/vid.mp4" | cut -d' ' -f1)" "$(generated_sha vid1 300000)" "the stand-in serves generated videos"
curl -s --noproxy '*' -r 100000- "$MAIN/video/vid1.mp4?size=300000" | cmp -s - <(tail -c +100001 "$T/vid.mp4")
ok $? "and honours Range bytes=N-"

# ---- what every request looked like ----
api=$(grep -h ' /api/v1/veo/' "$T"/kie.log "$T"/kcb.log "$T"/ktls.log 2>/dev/null)
n=$(printf '%s\n' "$api" | grep -c .)
is "$(printf '%s\n' "$api" | grep -c ' gzip=yes ')" "$n" "every request accepts gzip ($n requests)"
is "$(printf '%s\n' "$api" | grep -c ' ua=veo-spooler/[0-9]')" "$n" "every request has User-Agent veo-spooler/VERSION"
is "$(printf '%s\n' "$api" | grep -c ' leak=no ')" "$n" "the key travelled only in the Authorization header"
is "$(printf '%s\n' "$api" | grep -c ' auth=bad ')" 2 "only the two wrong-key requests had a wrong key"

# ---- kie-cli's JSON lines ----
python3 - "$ALL" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    if line.startswith("{"):
        d = json.loads(line)
        assert {"verdict", "http", "code", "error", "resultUrls", "successFlag"} <= set(d), line
        n += 1
sys.exit(0 if n > 50 else 1)
PY
ok $? "every answer kie-cli printed is one JSON object a line, with the documented fields"

# ---- the key in no output ----
is "$(cat "$ALL" "$T"/*.log "$T"/*.err 2>/dev/null | grep -cF "$KIE_KEY")" 0 \
	"the key is in no output of kie-cli and no log of the stand-in"
ok $([ -s "$ALL" ]; echo $?) "(there was output to look at)"

done_testing
