#!/usr/bin/env python3
"""Drives the responder with a mix of every kind of request and checks statuses.

usage: mixload.py URL COUNT TOKEN HMAC_KEY [SEED]

URL is the callback location (e.g. http://127.0.0.1:8080/callback); the
responder must run with token = TOKEN and hmac_key = HMAC_KEY.  Sends COUNT
requests over keep-alive connections, rotating through: new valid callbacks
(signed), identical repeats, changed bodies for a stored task, failure
callbacks, the 4K variant, malformed JSON, schema errors, invalid UTF-8,
deep nesting, a bad taskId, wrong Content-Type, over max_body (413),
missing token, bad and stale signatures (401), GET (405), GET ?health.
Prints "KIND EXPECTED sent=N wrong=M" per kind, then "total N wrong M";
exits 1 if any reply had an unexpected status.
"""
import base64
import hashlib
import hmac
import http.client
import json
import random
import sys
import time
import urllib.parse


def body(tid, code=200, extra=None, four_k=False):
    data = {"taskId": tid, "fallbackFlag": False}
    if four_k:
        data = {"task_id": tid, "info": {"resultUrls": '["https://cdn.example.com/%s-4k.mp4"]' % tid,
                                         "imageUrls": [], "resolution": "4k"}, "media_ids": ["m1"]}
    elif code == 200:
        data["info"] = {"resultUrls": ["https://cdn.example.com/%s.mp4" % tid],
                        "originUrls": None, "resolution": "1080p"}
    else:
        data["info"] = None
    if extra:
        data["promptJson"] = extra
    return json.dumps({"code": code, "msg": "Veo3.1 test message", "data": data},
                      separators=(',', ':')).encode()


def main():
    url, count, token, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].encode()
    rnd = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
    u = urllib.parse.urlsplit(url)
    conn = [None]
    stored = []
    serial = [0]

    def sign(tid, ts=None):
        ts = str(int(time.time()) if ts is None else ts)
        mac = hmac.new(key, ('%s.%s' % (tid, ts)).encode(), hashlib.sha256).digest()
        return {'X-Webhook-Timestamp': ts, 'X-Webhook-Signature': base64.b64encode(mac).decode()}

    def new_tid():
        serial[0] += 1
        return 'mix_%06d' % serial[0]

    def post_json(b, tid=None, q='?token=' + token, ctype='application/json', sig=True):
        h = {'Content-Type': ctype}
        if sig and tid:
            h.update(sign(tid))
        return 'POST', u.path + q, b, h

    def k_new():
        tid = new_tid()
        b = body(tid, extra='x' * rnd.randint(0, 3000))
        stored.append((tid, b))
        return post_json(b, tid)

    def k_repeat():
        if not stored:
            return k_new()
        tid, b = rnd.choice(stored)
        return post_json(b, tid)

    def k_changed():
        if not stored:
            return k_new()
        i = rnd.randrange(len(stored))
        tid = stored[i][0]
        b = body(tid, extra='changed %d' % rnd.randint(0, 1 << 30))
        stored[i] = (tid, b)
        return post_json(b, tid)

    def k_failure():
        tid = new_tid()
        return post_json(body(tid, code=rnd.choice([400, 422, 500, 501])), tid)

    def k_4k():
        tid = new_tid()
        return post_json(body(tid, four_k=True), tid)

    kinds = [
        ('new', 200, 6, k_new),
        ('repeat', 200, 3, k_repeat),
        ('changed', 200, 2, k_changed),
        ('failure', 200, 1, k_failure),
        ('4k', 200, 1, k_4k),
        ('malformed', 400, 2, lambda: post_json(b'{"code":200,"msg":"x","data":{"taskId":"a"', 'a')),
        ('schema', 400, 1, lambda: post_json(b'{"msg":"no code","data":{"taskId":"s1"}}', 's1')),
        ('not-object', 400, 1, lambda: post_json(b'[1,2,3]', 'x')),
        ('bad-utf8', 400, 1, lambda: post_json(
            b'{"code":501,"msg":"\xff\xfe","data":{"taskId":"u1","info":null}}', 'u1')),
        ('deep', 400, 1, lambda: post_json(
            b'{"code":501,"msg":"d","data":{"taskId":"d1","x":' + b'[' * 40 + b']' * 40 + b'}}', 'd1')),
        ('bad-taskid', 400, 1, lambda: post_json(body('../etc/passwd'), '../etc/passwd')),
        ('no-url', 400, 1, lambda: post_json(
            b'{"code":200,"msg":"m","data":{"taskId":"n1","info":{"resultUrls":[]}}}', 'n1')),
        ('content-type', 415, 1, lambda: post_json(body('ct1'), 'ct1', ctype='text/plain')),
        ('too-big', 413, 1, lambda: post_json(body('big1', extra='b' * 70000), 'big1')),
        ('no-token', 401, 1, lambda: post_json(body('t1'), 't1', q='')),
        ('bad-signature', 401, 1, lambda: ('POST', u.path + '?token=' + token, body('h1'),
                                           {'Content-Type': 'application/json',
                                            'X-Webhook-Timestamp': str(int(time.time())),
                                            'X-Webhook-Signature': 'AAAA'})),
        ('stale-signature', 401, 1, lambda: ('POST', u.path + '?token=' + token, body('h2'),
                                             dict({'Content-Type': 'application/json'},
                                                  **sign('h2', int(time.time()) - 3600)))),
        ('unsigned', 401, 1, lambda: post_json(body('h3'), 'h3', sig=False)),
        ('get', 405, 1, lambda: ('GET', u.path + '?token=' + token, None, {})),
        ('health', 200, 1, lambda: ('GET', u.path + '?health', None, {})),
    ]
    deck = [k for k in kinds for _ in range(k[2])]
    sent = {k[0]: 0 for k in kinds}
    wrong = {k[0]: 0 for k in kinds}
    for i in range(count):
        name, want, _, make = deck[i % len(deck)] if i < len(deck) else rnd.choice(deck)
        method, path, b, h = make()
        status = 0
        for attempt in range(2):
            try:
                if conn[0] is None:
                    conn[0] = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
                conn[0].request(method, path, body=b, headers=h)
                r = conn[0].getresponse()
                r.read()
                status = r.status
                if r.getheader('Connection', '').lower() == 'close':
                    conn[0].close()
                    conn[0] = None
                break
            except (http.client.HTTPException, OSError):
                conn[0].close()
                conn[0] = None
        sent[name] += 1
        if status != want:
            wrong[name] += 1
            if wrong[name] <= 3:
                print('# %s: expected %d, got %d' % (name, want, status))
    for name, want, _, _ in kinds:
        print('%s %d sent=%d wrong=%d' % (name, want, sent[name], wrong[name]))
    print('total %d wrong %d' % (sum(sent.values()), sum(wrong.values())))
    return 1 if sum(wrong.values()) else 0


if __name__ == '__main__':
    sys.exit(main())
