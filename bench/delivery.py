#!/usr/bin/env python3
"""The kie.ai side of bench/delivery.sh, and its measurements.

  delivery.py send ...   sends N success callbacks at once to one receiver,
                         as kie.ai does (a timeout per attempt, a retry after
                         a failed attempt, at most RETRIES retries), watches
                         the receiver's download directory until every video
                         is there whole, reads the file server's access log,
                         and appends one JSON line of results to --out.
  delivery.py table OUT  prints the table and the targets from those lines.

Only the standard library: it runs under any python3.

Measured, per receiver:
  - the reply time of every attempt (connect to the last byte of the reply);
    "first-try ack" is that of each callback's first attempt;
  - attempts that timed out, and callbacks given up (no 200 in any attempt);
  - when every video was on disk with the right SHA-256, counted from the
    moment the callbacks were sent.  A file counts from the last change of
    its inode (ctime: the rename that puts a whole download in place, or the
    last write of one written in place) once it is whole and hashes right;
    "for good" is the time of the version that is there at the end (the
    sample receiver's retries truncate and rewrite a file that was already
    whole), "first" the first time each file was seen whole;
  - the bytes the file server sent per video ($bytes_sent of every request
    for it, summed), from its access log.
"""
import argparse
import hashlib
import json
import math
import os
import socket
import ssl
import sys
import threading
import time
from urllib.parse import urlsplit


# ---- the sender ----

def post_once(url, body, ctx, connect_host, timeout):
    """One attempt: POST body to url, the whole attempt bounded by timeout
    seconds.  Returns (outcome, status, seconds): outcome 'ok' (status
    200), 'status' (another status), 'timeout' or 'error'."""
    u = urlsplit(url)
    port = u.port or (443 if u.scheme == 'https' else 80)
    target = u.path + ('?' + u.query if u.query else '')
    t0 = time.monotonic()
    deadline = t0 + timeout
    s = None
    try:
        s = socket.create_connection((connect_host or u.hostname, port), timeout=timeout)
        if u.scheme == 'https':
            s = ctx.wrap_socket(s, server_hostname=u.hostname)
        head = ('POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n'
                'Content-Length: %d\r\nConnection: close\r\nUser-Agent: kie-sender-emulator\r\n\r\n'
                % (target, u.hostname, port, len(body)))
        s.settimeout(max(deadline - time.monotonic(), 0.001))
        s.sendall(head.encode() + body)
        buf = b''
        need = None
        while True:
            s.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            if need is None and b'\r\n\r\n' in buf:
                hdr = buf.split(b'\r\n\r\n', 1)[0].decode('latin-1')
                need = -1
                for line in hdr.split('\r\n')[1:]:
                    k, _, v = line.partition(':')
                    if k.strip().lower() == 'content-length':
                        need = len(hdr) + 4 + int(v.strip())
            if need is not None and need >= 0 and len(buf) >= need:
                break
        el = time.monotonic() - t0
        if el > timeout:
            return 'timeout', 0, el
        try:
            status = int(buf.split(b' ', 2)[1])
        except (IndexError, ValueError):
            return 'error', 0, el
        return ('ok' if status == 200 else 'status'), status, el
    except socket.timeout:
        return 'timeout', 0, time.monotonic() - t0
    except OSError:
        return 'error', 0, time.monotonic() - t0
    finally:
        if s is not None:
            try:
                s.close()
            except OSError:
                pass


def callback_body(task_id, url):
    """A success callback in kie.ai's shape (the page's example, and the
    tests' sample_body)."""
    return json.dumps({
        "code": 200, "msg": "Veo3.1 video generated successfully.",
        "data": {"taskId": task_id,
                 "info": {"resultUrls": [url], "originUrls": None, "resolution": "1080p"},
                 "fallbackFlag": False}}, separators=(',', ':')).encode()


# ---- watching the download directory ----

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


