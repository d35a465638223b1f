#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks the shape of src/ and src/mpi/ (run by `make lint`):
- no include cycle between modules (a module is src/X.c with src/X.h);
- the child side (spawner, worker) never includes the master's pool.h;
- each header declares only functions its own .c defines (no catch-all header);
- the base library never includes mpi.h (only src/mpi/ does);
- every global symbol of the archives named is a public API function or starts with pp__.
Prints each violation and exits 1 if there is any."""
import os, re, subprocess, sys

errors = []
def listing(d):
    return sorted(f for f in os.listdir(d) if f.endswith((".c", ".h")))
src = "src"
files = listing(src)
for f in files:
    if re.search(r'^\s*#\s*include\s+<mpi\.h>', open(os.path.join(src, f)).read(), re.M):
        errors.append(f"{f} includes mpi.h (the base library has no MPI dependency)")
inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
mod = lambda f: os.path.splitext(f)[0]

decl = re.compile(r'^[A-Za-z_][\w \*]*?\b(pp__\w+)\s*\(', re.M)
def functions_of(h):
    text = open(os.path.join(src, h)).read()
    return [n for n in decl.findall(text) if not re.search(r'static\s+inline[^;{]*\b' + n + r'\s*\(', text)]

# A header that declares functions stands for its module (calls go there);
# one that declares only types and inline helpers (pool.h) is a node of its own.
node = lambda h: mod(h) if functions_of(h) else h
graph = {}
for f in files:
    text = open(os.path.join(src, f)).read()
    me = mod(f) if f.endswith(".c") else node(f)
    for h in inc.findall(text):
        if os.path.exists(os.path.join(src, h)) and node(h) != me:
            graph.setdefault(me, set()).add(node(h))

for child in ("spawner", "worker"):
    for ext in (".c", ".h"):
        path = os.path.join(src, child + ext)
        if os.path.exists(path) and "pool.h" in inc.findall(open(path).read()):
            errors.append(f"{child}{ext} includes pool.h (the child side must not see the master's state)")

state = {}
def visit(m, stack):
    state[m] = 1
    for n in sorted(graph.get(m, ())):
        if state.get(n) == 1:
            errors.append("include cycle: " + " -> ".join(stack[stack.index(n):] + [n]) if n in stack else n)
        elif n not in state:
            visit(n, stack + [n])
    state[m] = 2
for m in sorted(graph):
    if m not in state:
        visit(m, [m])

for d in (src, os.path.join(src, "mpi")):
    for h in (f for f in listing(d) if f.endswith(".h")):
        own_c = os.path.join(d, mod(h) + ".c")
        own = open(own_c).read() if os.path.exists(own_c) else ""
        text = open(os.path.join(d, h)).read()
        names = [n for n in decl.findall(text) if not re.search(r'static\s+inline[^;{]*\b' + n + r'\s*\(', text)]
        for name in names:
            if not re.search(r'^[^\n;]*\b' + name + r'\s*\([^;]*\)\s*\{', own, re.M):
                errors.append(f"{d}/{h} declares {name}, which {mod(h)}.c does not define")

api = set()
for header in ("include/procpool.h", "include/procpool_mpi.h"):
    api |= set(re.findall(r'\b(pp_[a-z_0-9]+)\s*\(', open(header).read()))
for lib in sys.argv[1:] or ["build/libprocpool.a"]:
    if not os.path.exists(lib):
        continue
    out = subprocess.run(["nm", "-g", "--defined-only", lib], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBRVW" + "tdbr":
            sym = parts[2]
            if not sym.startswith("pp__") and sym not in api:
                errors.append(f"{lib}: global symbol {sym} is neither public API nor pp__")

for e in errors:
    print("lint:", e)
print(f"lint: structure {'clean' if not errors else 'has %d problems' % len(errors)}")
sys.exit(1 if errors else 0)
