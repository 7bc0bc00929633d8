#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""No include cycle between the modules of daemon/ (sp-foo.c + sp-foo.h).

Module A depends on module B when sp-a.c or sp-a.h includes sp-b.h. Three
checks, as TAP: no pair of modules includes each other's header, no longer
cycle exists either (A -> B -> C -> A), and no file is over 700 lines. Usage:
check-include-cycles.py [DAEMON_DIR] (default: ../daemon next to this file).
"""

import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)\.h"', re.MULTILINE)


def modules(daemon_dir):
    """{module: set of modules whose header it includes} for daemon_dir."""
    names = sorted({os.path.splitext(f)[0] for f in os.listdir(daemon_dir)
                    if f.endswith(('.c', '.h'))})
    graph = {}
    for name in names:
        deps = set()
        for ext in ('.c', '.h'):
            path = os.path.join(daemon_dir, name + ext)
            if os.path.exists(path):
                with open(path, encoding='utf-8') as f:
                    deps.update(INCLUDE.findall(f.read()))
        graph[name] = {d for d in deps if d in names and d != name}
    return graph


def pairs(graph):
    return sorted((a, b) for a in graph for b in graph[a] if a < b and a in graph[b])


def cycle(graph):
    """One cycle as a list of modules, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {n: WHITE for n in graph}
    stack = []

    def visit(n):
        colour[n] = GREY
        stack.append(n)
        for d in sorted(graph[n]):
            if colour[d] == GREY:
                return stack[stack.index(d):] + [d]
            if colour[d] == WHITE:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        colour[n] = BLACK
        return None

    for n in sorted(graph):
        if colour[n] == WHITE:
            found = visit(n)
            if found:
                return found
    return None


MAX_LINES = 700


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    daemon_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, '..', 'daemon')
    graph = modules(daemon_dir)
    print('1..3')
    ok = True
    mutual = pairs(graph)
    if mutual or len(graph) < 2:
        ok = False
        for a, b in mutual:
            print(f'# {a} and {b} include each other\'s header')
        print('not ok 1 - no two daemon modules include each other')
    else:
        print(f'ok 1 - no two of the {len(graph)} daemon modules include each other')
    loop = cycle(graph)
    if loop:
        ok = False
        print('# include cycle: ' + ' -> '.join(loop))
        print('not ok 2 - no include cycle among the daemon modules')
    else:
        print('ok 2 - no include cycle among the daemon modules')
    # one part per file, each small enough to read (issue 12: none over 700)
    long_files = []
    for name in sorted(os.listdir(daemon_dir)):
        if name.endswith(('.c', '.h')):
            with open(os.path.join(daemon_dir, name)) as f:
                n = sum(1 for _ in f)
            if n > MAX_LINES:
                long_files.append((name, n))
    for name, n in long_files:
        print(f'# {name} has {n} lines')
    if long_files:
        ok = False
        print(f'not ok 3 - no daemon file over {MAX_LINES} lines')
    else:
        print(f'ok 3 - no daemon file over {MAX_LINES} lines')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
