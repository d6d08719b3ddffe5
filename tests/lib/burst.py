#!/usr/bin/env python3
"""Posts a burst of distinct callbacks and records what each one got.

usage: burst.py URL RESULTS --bodies DIR [--prefix P] [--start N] [--count N]
                [--threads K] [--pad MIN-MAX] [--seed S]

Each request is a valid success callback for taskId PREFIX%05d, padded with
a pseudo-random promptJson of MIN..MAX bytes so that entries differ in size.
The exact bytes sent are saved first as DIR/<taskId>.  RESULTS gets one
line per finished request, appended as it finishes (so its line count is
the progress):  "<taskId> <status> <retry-after or -> [transport error]".
Status 0 means no HTTP reply came (reset, refused, timeout).  One fresh
connection per request, and never a retry: what the client saw is recorded.
"""
import argparse
import http.client
import json
import os
import random
import threading
import urllib.parse


def make_body(task_id, pad, rnd):
    prompt = bytes(97 + b % 26 for b in rnd.randbytes(pad)).decode()
    doc = {"code": 200, "msg": "Veo3.1 video generated successfully.",
           "data": {"taskId": task_id,
                    "info": {"resultUrls": ["https://cdn.example.com/%s.mp4" % task_id],
                             "originUrls": None, "resolution": "1080p"},
                    "fallbackFlag": False, "promptJson": prompt}}
    return json.dumps(doc, separators=(',', ':')).encode()


def post(url, body, timeout):
    u = urllib.parse.urlsplit(url)
    path = u.path + ('?' + u.query if u.query else '')
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request('POST', path, body=body,
                     headers={'Content-Type': 'application/json', 'Connection': 'close'})
        r = conn.getresponse()
        r.read()
        return r.status, r.getheader('Retry-After') or '-', ''
    except Exception as e:  # what the sender would see: no reply
        return 0, '-', type(e).__name__
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('url')
    ap.add_argument('results')
    ap.add_argument('--bodies', required=True)
    ap.add_argument('--prefix', default='burst_')
    ap.add_argument('--start', type=int, default=0)
    ap.add_argument('--count', type=int, default=100)
    ap.add_argument('--threads', type=int, default=8)
    ap.add_argument('--pad', default='0-0')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--timeout', type=float, default=20)
    a = ap.parse_args()
    lo, hi = (int(x) for x in a.pad.split('-'))
    rnd = random.Random(a.seed)
    os.makedirs(a.bodies, exist_ok=True)
    jobs = []
    for i in range(a.start, a.start + a.count):
        tid = '%s%05d' % (a.prefix, i)
        body = make_body(tid, rnd.randint(lo, hi), rnd)
        with open(os.path.join(a.bodies, tid), 'wb') as f:
            f.write(body)
        jobs.append((tid, body))
    lock = threading.Lock()
    out = open(a.results, 'a')

    def worker():
        while True:
            with lock:
                if not jobs:
                    return
                tid, body = jobs.pop(0)
            status, retry, err = post(a.url, body, a.timeout)
            with lock:
                out.write('%s %d %s%s\n' % (tid, status, retry, ' ' + err if err else ''))
                out.flush()

    threads = [threading.Thread(target=worker) for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.close()


if __name__ == '__main__':
    main()
