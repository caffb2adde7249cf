#!/usr/bin/env python3
"""Check that manymodels' layers only look down and form no circle.

Layers, bottom up: core < models < libmm < services < tools; bench may use
every layer but tools (a benchmark of a service links its library). Two views of the same rule:

  includes SRC_DIR    every `#include "..."` in common/, services/, tools/ and
                      bench/ resolves to a file of a known layer; no file
                      includes a header of a layer it may not use; no service
                      includes another service's header; no include circle.
  objects BUILD_DIR   after a build: `nm` of the static libraries (mm_core,
                      mm_models, mm, mm_<service>_lib) gives a graph object ->
                      object (an undefined symbol of A defined in B). No
                      library references a library it may not use, libraries
                      form no circle, and the object files of mm_core,
                      mm_models and mm form no circle (Tarjan's SCC).
  self-test FIXTURE   run both checks on the small tree in FIXTURE (a tree with
                      known violations; its object files are compiled with
                      --cc and archived with --ar) and compare the report
                      with FIXTURE/expected.txt: proves the checks can fail.

Every failure names the files and, for object circles, the symbols that tie
each edge, so the reader knows which call to move. Exit status 0 means clean.
The tables below are the one place that says which file belongs to which layer.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

# ---- The layer table ---------------------------------------------------------

# Which layers a file of each layer may include or link against (its own included).
MAY_USE = {
    "core": {"core"},
    "models": {"core", "models"},
    "libmm": {"core", "models", "libmm"},
    "services": {"core", "models", "libmm", "services"},
    "tools": {"core", "models", "libmm", "services", "tools"},
    "bench": {"core", "models", "libmm", "services", "bench"},
}

# Source directories (relative to the source root) and their layers. A file
# under services/<name>/ belongs to the unit "services/<name>"; services may
# not use each other.
DIR_LAYERS = [
    ("common/core/", "core"),
    ("common/models/", "models"),
    ("common/src/", "libmm"),
    ("services/", "services"),
    ("tools/", "tools"),
    ("bench/", "bench"),
]

# Public headers live together in common/include/mm/, one per module. The
# ones below libmm are named here; every other header there is libmm's.
PUBLIC_HEADER_DIR = "common/include/"
PUBLIC_HEADER_LAYERS = {
    "mm/err.h": "core",
    "mm/buf.h": "core",
    "mm/clock.h": "core",
    "mm/model.h": "models",
}
PUBLIC_HEADER_DEFAULT_LAYER = "libmm"

# Where a quoted include is looked up after the including file's directory
# (the include directories the CMake targets export).
INCLUDE_DIRS = ["common/include", "common/models"]  # + every services/<name>/

# Static libraries (CMake target names) and their layers; mm_<name>_lib is
# the testable part of services/<name>.
LIBRARY_LAYERS = {"mm_core": "core", "mm_models": "models", "mm": "libmm"}
SERVICE_LIBRARY = re.compile(r"^mm_(\w+)_lib$")
REQUIRED_LIBRARIES = ["mm_core", "mm_models", "mm"]

# Libraries whose object files must not call each other in a circle.
OBJECT_CIRCLE_CHECKED = ["mm_core", "mm_models", "mm"]

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCE_SUFFIXES = (".c", ".h")

# ---- Graph helpers -----------------------------------------------------------


def strongly_connected(nodes, edges):
    """Tarjan's algorithm; @returns the components with more than one node or
    a self-edge, each sorted, in a stable order."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(root):
        # Iterative, so deep include chains cannot hit Python's recursion limit.
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for succ in it:
                if succ not in index:
                    index[succ] = low[succ] = counter[0]
                    counter[0] += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(edges.get(succ, ())))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                if len(comp) > 1 or node in edges.get(node, ()):
                    out.append(sorted(comp))

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return sorted(out)


def one_circle(component, edges):
    """@returns one closed walk through @p component starting at its first
    node (shortest path back to the start), for the report."""
    members = set(component)
    start = component[0]
    prev = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for succ in sorted(edges.get(node, ())):
            if succ == start:
                path = [node]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if succ in members and succ not in prev:
                prev[succ] = node
                queue.append(succ)
    return [start, start]


# ---- Include level -----------------------------------------------------------


def layer_of_path(rel):
    """@returns (layer, unit) of a file given relative to the source root, or
    (None, None) when no table entry claims it."""
    if rel.startswith(PUBLIC_HEADER_DIR):
        name = rel[len(PUBLIC_HEADER_DIR) :]
        return PUBLIC_HEADER_LAYERS.get(name, PUBLIC_HEADER_DEFAULT_LAYER), None
    for prefix, layer in DIR_LAYERS:
        if rel.startswith(prefix):
            if layer == "services":
                parts = rel.split("/")
                return layer, "services/" + parts[1] if len(parts) > 2 else None
            return layer, None
    return None, None


