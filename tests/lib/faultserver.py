#!/usr/bin/env python3
"""A small HTTP/1.1 server that serves generated video files and misbehaves
on demand, for the download tests.  Python standard library only.

    faultserver.py [--bind ADDR] [--tls CERT KEY] [--port-file FILE] PORT LOGFILE
    faultserver.py --generate NAME SIZE [VERSION]    (the file, on stdout)

LOGFILE is created once the socket listens (wait for it to exist), then
gets one line per request, "METHOD PATH RANGE" ("-" when no Range), and
"ABORT PATH sent=N" when a client goes away mid-body.  PORT 0 lets the
kernel pick a free port; --port-file FILE gets the port listened on (a
number and a newline), written before LOGFILE is created.

Paths (N, M, B are byte counts):
  /file/NAME?size=N      the generated file: ftyp header, then bytes from a
                         seeded generator; ETag, Last-Modified, Range and
                         If-Range.  &v=X gives another version (new content
                         and validators), &etag=weak|none, &lm=none,
                         &cut=M: reset the connection at byte M,
                         &range=wrong: a 206 for another range than asked,
                         &range=416: 416 to every Range.
  /slow/NAME?size=N&rate=B    the same, B bytes a second
  /peak                  "PEAK NOW": the most /slow bodies sent at once
                         (connections), and how many now; ?reset=1 starts
                         counting again
  /norange/NAME?size=N   the same, but Range is ignored: always 200
  /chunked/NAME?size=N   the same, chunked, no Content-Length
  /status/CODE           that status with a small HTML body
  /flaky/KEY/N?size=M    503 the first N times for KEY, then the file KEY
  /reset?after=N&size=M  announces M (default 2N), sends N bytes, then RST
  /short?size=N&send=M   announces N, sends M, closes
  /stall?after=N&size=M  announces M, sends N, then nothing until the client
                         hangs up
  /redirect?to=URL&code=C    a redirect (302 by default) to URL
  /loop/N?size=M         N redirects in a row, then the file "loop"
  /splice/NAME?size=N&cut=M  the first request gets the file cut at M (a
                         reset); later ones get another version of it
                         (new content, new ETag) and a 206 for any Range,
                         If-Range ignored: a server that would splice
  /html                  200 text/html: an error page served as success
  /ftyphtml              200 video/mp4: an ftyp box, then an HTML page
  /nolength?size=N       no Content-Length, body ends when the server closes
"""

import email.utils
import hashlib
import http.server
import os
import random
import select
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse

# an ftyp box, then an mdat box that runs to the end of the file (size 0)
HEADER = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41\x00\x00\x00\x00mdat"
PERIOD = 65521          # prime, so that block-aligned mistakes show in hashes
CHUNK = 256 * 1024
_patterns = {}
_lock = threading.Lock()
_flaky = {}
_slow = {"now": 0, "peak": 0}  # /slow bodies being sent: now, and the most at once


