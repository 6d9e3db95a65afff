#!/usr/bin/env python3
"""Fails when the files of a crate import each other in a cycle.

Reads every crate's `src/` (the code before a file's `#[cfg(test)]` module),
turns each `use` tree and each inline `crate::`/`super::`/`self::` path into
an edge from the file to the file that defines what it names, and looks for
cycles among the files. A name a file re-exports (`pub use`, `pub(crate)
use`) is followed to where it is defined, so a facade module (`lib.rs`,
`mod.rs`) is not a hub of false cycles; its re-exports are not edges of its
own. Prints every cycle found, and exits 1 if there is one.

Usage: python3 .ci/cycles.py [crate dir...]   (default: every workspace member)
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def members():
    text = (ROOT / "Cargo.toml").read_text()
    block = re.search(r"members\s*=\s*\[(.*?)\]", text, re.S).group(1)
    return [ROOT / m for m in re.findall(r'"([^"]+)"', block)]


def code_of(path):
    """The file's text before its test module, without comments or strings."""
    text = path.read_text()
    cut = re.search(r"^\s*#\[cfg\(test\)\]\s*\n\s*(pub\s+)?mod\s+\w+", text, re.M)
    if cut:
        text = text[: cut.start()]
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    text = re.sub(r"'(?:\\.|[^'\\])'", "' '", text)
    return text


def module_of(src, path):
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts in (["lib"], ["main"]):
        return ()
    if parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def expand(tree):
    """`a::{b, c::{d, e as f}, self}` -> [[a, b], [a, c, d], [a, c, e], [a]]."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, t):
        depth, parts, cur = 0, [], ""
        # split on top-level commas
        for ch in t:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        for p in parts:
            if "{" in p:
                head, rest = p.split("{", 1)
                rest = rest[: rest.rfind("}")]
                walk(prefix + [s for s in head.split("::") if s], rest)
            else:
                segs = [s for s in p.split("::") if s]
                if segs == ["self"]:
                    out.append(prefix)
                elif segs:
                    out.append(prefix + segs)

    walk([], tree)
    return out


USE = re.compile(r"\b(pub(?:\([\w:]+\))?\s+)?use\s+([^;]+);")
INLINE = re.compile(r"(?<![\w:])((?:crate|super|self)(?:::\w+)+)")


class Crate:
    def __init__(self, dir):
        self.src = dir / "src"
        self.files = {}  # module path -> file
        for f in sorted(self.src.rglob("*.rs")):
            if "bin" in f.relative_to(self.src).parts[:-1]:
                continue
            self.files[module_of(self.src, f)] = f
        self.code = {m: code_of(f) for m, f in self.files.items()}
        self.reexports = {m: {} for m in self.files}
        self.uses = {m: [] for m in self.files}
        for m, code in self.code.items():
            for vis, tree in USE.findall(code):
                # the use tree without its own (first-level) renames
                for segs in expand(tree):
                    path = self.absolute(m, segs)
                    if path is None:
                        continue
                    if vis:
                        self.reexports[m][segs[-1]] = path
                    else:
                        self.uses[m].append(path)
            for p in INLINE.findall(USE.sub("", code)):
                path = self.absolute(m, p.split("::"))
                if path is not None:
                    self.uses[m].append(path)

    def absolute(self, here, segs):
        """The path from the crate root, or None for another crate's."""
        segs = list(segs)
        if segs[0] == "crate":
            return tuple(segs[1:])
        base = list(here)
        if segs[0] in ("self", "super"):
            while segs and segs[0] in ("self", "super"):
                if segs.pop(0) == "super":
                    base = base[:-1]
            return tuple(base + segs)
        # A bare path naming a child module of this one (uniform paths).
        if tuple(here + (segs[0],)) in self.files:
            return tuple(list(here) + segs)
        return None

    def resolve(self, path, seen=()):
        """The file that defines what `path` names."""
        for n in range(len(path), -1, -1):
            m = tuple(path[:n])
            if m in self.files:
                rest = path[n:]
                if rest and rest[0] in self.reexports[m] and (m, rest[0]) not in seen:
                    target = self.reexports[m][rest[0]] + tuple(rest[1:])
                    return self.resolve(target, seen + ((m, rest[0]),))
                return m
        return ()

    def edges(self):
        out = {m: set() for m in self.files}
        for m, paths in self.uses.items():
            for p in paths:
                t = self.resolve(p)
                if t != m and t in self.files:
                    out[m].add(t)
        return out


def cycles(edges):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
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
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def name(crate, m):
    return str(crate.files[m].relative_to(ROOT))


def main():
    dirs = [Path(a).resolve() for a in sys.argv[1:]] or members()
    bad = 0
    for d in dirs:
        if not (d / "src").is_dir():
            continue
        crate = Crate(d)
        edges = crate.edges()
        for comp in cycles(edges):
            bad += 1
            files = ", ".join(name(crate, m) for m in comp)
            print(f"cycle: {files}")
            for a in comp:
                for b in sorted(edges[a]):
                    if b in comp:
                        print(f"    {name(crate, a)} -> {name(crate, b)}")
    if bad:
        print(f"{bad} import cycle(s) between files", file=sys.stderr)
        sys.exit(1)
    print("no import cycle between files in any crate")


if __name__ == "__main__":
    main()
