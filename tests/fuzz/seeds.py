#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: tests/fuzz/corpus/<target>/.

Small hand-made samples, valid and invalid, one file each.  The files are
committed; this script is how they were made (entries need a real SHA-256)
and how to remake them: python3 tests/fuzz/seeds.py
"""
import base64, hashlib, hmac, json, os, shutil, sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")

def cb(code, msg, data):
    return json.dumps({"code": code, "msg": msg, "data": data}, separators=(",", ":"))

OK = {"taskId": "veo_task_abcdef123456",
      "info": {"resultUrls": ["https://cdn.example.com/a.mp4"],
               "originUrls": ["https://cdn.example.com/o.mp4"], "resolution": "1080p"},
      "fallbackFlag": False}

callback = {
    "ok": cb(200, "Veo3.1 video generated successfully.", OK),
    "ok-origin-null": cb(200, "Veo3 video generated successfully.",
                         {"taskId": "t1", "info": {"resultUrls": ["https://h/x.mp4"],
                          "originUrls": None, "resolution": "720p"}}),
    "ok-url-string": cb(200, "ok", {"taskId": "t2", "info": {
        "resultUrls": "[\"https://cdn.example.com/s.mp4\",\"http://h:8080/p?q=1\"]"}}),
    "ok-4k": cb(200, "4K", {"task_id": "veo_4k_1", "info": {"resultUrls": ["https://h/4k.mp4"],
                "imageUrls": ["https://h/i.png"]}, "media_ids": [1, 2],
                "promptJson": {"prompt": "a cat", "seed": 12345678901234567890}}),
    "ok-both-ids": cb(200, "x", {"taskId": "same", "task_id": "same",
                      "info": {"resultUrls": ["https://h/a.mp4"]}}),
    "fail-400": cb(400, "Your prompt was flagged by Website as violating content policies.",
                   {"taskId": "t400", "info": None, "fallbackFlag": False}),
    "fail-422": cb(422, "Rejected; fallback not enabled", {"taskId": "t422"}),
    "fail-500": cb(500, "Internal Error, Please try again later.", {"taskId": "t500", "info": None}),
    "fail-501": cb(501, "Generation failed \u00e9\u4e2d", {"taskId": "t501", "info": {}}),
    "unicode-escapes": '{"code":200,"msg":"\\u00e9\\ud83d\\ude00\\u0000x","data":{"taskId":"u","info":{"resultUrls":["https://h/\\u0061.mp4"]}}}',
    "bad-200-no-url": cb(200, "ok", {"taskId": "t", "info": {"resultUrls": []}}),
    "bad-taskid": cb(200, "ok", {"taskId": "../etc/passwd", "info": {"resultUrls": ["https://h/a"]}}),
    "bad-dot-taskid": cb(501, "x", {"taskId": ".hidden"}),
    "bad-ftp": cb(200, "ok", {"taskId": "t", "info": {"resultUrls": ["ftp://h/a.mp4"]}}),
    "bad-no-host": cb(200, "ok", {"taskId": "t", "info": {"resultUrls": ["https://@/x.mp4", "https://:443/x"]}}),
    "bad-dup-key": '{"code":200,"code":400,"msg":"m","data":{"taskId":"t"}}',
    "bad-ids-differ": cb(200, "x", {"taskId": "a", "task_id": "b", "info": {"resultUrls": ["https://h/a"]}}),
    "bad-code-type": '{"code":"200","msg":"m","data":{"taskId":"t"}}',
    "bad-code-float": '{"code":200.5,"msg":"m","data":{"taskId":"t"}}',
    "big-numbers": '{"code":501,"msg":"m","data":{"taskId":"t","n":18446744073709551616,"f":1e999,"g":-0.0}}',
    "bad-json": '{"code":200,"msg":"m","data":{"taskId":"t"',
    "bad-utf8": b'{"code":501,"msg":"\xff\xfe","data":{"taskId":"t"}}',
    "deep": '{"code":501,"msg":"m","data":{"taskId":"t","x":' + "[" * 40 + "]" * 40 + "}}",
    "many-urls": cb(200, "m", {"taskId": "many", "info": {"resultUrls":
                    ["https://h/%d.mp4" % i for i in range(40)]}}),
    "empty": "",
    "array": "[1,2,3]",
}

def entry(task, body, code=200, verified=False, extra=b"", length=None):
    body = body.encode() if isinstance(body, str) else body
    h = ("VEO-CALLBACK-ENTRY 1\ntask-id: %s\ncode: %d\nreceived: 2026-11-27T13:37:52.123456Z\n"
         "last-received: 2026-11-27T13:38:10.000001Z\nremote-addr: 203.0.113.9\n"
         "signature: %s\nduplicates: 0\nbody-sha256: %s\nbody-length: %d\n"
         % (task, code, "verified" if verified else "unsigned",
            hashlib.sha256(body).hexdigest(), len(body) if length is None else length)).encode()
    return h + extra + b"\n" + body

entries = {
    "ok": entry("veo_task_abcdef123456", callback["ok"]),
    "ok-verified": entry("t501", callback["fail-501"], code=501, verified=True),
    "ok-unknown-line": entry("t1", callback["ok-origin-null"], extra=b"future-field: 1\n"),
    "ok-empty-body": entry("e", ""),
    "bad-length": entry("t", callback["ok"], length=5),
    "bad-sha": entry("t", "abc").replace(hashlib.sha256(b"abc").hexdigest().encode(), b"0" * 64),
    "bad-taskid": entry("a/b", "x"),
    "bad-magic": b"VEO-CALLBACK-ENTRY 2\ntask-id: t\n\n",
    "bad-no-blank": b"VEO-CALLBACK-ENTRY 1\ntask-id: t\ncode: 200",
    "bad-line": b"VEO-CALLBACK-ENTRY 1\ntask-id:t\n\n",
    "bad-code": entry("t", "x").replace(b"code: 200", b"code: 99999999999999999999999"),
    "ipv6": entry("t6", "y").replace(b"203.0.113.9", b"2001:db8::1"),
    # as written since identical repeats leave the entry alone: no count
    "ok-current": entry("t7", callback["ok"]).replace(
        b"last-received: 2026-11-27T13:38:10.000001Z\n", b"").replace(b"duplicates: 0\n", b""),
}

def state(**over):
    s = {"taskId": "veo_task_fuzz", "state": "pending", "code": 200,
         "msg": "Veo3.1 video generated successfully.", "attempts": 1, "error": "",
         "advice": "", "nextAttempt": 1767000000, "firstSeen": 1766990000,
         "updated": 1766990100, "duplicates": 0, "forbidden": 0, "hookOwed": "",
         "source": "callback", "expected": 0, "awaiting": "", "reason": "",
         "nextAsk": 0, "askFailures": 0, "noRecord": 0, "fallback": False,
         "resolution": "1080p",
         "upgrade": {"kind": "", "state": "", "since": 0, "asked": 0, "error": ""},
         "callbackSha256": "ab" * 32, "dir": "/var/lib/veo-callback/videos/veo_task_fuzz",
         "files": [{"kind": "result", "url": "https://cdn.example.com/a.mp4",
                    "path": "/var/lib/veo-callback/videos/veo_task_fuzz/result-1.mp4",
                    "bytes": 1048576, "sha256": "cd" * 32, "done": True},
                   {"kind": "origin", "url": "https://cdn.example.com/o.webm",
                    "path": "/var/lib/veo-callback/videos/veo_task_fuzz/origin-1.webm",
                    "bytes": 0, "sha256": "", "done": False}]}
    s.update(over)
    return json.dumps(s, separators=(",", ":")) + "\n"

states = {
    "pending": state(),
    "done": state(state="done", hookOwed="on_done"),
    "failed": state(state="failed", code=400, error="content policy",
                    advice="change the prompt", files=[]),
    "record-info": state(source="record-info", awaiting="verify", expected=1,
                         upgrade={"kind": "4k", "state": "requested", "since": 5,
                                  "asked": 2, "error": "x"}),
    "named-task": "other_task\n" + state(taskId="other_task"),
    "other-task": state(taskId="not_this_one"),
    "bad-state": state(state="sleeping"),
    "bad-json": state()[:-20],
    "not-object": "[1,2]\n",
    "types": state(code="200", attempts=1.5, files={"a": 1}, fallback=True),
    "many-files": state(files=[{"kind": "result", "url": "https://h/%d.mp4" % i,
                                "path": "/d/%d" % i} for i in range(70)]),
    "big-ints": state(code=9223372036854775807, attempts=-9223372036854775808,
                      duplicates=-1, updated=18446744073709551615),
}

configs = {
    "sample": open(os.path.join(HERE, "..", "..", "examples", "veo-callback.conf")).read(),
    "minimal": "spool_dir = /var/spool/veo-callback\ntoken = s3cr3t\n",
    "all-types": "# comment\n  max_body = 64K\nsync = no\nparallel = 8\nhmac_key = k\n"
                 "hmac_key_previous = old\nallow_from = 10.0.0.0/8, ::1\nupgrade = 4k\n"
                 "min_free = 1GiB\nmax_file_size = 2T\nverify = yes\r\n",
    "params": "token = file\n\0VEO_TOKEN=request\nVEO_MAX_BODY=1M\nVEO_SYNC=off\n",
    "empty-unsets": "token =\nspool_dir = \n",
    "bad-key": "nosuchkey = 1\n",
    "bad-line": "just words\n",
    "bad-range": "parallel = 1000\n",
    "bad-size": "max_body = 12Q\n",
    "bad-bool": "sync = maybe\n",
    "bad-choice": "upgrade = 8k\n",
    "overflow": "max_file_size = 9223372036854775807T\nmax_body=99999999999999999999\n",
    "long-line": "token = " + "x" * 5000 + "\n",
    "size-alone": "64K",
}

auth = {
    # token, query, key, previous key, taskId, timestamp, signature, allow_from, addr
    "plain": "s3cr3t\ntoken=s3cr3t\nk\n\nveo_task_1\n1700000000\nAAAA\n10.0.0.0/8\n10.1.2.3",
    "encoded": "a+b%c\nx=1&token=a%2Bb%25c&y\nkey\nold\nt\n1700000123\n" + "A" * 43 + "=\n::1\n::1",
    "hmac-real": "t\ntoken=t\nwebhook-key\nprev\nveo_task_abcdef123456\n1700000000\n%s\n"
                 "192.0.2.0/24, 2001:db8::/32\n2001:db8::7" % base64.b64encode(hmac.new(
                     b"webhook-key", b"veo_task_abcdef123456.1700000000", "sha256").digest()).decode(),
    "blank-ts": "t\ntoken=\nk\nk2\nt\n 1700000000 \n sig \n::ffff:10.0.0.0/104\n::ffff:10.9.9.9",
    "bad-cidr": "t\ntoken\nk\n\nt\nabc\n\n10.0.0.0/33, 1.2.3.4/x\n1.2.3.4",
    "long-ts": "t\n&&token=%zz\nk\n\nt\n1234567890123\nsig\n" + "a" * 90 + "\n300.1.1.1",
    "nul": "to\0ken\ntoken=to%00ken\nk\0x\n\nt\n1\nz\n0.0.0.0/0\n0.0.0.0",
}

netguard = {
    "https": "https://cdn.example.com/video/a.mp4?x=1\ncdn.example.com, *.example.org\ncdn.example.com",
    "http": "http://203.0.113.5:8080/a.mp4\n\n203.0.113.5",
    "ftp": "ftp://cdn.example.com/a.mp4\n*.example.com\na.example.com",
    "no-host": "https://@/x.mp4\nx\n",
    "port-only": "https://:443/x.mp4\n\n",
    "userinfo": "https://user:pass@cdn.example.com:443/a\ncdn.example.com.\nCDN.EXAMPLE.COM.",
    "ipv6": "https://[::ffff:127.0.0.1]/a\n*.x\n.x",
    "file": "file:///etc/passwd\n\n",
    "relative": "/just/a/path\n,, \t\n*.",
    "spaces": " https://h/a b\nh\nh",
    "idn": "https://xn--bcher-kva.example/a\n*.example\nb\u00fccher.example",
    "v4-private": b"\x0a\x00\x00\x01https://10.0.0.1/\n\n",
    "v4-public": b"\x08\x08\x08\x08\n\n",
    "v6-loop": b"\x00" * 15 + b"\x01\n\n",
    "v6-6to4": b"\x20\x02\xc0\xa8\x00\x01" + b"\x00" * 10 + b"\n\n",
}

def write(target, samples):
    d = os.path.join(OUT, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in samples.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())

def main():
    write("callback", callback)
    write("entry", entries)
    write("state", states)
    write("config", configs)
    write("auth", auth)
    write("netguard", netguard)

if __name__ == "__main__":
    sys.exit(main())