class Watch:
    """Per expected file: the inode versions (ino, ctime_ns, size) seen whole
    and right.  A version is hashed once it has been the same for two polls."""

    def __init__(self, files):
        self.files = files		# [(path, size, sha256)]
        self.prev = {}			# path -> key at the last poll
        self.hashed = {}		# key -> right?
        self.first = {}			# path -> ctime (s since epoch) first seen right
        self.current_ok = {}		# path -> ctime of the version there now, if right

    def poll(self):
        for path, size, want in self.files:
            try:
                st = os.stat(path)
            except OSError:
                self.prev.pop(path, None)
                self.current_ok.pop(path, None)
                continue
            key = (path, st.st_ino, st.st_ctime_ns, st.st_size)
            if st.st_size != size:
                self.current_ok.pop(path, None)
            elif key in self.hashed:
                pass
            elif self.prev.get(path) == key:
                try:
                    right = sha256_file(path) == want
                    st2 = os.stat(path)
                    if (path, st2.st_ino, st2.st_ctime_ns, st2.st_size) == key:
                        self.hashed[key] = right
                except OSError:
                    pass
            self.prev[path] = key
            if self.hashed.get(key):
                self.current_ok[path] = st.st_ctime_ns / 1e9
                self.first.setdefault(path, st.st_ctime_ns / 1e9)
            else:
                self.current_ok.pop(path, None)

    def all_right(self):
        return len(self.current_ok) == len(self.files)


def established(port):
    """TCP connections established to local port (the file server)."""
    n = 0
    for f in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(f) as fh:
                next(fh)
                for line in fh:
                    p = line.split()
                    if p[3] == '01' and int(p[1].rsplit(':', 1)[1], 16) == port:
                        n += 1
        except OSError:
            pass
    return n


def pct(values, p):
    """Nearest-rank percentile."""
    v = sorted(values)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


def cmd_send(a):
    sums = {}
    with open(a.sums) as fh:
        for line in fh:
            h, name = line.split()
            sums[os.path.basename(name.lstrip('*'))] = h
    names = sorted(sums, key=lambda s: (len(s), s))[:a.n]
    if len(names) < a.n:
        sys.exit("delivery.py: only %d files in %s" % (len(names), a.sums))
    ctx = ssl.create_default_context(cafile=a.cafile) if a.cafile else ssl.create_default_context()
    jobs = []
    for i, name in enumerate(names):
        task = '%s_%d' % (a.tasks, i + 1)
        path = a.expect.replace('{task}', task)
        jobs.append((task, name, a.file_url_base.rstrip('/') + '/' + name, path))
    watch = Watch([(p, os.path.getsize(os.path.join(a.files, n)), sums[n]) for _, n, _, p in jobs])

    attempts = [[] for _ in jobs]	# per callback: (start, outcome, status, seconds)
    barrier = threading.Barrier(len(jobs) + 1)
    t0 = [0.0, 0.0]			# monotonic, wall

    def sender(k):
        task, _, url, _ = jobs[k]
        body = callback_body(task, url)
        barrier.wait()
        for n in range(1 + a.retries):
            start = time.monotonic() - t0[0]
            outcome, status, secs = post_once(a.url, body, ctx, a.connect, a.timeout)
            attempts[k].append((start, outcome, status, secs))
            if outcome == 'ok':
                return
            if n < a.retries:
                time.sleep(a.retry_delay)

    threads = [threading.Thread(target=sender, args=(k,), daemon=True) for k in range(len(jobs))]
    for t in threads:
        t.start()
    t0[0], t0[1] = time.monotonic(), time.time()
    barrier.wait()
    end = t0[0] + a.max_wait
    quiet = 0
    while time.monotonic() < end:
        time.sleep(0.2)
        watch.poll()
        if any(t.is_alive() for t in threads) or not watch.all_right():
            quiet = 0
            continue
        quiet = quiet + 1 if established(a.fport) == 0 else 0
        if quiet >= 3:
            break
    done_at = time.monotonic() - t0[0]
    for t in threads:
        t.join(timeout=max(0.0, end - time.monotonic()) + 1)
    watch.poll()

    per_file = {}
    prefix = a.uri_prefix
    whole = os.path.getsize(os.path.join(a.files, names[0]))
    whole_s = []			# $request_time of whole-file fetches
    try:
        with open(a.access_log) as fh:
            for line in fh:
                p = line.split()
                if len(p) >= 3 and p[0].startswith(prefix):
                    f = per_file.setdefault(p[0][len(prefix):], [0, 0])
                    f[0] += int(p[2])
                    f[1] += 1
                    if p[1] == '200' and len(p) >= 4 and int(p[2]) >= whole:
                        whole_s.append(float(p[3]))
    except OSError:
        pass
    size = os.path.getsize(os.path.join(a.files, names[0]))
    fetched = [per_file.get(n, [0, 0]) for n in names]
    server_ms = []
    if a.site_log:
        try:
            with open(a.site_log) as fh:
                for line in fh:
                    if '"POST ' in line:
                        server_ms.append(float(line.split()[-1]) * 1000)
        except (OSError, ValueError):
            pass

    first = [x[0] for x in attempts if x]
    res = {
        'name': a.name, 'label': a.label, 'rate_k': a.rate_k, 'n': len(jobs), 'file_bytes': size,
        'timeout': a.timeout, 'retries': a.retries, 'retry_delay': a.retry_delay,
        'first_ms': [round(x[3] * 1000, 2) if x[1] != 'timeout' else None for x in first],
        'first_ok': sum(1 for x in first if x[1] == 'ok'),
        'attempts': sum(len(x) for x in attempts),
        'timeouts': sum(1 for x in attempts for y in x if y[1] == 'timeout'),
        'errors': sum(1 for x in attempts for y in x if y[1] in ('error', 'status')),
        'callbacks_timed_out': sum(1 for x in attempts if any(y[1] == 'timeout' for y in x)),
        'lost': sum(1 for x in attempts if not any(y[1] == 'ok' for y in x)),
        'on_disk': len(watch.current_ok),
        'all_for_good': (max(watch.current_ok.values()) - t0[1]) if watch.all_right() else None,
        'all_first': (max(watch.first.values()) - t0[1]) if len(watch.first) == len(jobs) else None,
        'bytes_per_video': [f[0] for f in fetched],
        'requests_per_video': [f[1] for f in fetched],
        'waited': round(done_at, 1),
        'server_ms': server_ms,
        'whole_fetch_s': sorted(whole_s),
    }
    with open(a.out, 'a') as fh:
        fh.write(json.dumps(res) + '\n')
    ok = [v for v in res['first_ms'] if v is not None]
    print("  %s at %d KiB/s: %d/%d first tries answered 200, %d attempts, %d timed out; "
          "%d/%d videos whole after %.1f s" % (a.label, a.rate_k, res['first_ok'], len(jobs),
                                               res['attempts'], res['timeouts'], res['on_disk'],
                                               len(jobs), done_at), flush=True)
    return 0


