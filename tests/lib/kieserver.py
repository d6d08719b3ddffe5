#!/usr/bin/env python3
"""A stand-in for kie.ai's Veo 3.1 API, for the tests.  Python standard
library only.  It answers as ../shared/reference/kie-veo3.1-api.md
describes, quirks included: the verdict is the body's "code" (HTTP 200 with
body code 422), get-4k-video answers 422 while processing *and* when done
(with resultUrls), get-1080p-video's resultUrl is one string, unknown tasks
get a "record is null" 422 or "data": null, wrong keys a 401.

    kieserver.py [options] PORTFILE LOGFILE

    --key-file FILE     the API key (first line); default "test-api-key"
    --scenarios DIR     DIR/<taskId>.json says how each task behaves (read at
                        every request, so a test may change it at any time)
    --unknown SHAPE     the answer for a task without a scenario file
                        (default 422-null; see "missing" below)
    --auth-style S      a wrong or missing key gets: "http" HTTP 401 with
                        body code 401 (default), "body" HTTP 200 with body
                        code 401
    --hmac-key-file F   sign the 4K callbacks it sends (X-Webhook-Signature)
    --tls CERT KEY      speak https
    --bind ADDR         default 127.0.0.1

It binds port 0, creates LOGFILE, then writes the port to PORTFILE (by
rename, so a reader that sees the file sees the whole port).  LOGFILE gets
one line a request, written before the answer is sent:

    METHOD PATH ARGS auth=ok|bad|none gzip=yes|no ua=UA leak=no|yes -> HTTP/CODE

ARGS is the query string of a GET, or the JSON body of a POST (compact,
the query of its callBackUrl shown as "...": it may hold a token);
auth says whether "Authorization: Bearer <key>" matched (the key itself is
never logged); leak=yes when the key appears anywhere in the request but
the Authorization header; CODE is the body's code ("-" when the answer is
not JSON or there is none).  Sent callbacks log
"CALLBACK SHAPE taskId=ID url=SCHEME://HOST/PATH -> STATUS" (no query:
it may hold a token).

Scenario file (every member optional):

  {"record": {                      GET /api/v1/veo/record-info?taskId=
      "errors": [429, "html", ...], the first calls answer these (below)
      "flags": [0, 0, 1],           successFlag of successive answers; the
                                    last one repeats (default [1])
      "resultUrls": [...], "originUrls": [...] (default: none),
      "urlsAsString": true,         both lists as a string holding JSON
      "resolution": "720p", "fallbackFlag": false,
      "errorCode": 501, "errorMessage": "...",   for flags 2 and 3
      "data": {...}, "response": {...},  members merged into data / response
      "missing": SHAPE},            always answer "no record"
   "1080p": {                       GET /api/v1/veo/get-1080p-video?taskId=&index=
      "errors": [...], "notReady": 2 (calls answering "processing" first),
      "notReadyCode": 400 (or 500), "resultUrl": URL, or "resultUrls": [per index],
      "refuse": {"code": 402, "msg": "..."}, "missing": SHAPE},
   "4k": {                          POST /api/v1/veo/get-4k-video
      "errors": [...], "processing": 1 (422 "processing" answers after the
      first, before the 422 that carries resultUrls), "resultUrls": [...],
      "imageUrls": [...], "refuse": {...}, "missing": SHAPE,
      "callback": {"shape": "info"|"flat"|"fail", "delay": 0.2, "index": 0}}}
      (when the first request carries a callBackUrl, that callback is POSTed
      to it after delay seconds)

Calls are counted per task, endpoint (and index); "errors" entries are
taken first, one a call:
  NNN (e.g. 429, 455, 500, 503)  HTTP NNN, JSON body with code NNN
  "code:NNN"                     HTTP 200, JSON body with code NNN
  "html"                         HTTP 502, an HTML error page
  "html200"                      HTTP 200, an HTML page
  "cloudflare"                   HTTP 403, text/plain "error code: 1010"
  "garbage"                      HTTP 200, application/json, not JSON
  "big"                          HTTP 200, 2 MiB of JSON
  "reset"                        the connection is closed, no answer
  "cut"                          HTTP 200 announcing 200 bytes, sends fewer
  "slow:S"                       sleeps S seconds, then answers normally
Missing shapes: "null" (code 200, data null), "422-null" ("record is
null"), "422-notexist" ("Record does not exist"), "422-14days" (older than
14 days), "404".

Other paths:
  /video/NAME.mp4?size=N          a generated video (faultserver.py's
                                  /file/NAME bytes), Range bytes=N- honoured
  /_control/reset[?taskId=ID]     forget call counts
  /_control/auth-style?style=S    switch --auth-style
  /_control/callback4k?taskId=ID&url=URL&shape=S[&index=N]
                                  POST that 4K callback now; answers
                                  {"status": HTTP status it got, or 0}
"""

