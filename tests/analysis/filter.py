#!/usr/bin/env python3
"""Compares compiler-style warnings with a suppressions file.

usage: filter.py TOOL SUPPRESSIONS < tool-output

Reads the output of clang-tidy or gcc -fanalyzer, keeps each warning once
("FILE:LINE:COL: warning: MESSAGE [CHECK]"), and drops those that a line of
SUPPRESSIONS names:

    CHECK  FILE  "CODE"  # REASON

CHECK is the check or warning option ("clang-analyzer-core.CallAndMessage",
"-Wanalyzer-malloc-leak"), FILE the path from the top of the repository,
CODE a piece of the source line the warning points at, or of the warning's
message (\\" and \\\\ escape), and REASON is required.  Matching the code
rather than a line number keeps a suppression valid while the file changes
around it, and voids it when the line itself changes.

Prints every warning that is left, with the tool's notes, and a summary;
exits 1 when a warning is left or the tool reported an error, 0 otherwise.
Suppressions that matched nothing are listed (not an error: the code they
excused may have been fixed).
"""
import os
import re
import sys

WARN = re.compile(r'^(?P<file>[^:\s][^:]*):(?P<line>\d+):(?P<col>\d+): '
                  r'(?P<kind>warning|error): (?P<msg>.*?)(?: \[(?P<cwe>CWE-\d+)\])?'
                  r'(?: \[(?P<check>[^\]]+)\])?$')
SUPP = re.compile(r'^(?P<check>\S+)\s+(?P<file>\S+)\s+"(?P<code>(?:[^"\\]|\\.)*)"\s+#\s*(?P<reason>\S.*)$')


def load_suppressions(path):
    out = []
    with open(path, encoding='utf-8') as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith('#'):
                continue
            m = SUPP.match(line)
            if not m:
                sys.exit('%s:%d: not CHECK FILE "CODE" # REASON' % (path, n))
            code = re.sub(r'\\(.)', r'\1', m['code'])
            out.append({'check': m['check'], 'file': m['file'], 'code': code,
                        'where': '%s:%d' % (path, n), 'used': 0})
    return out


def source_line(root, file, line):
    try:
        with open(os.path.join(root, file), encoding='utf-8', errors='replace') as f:
            for n, text in enumerate(f, 1):
                if n == line:
                    return text
    except OSError:
        pass
    return ''


def main():
    tool, supp_path = sys.argv[1], sys.argv[2]
    root = os.getcwd()
    supps = load_suppressions(supp_path)
    seen, left, suppressed, errors = set(), [], 0, 0
    current = None
    for raw in sys.stdin:
        raw = raw.rstrip('\n')
        m = WARN.match(raw)
        if not m:
            if current is not None and raw.strip():
                current['notes'].append(raw)
            continue
        file = os.path.relpath(os.path.abspath(m['file']), root)
        if file.startswith('..'):
            current = None		# a system header's warning: not ours
            continue
        check = m['check'] or ''
        key = (file, m['line'], m['col'], check, m['msg'])
        if key in seen:
            current = None
            continue
        seen.add(key)
        if m['kind'] == 'error':
            errors += 1
        code = source_line(root, file, int(m['line']))
        names = [c for c in check.split(',') if c]
        hit = None
        for s in supps:
            if s['file'] == file and s['check'] in names and (s['code'] in code or
                                                               s['code'] in m['msg']):
                hit = s
                break
        if hit is not None and m['kind'] == 'warning':
            hit['used'] += 1
            suppressed += 1
            current = None
            continue
        current = {'text': '%s:%s:%s: %s: %s [%s]' % (file, m['line'], m['col'], m['kind'],
                                                      m['msg'], check),
                   'code': code.strip(), 'notes': []}
        left.append(current)
    for w in left:
        print(w['text'])
        print('    ' + w['code'])
        for n in w['notes'][:40]:
            print('    ' + n)
    unused = [s for s in supps if not s['used']]
    for s in unused:
        print('# %s: suppression matched nothing: %s %s "%s"' % (s['where'], s['check'],
                                                                s['file'], s['code']))
    print('# %s: %d finding(s), %d suppressed with a reason, %d left, %d error(s)'
          % (tool, len(seen), suppressed, len(left) - errors, errors))
    return 1 if left else 0


if __name__ == '__main__':
    sys.exit(main())