def pattern(seed):
    """PERIOD bytes from a generator seeded with seed, repeated past CHUNK."""
    with _lock:
        p = _patterns.get(seed)
        if p is None:
            p = random.Random(seed).randbytes(PERIOD)
            p = p * (CHUNK // PERIOD + 2)
            _patterns[seed] = p
    return p


def content(seed, start, end):
    """Yields the bytes [start, end) of the file named by seed."""
    pat = pattern(seed)
    while start < end:
        if start < len(HEADER):
            n = min(end, len(HEADER)) - start
            yield HEADER[start:start + n]
        else:
            n = min(end - start, CHUNK)
            off = start % PERIOD
            yield memoryview(pat)[off:off + n]
        start += n


def validators(seed, q):
    digest = hashlib.sha1(seed.encode()).hexdigest()[:12]
    etag = '"%s"' % digest
    if q.get("etag") == "weak":
        etag = "W/" + etag
    elif q.get("etag") == "none":
        etag = None
    stamp = 1735689600 + int(digest[:6], 16)
    lastmod = None if q.get("lm") == "none" else \
        email.utils.formatdate(stamp, usegmt=True)
    return etag, lastmod


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultserver"

    def log_message(self, fmt, *args):
        pass

    def log(self, line):
        with _lock:
            self.server.logfile.write(line + "\n")
            self.server.logfile.flush()

    def do_GET(self):
        self.log("%s %s %s" % (self.command, self.path,
                               self.headers.get("Range", "-")))
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        parts = url.path.strip("/").split("/")
        route = getattr(self, "route_" + parts[0], None)
        if route is None:
            return self.simple(404, "no such route")
        try:
            route(parts[1:], q)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # ---- helpers ----

    def simple(self, code, text, headers=()):
        body = ("<!DOCTYPE html>\n<html><body><h1>%d</h1><p>%s</p></body></html>\n"
                % (code, text)).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def body(self, seed, start, end, rate=0):
        """Sends [start, end) of seed's file; logs ABORT if the client leaves."""
        sent = 0
        try:
            for piece in content(seed, start, end):
                if rate:
                    step = max(1, rate // 20)
                    for i in range(0, len(piece), step):
                        time.sleep(0.05)
                        self.wfile.write(piece[i:i + step])
                        sent += len(piece[i:i + step])
                else:
                    self.wfile.write(piece)
                    sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            self.log("ABORT %s sent=%d" % (self.path, sent))
            self.close_connection = True
            return False
        return True

    def reset(self):
        """Ends the connection with a RST instead of a FIN."""
        # A RST makes the client drop what it has not read yet: give it a
        # moment, so that most of what was sent arrives (tests must not
        # count on all of it).
        time.sleep(0.2)
        # SO_LINGER 0 turns close() into a RST; the read side must be closed
        # too, or the socket object keeps the descriptor open.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()
        self.close_connection = True

    def wanted_range(self, size, etag, lastmod, honour_if_range=True):
        """(start, end) asked for by Range, If-Range permitting; None: all."""
        rng = self.headers.get("Range", "")
        if_range = self.headers.get("If-Range") if honour_if_range else None
        if not rng.startswith("bytes=") or "," in rng:
            return None
        # If-Range: strong comparison with the ETag, or the exact date.
        if if_range is not None and if_range != lastmod and \
                (if_range != etag or etag.startswith("W/")):
            return None
        first, _, last = rng[6:].partition("-")
        return int(first), min(size, int(last) + 1) if last else size

    def serve_file(self, seed, size, q, ranges=True, rate=0, honour_if_range=True):
        etag, lastmod = validators(seed, q)
        want = self.wanted_range(size, etag, lastmod, honour_if_range) if ranges else None
        if want and (want[0] >= size or q.get("range") == "416"):
            self.send_response(416)
            self.send_header("Content-Range", "bytes */%d" % size)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if want and want[0] > 0:
            start, end = want
            if q.get("range") == "wrong":
                start -= 1
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, size))
        else:
            start, end = 0, size
            self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes" if ranges else "none")
        if etag:
            self.send_header("ETag", etag)
        if lastmod:
            self.send_header("Last-Modified", lastmod)
        self.end_headers()
        cut = int(q.get("cut", 0))
        if cut and start < cut < end:
            self.body(seed, start, cut, rate)
            self.reset()
        else:
            self.body(seed, start, end, rate)

    # ---- routes ----

    def route_file(self, args, q):
        seed = args[0] + ("/" + q["v"] if q.get("v") else "")
        self.serve_file(seed, int(q.get("size", 1000)), q)

    def route_slow(self, args, q):
        seed = args[0] + ("/" + q["v"] if q.get("v") else "")
        with _lock:
            _slow["now"] += 1
            _slow["peak"] = max(_slow["peak"], _slow["now"])
        try:
            self.serve_file(seed, int(q.get("size", 1000)), q,
                            rate=int(q.get("rate", 100000)))
        finally:
            with _lock:
                _slow["now"] -= 1

    def route_splice(self, args, q):
        with _lock:
            n = _flaky.get("splice/" + args[0], 0)
            _flaky["splice/" + args[0]] = n + 1
        size = int(q.get("size", 1000))
        if n == 0:
            self.serve_file(args[0], size, q)
        else:
            later = {k: v for k, v in q.items() if k != "cut"}
            self.serve_file(args[0] + "/2", size, later, honour_if_range=False)

    def route_peak(self, args, q):
        with _lock:
            body = b"%d %d\n" % (_slow["peak"], _slow["now"])
            if q.get("reset"):
                _slow["peak"] = _slow["now"]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def route_norange(self, args, q):
        self.serve_file(args[0], int(q.get("size", 1000)), q, ranges=False)

    def route_chunked(self, args, q):
        size = int(q.get("size", 1000))
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in content(args[0], 0, size):
            self.wfile.write(b"%x\r\n" % len(piece))
            self.wfile.write(piece)
            self.wfile.write(b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def route_status(self, args, q):
        code = int(args[0])
        self.simple(code, http.HTTPStatus(code).phrase if code in
                    http.HTTPStatus._value2member_map_ else "status")

    def route_flaky(self, args, q):
        key, fails = args[0], int(args[1])
        with _lock:
            seen = _flaky.get(key, 0)
            _flaky[key] = seen + 1
        if seen < fails:
            return self.simple(503, "try later", [("Retry-After", "1")])
        self.serve_file(key, int(q.get("size", 1000)), q)

    def route_reset(self, args, q):
        after = int(q.get("after", 1000))
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", q.get("size", str(2 * after)))
        self.end_headers()
        self.body("reset", 0, after)
        self.reset()

    def route_short(self, args, q):
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", q.get("size", "1000"))
        self.send_header("Connection", "close")
        self.end_headers()
        self.body("short", 0, int(q.get("send", 500)))
        self.close_connection = True

    def route_stall(self, args, q):
        after = int(q.get("after", 1000))
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", q.get("size", str(10 * after)))
        self.end_headers()
        self.body("stall", 0, after)
        deadline = time.time() + 120
        while time.time() < deadline:
            ready, _, _ = select.select([self.connection], [], [], 1)
            if ready and not self.connection.recv(4096):
                break
        self.close_connection = True

    def route_redirect(self, args, q):
        code = int(q.get("code", 302))
        self.send_response(code)
        self.send_header("Location", q.get("to", "/"))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def route_loop(self, args, q):
        n = int(args[0])
        if n == 0:
            return self.serve_file("loop", int(q.get("size", 1000)), q)
        self.send_response(302)
        self.send_header("Location", "/loop/%d?%s" % (n - 1, urllib.parse.urlencode(q)))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def route_html(self, args, q):
        self.simple(200, "Sorry, this video is not available.")

    def route_ftyphtml(self, args, q):
        body = (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
                b"<!DOCTYPE html><html><body>Access denied</body></html>\n")
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def route_nolength(self, args, q):
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.body("nolength", 0, int(q.get("size", 1000)))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self):
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


def main(argv):
    if len(argv) >= 3 and argv[0] == "--generate":
        seed = argv[1] + ("/" + argv[3] if len(argv) > 3 and argv[3] else "")
        out = sys.stdout.buffer
        for piece in content(seed, 0, int(argv[2])):
            out.write(piece)
        return 0
    bind, tls, port_file = "127.0.0.1", None, None
    while len(argv) > 2 and argv[0] in ("--bind", "--tls", "--port-file"):
        if argv[0] == "--bind":
            bind, argv = argv[1], argv[2:]
        elif argv[0] == "--port-file":
            port_file, argv = argv[1], argv[2:]
        else:
            tls, argv = argv[1:3], argv[3:]
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    Server.address_family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    server = Server((bind, int(argv[0])), Handler)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    if port_file:
        with open(port_file + ".tmp", "w", encoding="ascii") as f:
            f.write("%d\n" % server.server_address[1])
        os.rename(port_file + ".tmp", port_file)
    server.logfile = open(argv[1], "a", encoding="utf-8")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