def source_files(root):
    roots = [PUBLIC_HEADER_DIR] + [prefix for prefix, _ in DIR_LAYERS]
    files = []
    for top in roots:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(SOURCE_SUFFIXES):
                    full = os.path.join(dirpath, name)
                    files.append(os.path.relpath(full, root).replace(os.sep, "/"))
    return sorted(set(files))


def resolve_include(root, including, target, service_dirs):
    candidates = [os.path.dirname(including)] + INCLUDE_DIRS + service_dirs
    for base in candidates:
        rel = os.path.normpath(os.path.join(base, target)).replace(os.sep, "/")
        if os.path.isfile(os.path.join(root, rel)):
            return rel
    return None


def check_includes(root):
    """@returns the list of violations (strings) of the include rules."""
    problems = []
    services = os.path.join(root, "services")
    service_dirs = []
    if os.path.isdir(services):
        service_dirs = sorted(
            "services/" + d
            for d in os.listdir(services)
            if os.path.isdir(os.path.join(services, d))
        )
    header_edges = {}
    for rel in source_files(root):
        layer, unit = layer_of_path(rel)
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        for lineno, line in enumerate(lines, 1):
            m = INCLUDE_RE.match(line)
            if not m:
                continue
            where = "%s:%d" % (rel, lineno)
            target = resolve_include(root, rel, m.group(1), service_dirs)
            if target is None:
                problems.append(
                    '%s: "%s" resolves to no file of a known layer' % (where, m.group(1))
                )
                continue
            t_layer, t_unit = layer_of_path(target)
            if t_layer is None:
                problems.append('%s: "%s" (%s) belongs to no layer' % (where, m.group(1), target))
                continue
            if t_layer not in MAY_USE[layer]:
                problems.append(
                    "%s: %s layer includes %s (%s layer): upward" % (where, layer, target, t_layer)
                )
            elif layer == "services" and t_unit and unit and t_unit != unit:
                problems.append(
                    "%s: %s includes %s of another service" % (where, unit, target)
                )
            if rel.endswith(".h"):
                header_edges.setdefault(rel, set()).add(target)
    nodes = set(header_edges) | {t for ts in header_edges.values() for t in ts}
    for comp in strongly_connected(nodes, header_edges):
        problems.append("include circle: " + " -> ".join(one_circle(comp, header_edges)))
    return problems


# ---- Object level ------------------------------------------------------------


def library_layer(name):
    if name in LIBRARY_LAYERS:
        return LIBRARY_LAYERS[name], None
    m = SERVICE_LIBRARY.match(name)
    if m:
        return "services", "services/" + m.group(1)
    return None, None


