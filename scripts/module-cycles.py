#!/usr/bin/env python3
"""Reports import cycles between the modules of snap-engine.

Reads every `.rs` file under engine/src, takes each `crate::…`, `super::…`
and `self::…` path in code (comments, doc comments and `#[cfg(test)]` test
modules are left out), resolves the crate root's `use` re-exports (the flat
paths such as `crate::backup` that stand for `crate::commands::backup`), and
builds two graphs:

- file modules (`commands::gc`, `source::scan`, `repo`, …);
- top-level modules (`commands`, `model`, `source`, `recovery`, …).

It prints every strongly connected component of more than one module in
either graph and exits 1 when there is one, 0 when there is none.

    python3 scripts/module-cycles.py [engine/src]
"""

import re
import sys
from pathlib import Path

SRC = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "engine/src")


def module_of(path: Path) -> tuple:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return tuple(parts)


def code_lines(text: str):
    """The file's lines of code, without comments and test modules."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if s.startswith("#[cfg(test)]") and i + 1 < len(lines) and re.match(r"\s*(pub(\(crate\))? )?mod \w+", lines[i + 1]):
            # Skip the test module: to its closing brace at the same indent,
            # or the one declaration line when it lives in its own file.
            if lines[i + 1].rstrip().endswith(";"):
                i += 2
                continue
            indent = len(lines[i + 1]) - len(lines[i + 1].lstrip())
            i += 2
            while i < len(lines) and not (lines[i].startswith(" " * indent + "}") and len(lines[i]) - len(lines[i].lstrip()) == indent):
                i += 1
            i += 1
            continue
        if not s.startswith("//"):
            yield line.split("//")[0] if "://" not in line else line
        i += 1


def main() -> int:
    files = {module_of(p): p for p in SRC.rglob("*.rs")}
    # Files that are test modules (`#[cfg(test)] mod x;`) are no dependency.
    for mod, path in list(files.items()):
        base = mod if path.name in ("mod.rs", "lib.rs") else mod[:-1]
        for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\(crate\))? )?mod (\w+);", path.read_text()):
            files.pop(base + (m.group(1),), None)
    modules = set(files)
    # Root aliases: `pub use commands::{backup, …};` and `use source::hint;`.
    aliases = {}
    root = files[()].read_text()
    for m in re.finditer(r"(?:pub(?:\(crate\))? )?use ([\w:]+)::\{([^}]*)\};", root):
        for name in re.split(r"\s*,\s*", m.group(2).strip()):
            if name:
                aliases[name] = tuple(m.group(1).split("::")) + (name,)
    for m in re.finditer(r"(?:pub(?:\(crate\))? )?use ([\w:]+)::(\w+);", root):
        aliases[m.group(2)] = tuple(m.group(1).split("::")) + (m.group(2),)

    def resolve(parts):
        """The longest known module a path names, or None."""
        if parts and parts[0] in aliases and aliases[parts[0]] in modules:
            parts = aliases[parts[0]] + tuple(parts[1:])
        best = None
        for n in range(1, len(parts) + 1):
            if tuple(parts[:n]) in modules:
                best = tuple(parts[:n])
        return best

    edges = {m: set() for m in modules if m}
    for mod, path in files.items():
        if not mod:
            continue
        base = mod if path.name == "mod.rs" else mod[:-1]
        text = "\n".join(code_lines(path.read_text()))
        # Expand `use crate::{a, b::c}` groups into paths.
        refs = []
        for m in re.finditer(r"\b(crate|super|self)((?:::\w+)+)(?:::\{([^}]*)\})?", text):
            head = [] if m.group(1) == "crate" else (list(base[:-1]) if m.group(1) == "super" else list(base))
            tail = [p for p in m.group(2).split("::") if p]
            if m.group(3):
                for item in m.group(3).split(","):
                    item = item.strip().split(" as ")[0]
                    refs.append(head + tail + [p for p in item.split("::") if p and p != "self"])
            refs.append(head + tail)
        for r in refs:
            target = resolve(r)
            if target and target != mod and target != ():
                edges[mod].add(target)

    def sccs(graph):
        index, low, stack, on, out = {}, {}, [], set(), []
        counter = [0]

        def visit(v):
            index[v] = low[v] = counter[0]
            counter[0] += 1
            stack.append(v)
            on.add(v)
            for w in graph.get(v, ()):
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))

        sys.setrecursionlimit(10000)
        for v in sorted(graph):
            if v not in index:
                visit(v)
        return out

    top = {}
    for a, targets in edges.items():
        for b in targets:
            if a[0] != b[0]:
                top.setdefault(a[0], set()).add(b[0])
    name = "::".join
    found = 0
    for title, graph, fmt in (("file modules", edges, name), ("top-level modules", top, str)):
        comps = sccs(graph)
        n_edges = sum(len(t) for t in graph.values())
        print(f"{title}: {len(graph)} modules, {n_edges} edges, {len(comps)} cycles")
        for comp in comps:
            members = set(comp)
            print("  cycle: " + ", ".join(fmt(c) for c in comp))
            for a in comp:
                for b in sorted(graph[a]):
                    if b in members:
                        print(f"    {fmt(a)} -> {fmt(b)}")
        found += len(comps)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