import base64
import gzip
import hashlib
import hmac
import http.server
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultserver  # noqa: E402  (generated video bytes)

PREFIX = "/api/v1/veo/"
_lock = threading.Lock()
_counts = {}

MISSING = {
    "null": (200, {"code": 200, "msg": "success", "data": None}),
    "422-null": (200, {"code": 422, "msg": "record is null", "data": None}),
    "422-notexist": (200, {"code": 422, "msg": "Record does not exist", "data": None}),
    "422-14days": (200, {"code": 422, "msg": "Temporarily supports records within 14 days",
                         "data": None}),
    "404": (200, {"code": 404, "msg": "Not Found", "data": None}),
}

ERROR_MSG = {
    400: "Bad Request", 401: "You do not have access permissions",
    402: "Credits insufficient", 422: "Validation error", 429: "Too Many Requests",
    433: "Sub-key usage exceeds the limit", 455: "Service unavailable (maintenance)",
    500: "Internal Error", 501: "Generation failed", 502: "Bad Gateway",
    503: "Service Unavailable", 505: "Feature disabled",
}

HTML_PAGE = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
             b"<center><h1>502 Bad Gateway</h1></center>\r\n"
             b"<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n")

CB_MSG = "4K Video generated successfully."
CB_FAIL_MSG = "The 4K version of this video is unavailable. Please try a different video."


def count(key):
    """This call's number (0 for the first) for key."""
    with _lock:
        n = _counts.get(key, 0)
        _counts[key] = n + 1
        return n


def as_urls(urls, as_string):
    if urls is None:
        return None
    return json.dumps(urls) if as_string else list(urls)


def callback_body(shape, task, sc4k, index):
    urls = sc4k.get("resultUrls") or ["https://tempfile.example/4k/%s_%d.mp4" % (task, index)]
    images = sc4k.get("imageUrls") or ["https://tempfile.example/4k/%s_%d.jpg" % (task, index)]
    if shape == "fail":
        return {"code": 500, "msg": CB_FAIL_MSG, "data": {"taskId": task}}
    if shape == "flat":
        return {"code": 200, "msg": CB_MSG,
                "data": {"task_id": task, "result_urls": urls,
                         "media_ids": ["CAUaJDQ5%s" % hashlib.sha1(task.encode()).hexdigest()[:12]],
                         "image_urls": images}}
    return {"code": 200, "msg": CB_MSG,
            "data": {"taskId": task, "info": {"resultUrls": urls, "imageUrls": images}}}


