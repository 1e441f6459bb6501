#!/usr/bin/env python3
"""Module dependency check for one crate's `src/` (used for cloudabi-emulator).

Usage: python3 xtask/modgraph.py CRATE/src [top]

Lists, per module, the modules it refers to (`crate::m`, `super::m`, `super::{a, b}`,
and a parent's `child::...` paths; test modules and comments are skipped), then sorts
them so that every module comes after what it uses. Exits 1 when there is a cycle.
With `top`, submodules are folded into their top-level module. A heuristic on the
source text, not a parser: it is meant to catch a new back edge, not to prove there
is none.
"""
import os, re, sys
root = sys.argv[1]
mods = {}
for dp, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith('.rs') or dp.endswith('/bin'):
            continue
        path = os.path.join(dp, f)
        rel = os.path.relpath(path, root)[:-3]
        name = rel.replace('/mod', '').replace('/', '::')
        if name == 'lib':
            name = 'crate'
        mods[name] = path
def strip_tests(src):
    i = src.find('#[cfg(test)]')
    return src if i < 0 else src[:i]
def top(m):  # crate-level module
    return m.split('::')[0]
level = sys.argv[2] if len(sys.argv) > 2 else 'all'
edges = {m: set() for m in mods}
for m, path in mods.items():
    src = strip_tests(open(path).read())
    # drop comments
    src = re.sub(r'//[^\n]*', '', src)
    parent = '::'.join(m.split('::')[:-1]) if '::' in m else 'crate'
    for kw, name in re.findall(r'\b(crate|super)::(?:\{)?\s*([A-Za-z_][A-Za-z0-9_]*)', src):
        if kw == 'crate':
            t = name
        else:
            t = (parent + '::' + name) if parent != 'crate' else name
        # a name of an item in the parent module (not a module): edge to the parent
        if t not in mods:
            t = parent if kw == 'super' else 'crate'
        if t != m:
            edges[m].add(t)
    # `use super::{a, b}` lists
    for grp in re.findall(r'\bsuper::\{([^}]*)\}', src):
        for name in re.findall(r'[a-z_][a-z0-9_]*', grp):
            t = parent + '::' + name if parent != 'crate' else name
            if t in mods and t != m:
                edges[m].add(t)
    for grp in re.findall(r'\bcrate::\{([^}]*)\}', src):
        for name in re.findall(r'\b([a-z_][a-z0-9_]*)\b', grp):
            if name in mods and name != m:
                edges[m].add(name)
# a module's uses of its own child modules (`child::item`, `use child::...`)
for m, path in mods.items():
    src = re.sub(r'//[^\n]*', '', strip_tests(open(path).read()))
    prefix = '' if m == 'crate' else m + '::'
    for c in mods:
        if c.startswith(prefix) and c != m and '::' not in c[len(prefix):]:
            child = c[len(prefix):]
            if re.search(r'(?<![A-Za-z0-9_:])' + child + r'::', src):
                edges[m].add(c)
# `crate` (lib.rs) only declares and re-exports modules: drop it as a target
for m in edges:
    edges[m].discard('crate')
if level == 'top':
    te = {}
    for m, ts in edges.items():
        te.setdefault(top(m), set())
        for t in ts:
            if top(t) != top(m):
                te[top(m)].add(top(t))
    edges = te
for m in sorted(edges):
    print(f'{m:24} -> {", ".join(sorted(edges[m])) or "-"}')
# Kahn
indeg = {m: 0 for m in edges}
for m, ts in edges.items():
    for t in ts:
        indeg.setdefault(t, 0)
order, left = [], dict(edges)
while left:
    ready = sorted(m for m in left if not (left[m] & set(left)))
    if not ready:
        print('CYCLE among:', ', '.join(sorted(left)))
        sys.exit(1)
    order += ready
    for m in ready:
        del left[m]
print('order (dependencies first):', ' < '.join(order))
