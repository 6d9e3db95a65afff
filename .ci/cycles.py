#!/usr/bin/env python3
"""Fails when the files of a crate import each other in a cycle.

Reads every crate's `src/` from its root (`lib.rs`, `main.rs`) down the
`mod x;` declarations, taking the code of each file before its inline
`#[cfg(test)]` module; a child declared under `#[cfg(test)]` is test code
and is left out. Every way a file names another file of its crate is an
edge from the file to the file that defines the name:

- a `use` tree, whatever its first segment: `crate::`, `super::`,
  `self::`, a child module (`use wire::Envelope`), or a name an earlier
  `use` brought in (`use crate::replication; use replication::decode::X`);
- an inline path with any of those first segments: `crate::Shared`,
  `super::Ctx`, `links::Links::new` inside the file that declares
  `mod links;`, `decode::batch(..)` after `use crate::replication::decode`.

A name a file re-exports (`pub use`, `pub(crate) use`, also `pub use x::*`)
is followed to where it is defined, so a facade module (`lib.rs`, `mod.rs`)
is not a hub of false cycles; a re-export is not an edge of its own (the
file's own code naming the re-exported name with a path is). Below the
crate root, a module and what it re-exports are one, as a reader of the
module sees them: a file outside `consistency/` naming
`consistency::Consistency`, defined in the private child
`consistency/set.rs`, names `consistency/mod.rs` too, so that file's own
code naming the first one back is a cycle. (The crate root is the crate
itself, which every file is below: naming its re-exports names only where
they are defined.)
Prints every cycle found, and exits 1 if there is one.

Usage: python3 .ci/cycles.py [crate dir...]   (default: every workspace member)
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# One alternative per token that hides code: comments, strings (raw ones
# with their hashes), char literals. Matched left to right, so a `"` inside
# a char literal or a `//` inside a string is not taken for more.
NOISE = re.compile(
    r"""//[^\n]*"""
    r"""|/\*.*?\*/"""
    r"""|(?<!\w)b?r(?P<h>\#*)".*?"(?P=h)"""
    r"""|b?"(?:\\.|[^"\\])*\""""
    r"""|b?'(?:\\u\{[0-9a-fA-F]+\}|\\.|[^'\\\n])'""",
    re.S,
)
TEST_MOD = re.compile(r"^[ \t]*#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", re.M)
MOD = re.compile(r"((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?\bmod\s+(\w+)\s*;")
USE = re.compile(r"(?<![\w:])(pub(?:\([\w:\s]+\))?\s+)?use\s+([^;]+);")
INLINE = re.compile(r"(?<![\w:.])(\w+(?:\s*::\s*\w+)+)")
ITEM = re.compile(
    r"\b(?:fn|struct|enum|union|const|static|type|trait|mod|macro_rules!)\s+(\w+)"
)


def members():
    text = (ROOT / "Cargo.toml").read_text()
    block = re.search(r"members\s*=\s*\[(.*?)\]", text, re.S).group(1)
    return [ROOT / m for m in re.findall(r'"([^"]+)"', block)]


def code_of(text):
    """The text before its inline test module, without comments or strings."""
    text = NOISE.sub(lambda m: '""' if m.group(0).lstrip("b").startswith(("r", '"')) else " ", text)
    cut = TEST_MOD.search(text)
    if cut:
        text = text[: cut.start()]
    return text


def expand(tree):
    """`a::{b, c::{d, e as f}, self}` -> [([a, b], b), ([a, c, d], d),
    ([a, c, e], f), ([a], a)]: each leaf path with the name it binds."""
    tree = re.sub(r"\s+", " ", tree.strip())
    tree = re.sub(r"\s*(::|[{},])\s*", r"\1", tree)
    out = []

    def split(t):
        depth, parts, cur = 0, [], ""
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
        return parts

    def walk(prefix, t):
        for p in split(t):
            if "{" in p:
                head, rest = p.split("{", 1)
                rest = rest[: rest.rfind("}")]
                walk(prefix + [s for s in head.split("::") if s], rest)
                continue
            alias = None
            renamed = re.fullmatch(r"(.*?) as (\w+)", p)
            if renamed:
                p, alias = renamed.groups()
            segs = [s for s in p.split("::") if s]
            if segs == ["self"]:
                segs = []
            path = prefix + segs
            if path:
                out.append((path, alias or path[-1]))

    walk([], tree)
    return out