def send_callback(server, url, shape, task, sc4k, index):
    """POSTs one 4K callback to url; returns the HTTP status (0: no answer)."""
    body = json.dumps(callback_body(shape, task, sc4k, index),
                      separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "kieserver"}
    if server.hmac_key is not None:
        ts = str(int(time.time()))
        mac = hmac.new(server.hmac_key.encode(), (task + "." + ts).encode(), hashlib.sha256)
        headers["X-Webhook-Timestamp"] = ts
        headers["X-Webhook-Signature"] = base64.b64encode(mac.digest()).decode()
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=15) as r:
            status = r.status
            r.read()
    except urllib.error.HTTPError as e:
        status = e.code
    except (OSError, ValueError):
        status = 0
    u = urllib.parse.urlsplit(url)
    server.log("CALLBACK %s taskId=%s url=%s://%s%s -> %d"
               % (shape, task, u.scheme, u.netloc, u.path, status))
    return status


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kieserver"

    def log_message(self, fmt, *args):
        pass

    # ---- request plumbing ----

    def do_GET(self):
        self.handle_any(b"")

    def do_POST(self):
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            n = 0
        self.handle_any(self.rfile.read(n) if n > 0 else b"")

    def handle_any(self, body):
        self.body_in = body
        url = urllib.parse.urlsplit(self.path)
        self.url = url
        self.q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        try:
            if url.path.startswith("/_control/"):
                return self.control(url.path[len("/_control/"):])
            if url.path.startswith("/video/"):
                return self.video(url.path[len("/video/"):])
            if not url.path.startswith(PREFIX):
                return self.answer(404, {"code": 404, "msg": "Not Found", "data": None})
            if self.auth() != "ok":
                status = 401 if self.server.auth_style == "http" else 200
                return self.answer(status, {"code": 401, "msg": ERROR_MSG[401], "data": None})
            endpoint = url.path[len(PREFIX):]
            route = {"record-info": self.record_info, "get-1080p-video": self.get_1080p,
                     "get-4k-video": self.get_4k}.get(endpoint)
            if route is None:
                return self.answer(404, {"code": 404, "msg": "Not Found", "data": None})
            route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def auth(self):
        got = self.headers.get("Authorization")
        if got is None:
            return "none"
        return "ok" if hmac.compare_digest(got.encode(), ("Bearer " + self.server.key).encode()) \
            else "bad"

    def leaked(self):
        key = self.server.key.encode()
        if key in self.path.encode() or key in self.body_in:
            return True
        for name, value in self.headers.items():
            if name.lower() != "authorization" and key in value.encode():
                return True
        return False

    def args(self):
        if self.command == "POST":
            try:
                req = json.loads(self.body_in)
            except ValueError:
                return "(not JSON)"
            if isinstance(req, dict) and isinstance(req.get("callBackUrl"), str):
                u = urllib.parse.urlsplit(req["callBackUrl"])
                req["callBackUrl"] = urllib.parse.urlunsplit(
                    (u.scheme, u.netloc, u.path, "..." if u.query else "", ""))
            return json.dumps(req, separators=(",", ":"))
        return self.url.query or "-"

    def log_request_line(self, status, code):
        ae = self.headers.get("Accept-Encoding", "")
        self.server.log("%s %s %s auth=%s gzip=%s ua=%s leak=%s -> %s/%s" % (
            self.command, self.url.path, self.args(), self.auth(),
            "yes" if "gzip" in ae else "no",
            (self.headers.get("User-Agent") or "-").replace(" ", "_"),
            "yes" if self.leaked() else "no", status, code))

    def raw(self, status, ctype, data, code="-"):
        self.log_request_line(status, code)
        if ctype.startswith("application/json") and \
                "gzip" in self.headers.get("Accept-Encoding", ""):
            data = gzip.compress(data)
            extra = [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
        else:
            extra = []
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if status in (429, 503):
            self.send_header("Retry-After", "7")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def answer(self, status, obj):
        code = obj.get("code", "-") if isinstance(obj, dict) else "-"
        self.raw(status, "application/json", json.dumps(obj).encode(), code)

    def reset(self):
        self.log_request_line("reset", "-")
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def error(self, what):
        """Answers errors-list entry what; False when the call goes on normally."""
        if isinstance(what, int):
            return self.answer(what, {"code": what, "msg": ERROR_MSG.get(what, "Error"),
                                      "data": None}) or True
        if what.startswith("code:"):
            c = int(what[5:])
            return self.answer(200, {"code": c, "msg": ERROR_MSG.get(c, "Error"),
                                     "data": None}) or True
        if what.startswith("slow:"):
            time.sleep(float(what[5:]))
            return False
        if what == "html":
            return self.raw(502, "text/html", HTML_PAGE) or True
        if what == "html200":
            return self.raw(200, "text/html", HTML_PAGE) or True
        if what == "cloudflare":
            return self.raw(403, "text/plain; charset=UTF-8", b"error code: 1010") or True
        if what == "garbage":
            return self.raw(200, "application/json", b'{"code":200,"msg":"succ') or True
        if what == "big":
            pad = "x" * (2 << 20)
            return self.answer(200, {"code": 200, "msg": "success", "data": None,
                                     "pad": pad}) or True
        if what == "reset":
            return self.reset() or True
        if what == "cut":
            self.log_request_line("200-cut", "-")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "200")
            self.end_headers()
            self.wfile.write(b'{"code":200,"msg":"success","data":{"taskId":')
            self.wfile.flush()
            self.close_connection = True
            return True
        raise ValueError("unknown error entry %r" % what)

    def scenario(self, task):
        if not task or self.server.scenarios is None or "/" in task or task.startswith("."):
            return None
        try:
            with open(os.path.join(self.server.scenarios, task + ".json"), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def begin(self, endpoint, task, index=None):
        """The part of task's scenario for endpoint, and this call's number
        among its normal answers; None when an error or "missing" answered."""
        sc = self.scenario(task)
        if sc is None:
            self.answer(*MISSING[self.server.unknown])
            return None
        part = sc.get(endpoint, {})
        n = count((task, endpoint, index))
        errors = part.get("errors", [])
        if n < len(errors) and self.error(errors[n]):
            return None
        if part.get("missing"):
            self.answer(*MISSING[part["missing"]])
            return None
        if part.get("refuse"):
            r = part["refuse"]
            self.answer(200, {"code": r.get("code", 400), "msg": r.get("msg", "Bad Request"),
                              "data": None})
            return None
        return part, count((task, endpoint, index, "normal"))

    # ---- the three endpoints ----

    def record_info(self):
        task = self.q.get("taskId", "")
        got = self.begin("record", task)
        if got is None:
            return
        sc, n = got
        flags = sc.get("flags", [1])
        flag = flags[min(n, len(flags) - 1)]
        as_string = sc.get("urlsAsString", False)
        response = None
        if flag == 1:
            response = {"taskId": task,
                        "resultUrls": as_urls(sc.get("resultUrls", []), as_string),
                        "originUrls": as_urls(sc.get("originUrls"), as_string),
                        "fullResultUrls": [],
                        "resolution": sc.get("resolution", "720p")}
            response.update(sc.get("response", {}))
        data = {"taskId": task,
                "paramJson": json.dumps({"prompt": "a cat", "aspectRatio": "16:9"}),
                "completeTime": "2025-06-06 10:30:00" if flag else None,
                "response": response,
                "successFlag": flag,
                "errorCode": sc.get("errorCode") if flag in (2, 3) else None,
                "errorMessage": sc.get("errorMessage", "") if flag in (2, 3) else "",
                "createTime": "2025-06-06 10:25:00",
                "fallbackFlag": sc.get("fallbackFlag", False)}
        data.update(sc.get("data", {}))
        self.answer(200, {"code": 200, "msg": "success", "data": data})

    def get_1080p(self):
        task = self.q.get("taskId", "")
        try:
            index = int(self.q.get("index", "0"))
        except ValueError:
            index = 0
        got = self.begin("1080p", task, index)
        if got is None:
            return
        sc, n = got
        if n < sc.get("notReady", 0):
            c = sc.get("notReadyCode", 400)
            return self.answer(200, {"code": c, "msg": "1080P is processing. It should be "
                                     "ready in 1-2 minutes. Please check back shortly.",
                                     "data": None})
        urls = sc.get("resultUrls")
        url = urls[index] if urls and index < len(urls) else \
            sc.get("resultUrl", "https://tempfile.example/p/%s_%d_1080p.mp4" % (task, index))
        self.answer(200, {"code": 200, "msg": "success", "data": {"resultUrl": url}})

    def get_4k(self):
        try:
            req = json.loads(self.body_in)
            task, index = req.get("taskId", ""), int(req.get("index", 0) or 0)
        except (ValueError, AttributeError, TypeError):
            return self.answer(200, {"code": 400, "msg": "Bad Request", "data": None})
        got = self.begin("4k", task, index)
        if got is None:
            return
        sc, n = got
        if n == 0:
            cb = sc.get("callback")
            if cb and req.get("callBackUrl") and cb.get("index", index) == index:
                t = threading.Timer(float(cb.get("delay", 0.2)), send_callback,
                                    (self.server, req["callBackUrl"], cb.get("shape", "info"),
                                     task, sc, index))
                t.daemon = True
                t.start()
            return self.answer(200, {"code": 200, "msg": "success",
                                     "data": {"taskId": task, "resultUrls": None,
                                              "imageUrls": None}})
        if n <= sc.get("processing", 0):
            return self.answer(200, {"code": 422, "msg": "4k is processing. It should be ready "
                                     "in 5-10 minutes. Please check back shortly.",
                                     "data": {"taskId": task, "resultUrls": None,
                                              "imageUrls": None}})
        body = callback_body("info", task, sc, index)["data"]["info"]
        self.answer(200, {"code": 422, "msg": "The video has been generated successfully",
                          "data": {"taskId": task, "resultUrls": body["resultUrls"],
                                   "imageUrls": body["imageUrls"]}})

    # ---- videos and control ----

    def video(self, name):
        try:
            size = int(self.q.get("size", "100000"))
        except ValueError:
            size = 100000
        seed = name[:-4] if name.endswith(".mp4") else name
        start = 0
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng.endswith("-"):
            try:
                start = min(int(rng[6:-1]), size)
            except ValueError:
                start = 0
        self.log_request_line(206 if start else 200, "-")
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(size - start))
        self.send_header("Accept-Ranges", "bytes")
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
        self.end_headers()
        for piece in faultserver.content(seed, start, size):
            self.wfile.write(piece)

    def control(self, what):
        if what == "reset":
            task = self.q.get("taskId")
            with _lock:
                for k in [k for k in _counts if task is None or k[0] == task]:
                    del _counts[k]
            return self.answer(200, {"code": 200, "msg": "reset"})
        if what == "auth-style" and self.q.get("style") in ("http", "body"):
            self.server.auth_style = self.q["style"]
            return self.answer(200, {"code": 200, "msg": "auth-style " + self.q["style"]})
        if what == "callback4k":
            task = self.q.get("taskId", "")
            sc = (self.scenario(task) or {}).get("4k", {})
            status = send_callback(self.server, self.q.get("url", ""),
                                   self.q.get("shape", "info"), task, sc,
                                   int(self.q.get("index", "0")))
            return self.answer(200, {"status": status})
        self.answer(404, {"code": 404, "msg": "no such control"})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def log(self, line):
        with _lock:
            self.logfile.write(line + "\n")
            self.logfile.flush()


