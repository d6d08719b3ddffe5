#!/usr/bin/env python3
"""Checks spool entries against what was sent (see src/common/entry.h for the format).

usage:
  spoolcheck.py complete SPOOL BODIES   every file in SPOOL/new is a whole,
                                        valid entry whose body is BODIES/<name>
  spoolcheck.py acked SPOOL BODIES RESULTS
                                        every taskId that got 200 in RESULTS
                                        (burst.py format) has such an entry
  spoolcheck.py refused SPOOL RESULTS [ACKED]
                                        every 503 in RESULTS carried a
                                        Retry-After and has no entry in new/
                                        (taskIds listed in file ACKED, stored
                                        by an earlier 200, are exempt)

Prints one "# ..." line per problem and a last line "# checked N"; exits 1
when there was a problem.
"""
import hashlib
import os
import sys

MAGIC = b'VEO-CALLBACK-ENTRY 1'


def parse_entry(data):
    """Returns (headers, body) of a whole entry, or raises ValueError."""
    sep = data.find(b'\n\n')
    if sep < 0:
        raise ValueError('no end of header')
    lines = data[:sep].split(b'\n')
    if lines[0] != MAGIC:
        raise ValueError('bad magic %r' % lines[0][:40])
    hdr = {}
    for ln in lines[1:]:
        k, colon, v = ln.partition(b': ')
        if not colon:
            raise ValueError('bad header line %r' % ln[:60])
        hdr[k.decode()] = v.decode()
    body = data[sep + 2:]
    for k in ('task-id', 'body-length', 'body-sha256'):
        if k not in hdr:
            raise ValueError('no %s' % k)
    if int(hdr['body-length']) != len(body):
        raise ValueError('body-length %s but %d bytes follow' % (hdr['body-length'], len(body)))
    if hashlib.sha256(body).hexdigest() != hdr['body-sha256']:
        raise ValueError('body-sha256 does not match the body')
    return hdr, body


def check_entry(spool, bodies, tid):
    path = os.path.join(spool, 'new', tid)
    try:
        with open(path, 'rb') as f:
            hdr, body = parse_entry(f.read())
    except FileNotFoundError:
        return 'no entry'
    except ValueError as e:
        return 'damaged: %s' % e
    if hdr['task-id'] != tid:
        return 'task-id %r in entry %s' % (hdr['task-id'], tid)
    try:
        with open(os.path.join(bodies, tid), 'rb') as f:
            sent = f.read()
    except FileNotFoundError:
        return 'entry for a taskId never sent'
    if body != sent:
        return 'stored body differs from the one sent'
    return None


def results(path):
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                yield parts[0], int(parts[1]), parts[2]


def main(argv):
    mode, spool = argv[1], argv[2]
    bad, n = [], 0
    if mode == 'complete':
        for tid in sorted(os.listdir(os.path.join(spool, 'new'))):
            n += 1
            why = check_entry(spool, argv[3], tid)
            if why:
                bad.append('new/%s: %s' % (tid, why))
    elif mode == 'acked':
        for tid, status, _ in results(argv[4]):
            if status == 200:
                n += 1
                why = check_entry(spool, argv[3], tid)
                if why:
                    bad.append('%s got 200: %s' % (tid, why))
    elif mode == 'refused':
        exempt = set()
        if len(argv) > 4 and os.path.exists(argv[4]):
            exempt = set(open(argv[4]).read().split())
        for tid, status, retry in results(argv[3]):
            if status != 503:
                continue
            n += 1
            if not retry.isdigit() or int(retry) <= 0:
                bad.append('%s got 503 without a Retry-After (%s)' % (tid, retry))
            if tid not in exempt and os.path.exists(os.path.join(spool, 'new', tid)):
                bad.append('%s got 503 but new/%s exists' % (tid, tid))
    else:
        sys.exit('unknown mode ' + mode)
    for b in bad[:20]:
        print('# ' + b)
    if len(bad) > 20:
        print('# ... %d problems in all' % len(bad))
    print('# checked %d' % n)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