class Crate:
    """One crate root (`lib.rs` or `main.rs`) and the files below it."""

    def __init__(self, root):
        self.src = root.parent
        self.files = {}  # module path -> file
        self.code = {}  # module path -> code before its test module
        self.children = {}  # module path -> names of its `mod x;` children
        self.load(root, ())
        self.reexports = {m: {} for m in self.files}  # name -> path it names
        self.globs = {m: [] for m in self.files}  # `pub use x::*` targets
        self.locals = {m: {} for m in self.files}  # every name a `use` binds
        self.defined = {
            m: set(ITEM.findall(USE.sub("", code))) for m, code in self.code.items()
        }
        self.uses = {m: [] for m in self.files}
        trees = {m: USE.findall(code) for m, code in self.code.items()}
        # Twice: the second pass reads the `use` trees that start with a
        # name another `use` brought in.
        for final in (False, True):
            for m, found in trees.items():
                for vis, tree in found:
                    for segs, alias in expand(tree):
                        path = self.absolute(m, segs)
                        if path is None:
                            continue
                        if alias == "*":
                            if vis and final:
                                self.globs[m].append(path[:-1])
                            elif final:
                                self.uses[m].append(path)
                            continue
                        if alias != "_":
                            self.locals[m][alias] = path
                        if not final:
                            continue
                        if vis:
                            self.reexports[m][alias] = path
                        else:
                            self.uses[m].append(path)
        for m, code in self.code.items():
            for p in INLINE.findall(USE.sub("", code)):
                path = self.absolute(m, re.sub(r"\s+", "", p).split("::"))
                if path is not None:
                    self.uses[m].append(path)

    def load(self, path, module):
        code = code_of(path.read_text())
        self.files[module] = path
        self.code[module] = code
        self.children[module] = set()
        if path.name in ("lib.rs", "main.rs", "mod.rs"):
            below = path.parent
        else:
            below = path.parent / path.stem
        for attrs, child in MOD.findall(code):
            if "cfg(test)" in re.sub(r"\s+", "", attrs):
                continue
            for f in (below / f"{child}.rs", below / child / "mod.rs"):
                if f.is_file():
                    self.children[module].add(child)
                    self.load(f, module + (child,))
                    break

    def absolute(self, here, segs):
        """The path from the crate root, or None for what is not this crate's."""
        segs = list(segs)
        if segs[0] in ("crate", "$crate"):
            return tuple(segs[1:])
        if segs[0] in ("self", "super"):
            base = list(here)
            while segs and segs[0] in ("self", "super"):
                if segs.pop(0) == "super":
                    base = base[:-1]
            return tuple(base + segs)
        # A bare path through a child module of this file.
        if segs[0] in self.children[here]:
            return tuple(here) + tuple(segs)
        # A bare path through a name a `use` of this file brought in.
        if segs[0] in self.locals[here]:
            return self.locals[here][segs[0]] + tuple(segs[1:])
        return None

    def resolve(self, path, seen=()):
        """The file that defines what `path` names."""
        for n in range(len(path), -1, -1):
            m = tuple(path[:n])
            if m not in self.files:
                continue
            rest = path[n:]
            if not rest or (m, rest[0]) in seen:
                return m
            seen = seen + ((m, rest[0]),)
            if rest[0] in self.reexports[m]:
                target = self.reexports[m][rest[0]] + tuple(rest[1:])
                return self.resolve(target, seen)
            if rest[0] not in self.defined[m]:
                for g in self.globs[m]:
                    t = self.resolve(g + tuple(rest), seen)
                    if t != m and rest[0] in self.defined.get(t, ()):
                        return t
            return m
        return ()

    def facades(self, path):
        """The modules below the crate root whose re-exports `path` goes
        through, each with the file it ends in when that file is the
        module's own or below it: from outside, a module and what it
        re-exports are one."""
        out = []
        for n in range(len(path), 0, -1):
            m = tuple(path[:n])
            if m not in self.files:
                continue
            rest = path[n:]
            if rest and rest[0] in self.reexports[m]:
                target = self.reexports[m][rest[0]] + tuple(rest[1:])
                out.append(m)
                out.extend(self.facades(target))
            break
        return out

    def edges(self):
        out = {m: set() for m in self.files}
        for m, paths in self.uses.items():
            for p in paths:
                t = self.resolve(p)
                if t != m and t in self.files:
                    out[m].add(t)
                # Naming a re-export of a module (not the crate root, which
                # every file is below) names that module too, as a reader
                # sees it, unless the name is used from inside the module.
                for f in self.facades(p):
                    if m[: len(f)] != f and t[: len(f)] == f:
                        out[m].add(f)
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
    f = crate.files[m]
    try:
        return str(f.relative_to(ROOT))
    except ValueError:
        return str(f)


def main():
    dirs = [Path(a).resolve() for a in sys.argv[1:]] or members()
    bad = 0
    for d in dirs:
        roots = [r for r in (d / "src" / "lib.rs", d / "src" / "main.rs") if r.is_file()]
        if not roots and sys.argv[1:]:
            print(f"no crate at {d} (no src/lib.rs or src/main.rs)", file=sys.stderr)
            sys.exit(2)
        for root in roots:
            crate = Crate(root)
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