# ---- the table ----

def fmt_ms(res, p):
    v = [x if x is not None else float('inf') for x in res['first_ms']]
    if not v:
        return '-'
    x = pct(v, p)
    return ('>%d' % (res['timeout'] * 1000)) if x == float('inf') else '%.1f' % x


def fmt_s(x):
    return '%.1f' % x if x is not None else 'never'


def cmd_table(a):
    rows = [json.loads(l) for l in open(a.results) if l.strip()]
    if not rows:
        print("no results")
        return 0
    print()
    print("%-10s %-26s %8s %8s %9s %5s %11s %8s %11s %6s" % (
        "per conn", "receiver", "ack p50", "ack p99", "timeouts", "lost", "on disk s", "first s",
        "MiB/video", "x size"))
    print("%-10s %-26s %8s %8s %9s %5s %11s %8s %11s %6s" % (
        "", "", "ms", "ms", "cb/att", "", "for good", "", "fetched", ""))
    for r in rows:
        b = r['bytes_per_video']
        mean = sum(b) / len(b) if b else 0
        print("%-10s %-26s %8s %8s %9s %5d %11s %8s %11s %6.2f" % (
            '%d KiB/s' % r['rate_k'], r['label'], fmt_ms(r, 50), fmt_ms(r, 99),
            '%d/%d' % (r['callbacks_timed_out'], r['timeouts']), r['lost'],
            fmt_s(r['all_for_good']), fmt_s(r['all_first']),
            '%.2f-%.2f' % (min(b) / 1048576, max(b) / 1048576) if b else '-',
            mean / r['file_bytes'] if r['file_bytes'] else 0))
    by = {(r['name'], r['rate_k']): r for r in rows}
    rates = sorted({r['rate_k'] for r in rows}, reverse=True)
    print()
    for r in rows:
        if r.get('server_ms'):
            print("%s at %d KiB/s: nginx's $request_time of the same callbacks: p50 %.0f ms, p99 %.0f ms "
                  "(the rest of an ack is TCP and TLS set-up, and the sender)"
                  % (r['label'], r['rate_k'], pct(r['server_ms'], 50), pct(r['server_ms'], 99)))
    for k in rates:
        w = [x for r in rows if r['rate_k'] == k for x in r.get('whole_fetch_s', [])]
        if w:
            print("file server at %d KiB/s: one whole %.0f MiB fetch took %.1f s (median of %d; nginx's limit_rate "
                  "lets the first second's worth through at once)"
                  % (k, rows[0]['file_bytes'] / 1048576, pct(w, 50), len(w)))
    for k in rates:
        v, f = by.get(('veo', k)), by.get(('flask', k))
        if v and f and v['all_for_good'] and f['all_for_good']:
            print("ratio at %d KiB/s: every video on disk, veo-callback / Flask sample: %.2f (below 1: veo-callback sooner)"
                  % (k, v['all_for_good'] / f['all_for_good']))
    print()
    conns = a.connections
    for k in rates:
        v, f = by.get(('veo', k)), by.get(('flask', k))
        if not v:
            continue
        total = v['n'] * v['file_bytes']
        if k == a.formula_rate:
            ideal = total / (conns * k * 1024)
            limit = 1.25 * ideal + 1
            t = v['all_for_good']
            print("target: at %d KiB/s every video on disk within 1.25 x %d MiB / (%d connections x %d KiB/s)"
                  " + 1 s = %.1f s: %s (%s s)" % (k, total >> 20, conns, k, limit,
                                                  'met' if t is not None and t <= limit else 'NOT met', fmt_s(t)))
        elif f:
            t, tf = v['all_for_good'], f['all_for_good']
            met = t is not None and (tf is None or t < tf)
            print("target: at %d KiB/s every video on disk sooner than the Flask sample: %s (%s s vs %s s)"
                  % (k, 'met' if met else 'NOT met', fmt_s(t), fmt_s(tf)))
    p99 = [(k, by[('veo', k)]) for k in rates if ('veo', k) in by]
    if p99:
        vals = []
        met = True
        for k, r in p99:
            s = fmt_ms(r, 99)
            vals.append('%s ms at %d KiB/s' % (s, k))
            met = met and not s.startswith('>') and float(s) < 50
        print("target: veo-callback first-try ack p99 under 50 ms while downloads run: %s (%s)"
              % ('met' if met else 'NOT met', ', '.join(vals)))
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('send')
    s.add_argument('--name', required=True)
    s.add_argument('--label', required=True)
    s.add_argument('--url', required=True)
    s.add_argument('--connect', default=None, help='address to connect to instead of the URL host')
    s.add_argument('--cafile', default=None)
    s.add_argument('--tasks', required=True, help='taskId prefix')
    s.add_argument('--files', required=True, help='directory of the served files')
    s.add_argument('--sums', required=True, help='sha256sum output for them')
    s.add_argument('--file-url-base', required=True)
    s.add_argument('--expect', required=True, help='downloaded path, {task} for the taskId')
    s.add_argument('--n', type=int, default=40)
    s.add_argument('--timeout', type=float, default=15)
    s.add_argument('--retries', type=int, default=3)
    s.add_argument('--retry-delay', type=float, default=5)
    s.add_argument('--access-log', required=True)
    s.add_argument('--uri-prefix', required=True)
    s.add_argument('--fport', type=int, required=True)
    s.add_argument('--rate-k', type=int, required=True)
    s.add_argument('--site-log', default=None,
                   help="the receiver's nginx access log, \$request_time last (the shipped log_format)")
    s.add_argument('--max-wait', type=float, default=300)
    s.add_argument('--out', required=True)
    t = sub.add_parser('table')
    t.add_argument('results')
    t.add_argument('--connections', type=int, required=True)
    t.add_argument('--formula-rate', type=int, required=True)
    a = ap.parse_args()
    return cmd_send(a) if a.cmd == 'send' else cmd_table(a)


if __name__ == '__main__':
    sys.exit(main())