def main(argv):
    opts = {"key": "test-api-key", "scenarios": None, "unknown": "422-null",
            "auth_style": "http", "hmac_key": None, "tls": None, "bind": "127.0.0.1"}
    while len(argv) > 2 and argv[0].startswith("--"):
        o = argv.pop(0)
        if o == "--key-file":
            with open(argv.pop(0), encoding="utf-8") as f:
                opts["key"] = f.readline().rstrip("\r\n")
        elif o == "--hmac-key-file":
            with open(argv.pop(0), encoding="utf-8") as f:
                opts["hmac_key"] = f.readline().rstrip("\r\n")
        elif o == "--scenarios":
            opts["scenarios"] = argv.pop(0)
        elif o == "--unknown":
            opts["unknown"] = argv.pop(0)
        elif o == "--auth-style":
            opts["auth_style"] = argv.pop(0)
        elif o == "--bind":
            opts["bind"] = argv.pop(0)
        elif o == "--tls":
            opts["tls"] = (argv.pop(0), argv.pop(0))
        else:
            sys.stderr.write("kieserver: unknown option %s\n" % o)
            return 2
    if len(argv) != 2 or opts["unknown"] not in MISSING or \
            opts["auth_style"] not in ("http", "body"):
        sys.stderr.write(__doc__)
        return 2
    portfile, logfile = argv
    server = Server((opts["bind"], 0), Handler)
    if opts["tls"]:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*opts["tls"])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    for k in ("key", "scenarios", "unknown", "auth_style", "hmac_key"):
        setattr(server, k, opts[k])
    server.logfile = open(logfile, "a", encoding="utf-8")
    tmp = portfile + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, portfile)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