def find_libraries(build_dir):
    """@returns {target name: archive path} for the libraries of the table."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(build_dir):
        dirnames.sort()
        for fname in sorted(filenames):
            if not (fname.startswith("lib") and fname.endswith(".a")):
                continue
            name = fname[3:-2]
            if library_layer(name)[0] is None:
                continue
            if name in found:
                raise SystemExit("check-layers: %s found twice under %s" % (fname, build_dir))
            found[name] = os.path.join(dirpath, fname)
    return found


NM_LINE = re.compile(r"^(.*)\[([^\]]+)\]: (\S+) (\S)")


def read_symbols(nm, lib, path):
    """@returns {object name: (defined globals, undefined)} of one archive."""
    out = subprocess.run([nm, "-A", "-P", path], capture_output=True, text=True, check=True)
    objects = {}
    for line in out.stdout.splitlines():
        m = NM_LINE.match(line)
        if not m:
            continue
        obj = re.sub(r"\.o(bj)?$", "", m.group(2))
        defined, undefined = objects.setdefault((lib, obj), (set(), set()))
        sym, kind = m.group(3), m.group(4)
        if kind == "U":
            undefined.add(sym)
        elif kind.isupper():
            defined.add(sym)
    return objects


def check_objects(libraries, nm):
    """@returns the list of violations and the notes for the libraries in
    {target name: archive path}."""
    problems, notes = [], []
    missing = [name for name in REQUIRED_LIBRARIES if name not in libraries]
    if missing:
        return ["libraries not found (build first): " + ", ".join(missing)], notes
    objects = {}
    for name in sorted(libraries):
        objects.update(read_symbols(nm, name, libraries[name]))
    definers = {}
    for node, (defined, _) in objects.items():
        for sym in defined:
            definers.setdefault(sym, set()).add(node)
    edges, why = {}, {}
    for node, (_, undefined) in objects.items():
        for sym in undefined:
            for target in definers.get(sym, ()):
                if target != node:
                    edges.setdefault(node, set()).add(target)
                    why.setdefault((node, target), set()).add(sym)

    def node_name(node):
        return "%s:%s" % node

    def edge_lines(comp, graph, reasons, label):
        """Every edge inside a circle with the symbols that make it."""
        lines = []
        for a in comp:
            for b in sorted(graph.get(a, ())):
                if b in comp:
                    syms = ", ".join(sorted(reasons[(a, b)]))
                    lines.append("    %s -> %s: %s" % (label(a), label(b), syms))
        return lines

    # Library level: who uses whom, and through which symbols.
    lib_edges, lib_why = {}, {}
    for (a, b), syms in why.items():
        if a[0] != b[0]:
            lib_edges.setdefault(a[0], set()).add(b[0])
            lib_why.setdefault((a[0], b[0]), set()).update(
                "%s (%s -> %s)" % (s, a[1], b[1]) for s in syms
            )
    for a in sorted(lib_edges):
        a_layer, a_unit = library_layer(a)
        for b in sorted(lib_edges[a]):
            b_layer, b_unit = library_layer(b)
            syms = ", ".join(sorted(lib_why[(a, b)]))
            if b_layer not in MAY_USE[a_layer]:
                problems.append(
                    "library %s (%s) uses %s (%s): upward: %s" % (a, a_layer, b, b_layer, syms)
                )
            elif a_unit and b_unit and a_unit != b_unit:
                problems.append("library %s uses %s of another service: %s" % (a, b, syms))

    for comp in strongly_connected(set(libraries), lib_edges):
        problems.append("library circle: " + " -> ".join(one_circle(comp, lib_edges)))
        problems.extend(edge_lines(comp, lib_edges, lib_why, str))

    # Object level, inside each checked library.
    inner = {
        a: {b for b in bs if b[0] == a[0] and a[0] in OBJECT_CIRCLE_CHECKED}
        for a, bs in edges.items()
    }
    for comp in strongly_connected(set(objects), inner):
        problems.append("object circle: " + " -> ".join(node_name(n) for n in one_circle(comp, inner)))
        problems.extend(edge_lines(comp, inner, why, node_name))
    return problems, notes


# ---- Self-test ---------------------------------------------------------------


def build_fixture_libraries(fixture, cc, ar, workdir):
    """Compile FIXTURE/objects/<library>/*.c into <workdir>/lib<library>.a."""
    src = os.path.join(fixture, "objects")
    for lib in sorted(os.listdir(src)):
        objs = []
        for fname in sorted(os.listdir(os.path.join(src, lib))):
            if not fname.endswith(".c"):
                continue
            obj = os.path.join(workdir, lib + "." + fname + ".o")
            subprocess.run([cc, "-c", "-o", obj, os.path.join(src, lib, fname)], check=True)
            # Name the member as CMake does (<file>.c.o) so reports match.
            member = os.path.join(workdir, lib, fname + ".o")
            os.makedirs(os.path.dirname(member), exist_ok=True)
            os.replace(obj, member)
            objs.append(member)
        subprocess.run([ar, "rcs", os.path.join(workdir, "lib%s.a" % lib)] + objs, check=True)


def report(kind, problems, notes):
    lines = ["%s: %s" % (kind, p) for p in problems] + ["%s: note: %s" % (kind, n) for n in notes]
    return lines


def self_test(fixture, cc, ar, nm):
    with tempfile.TemporaryDirectory() as workdir:
        build_fixture_libraries(fixture, cc, ar, workdir)
        obj_problems, obj_notes = check_objects(find_libraries(workdir), nm)
    inc_problems = check_includes(os.path.join(fixture, "tree"))
    actual = report("includes", inc_problems, []) + report("objects", obj_problems, obj_notes)
    with open(os.path.join(fixture, "expected.txt"), encoding="utf-8") as f:
        expected = [line for line in f.read().splitlines() if line and not line.startswith("#")]
    if not inc_problems or not obj_problems:
        print("self-test: the fixture's violations were not all found", file=sys.stderr)
    if actual != expected or not inc_problems or not obj_problems:
        print("self-test: report differs from %s/expected.txt" % fixture, file=sys.stderr)
        print("--- expected\n" + "\n".join(expected), file=sys.stderr)
        print("--- actual\n" + "\n".join(actual), file=sys.stderr)
        return 1
    print("self-test: the report matches expected.txt (%d lines)" % len(actual))
    return 0


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("mode", choices=["includes", "objects", "self-test"])
    ap.add_argument("dir", help="source root, build directory or fixture directory")
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("--ar", default="ar")
    args = ap.parse_args()
    if args.mode == "self-test":
        return self_test(args.dir, args.cc, args.ar, args.nm)
    if args.mode == "includes":
        problems, notes = check_includes(args.dir), []
    else:
        problems, notes = check_objects(find_libraries(args.dir), args.nm)
    for line in report(args.mode, problems, notes):
        print(line, file=sys.stderr if problems else sys.stdout)
    if problems:
        print(
            "%s: %d layer violation(s); layers only look down: core < models < libmm < "
            "services < tools (table in scripts/check-layers.py)" % (args.mode, len(problems)),
            file=sys.stderr,
        )
        return 1
    print("%s: layers look down, no circles" % args.mode)
    return 0


if __name__ == "__main__":
    sys.exit(main())
