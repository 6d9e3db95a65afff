#!/usr/bin/env python3
"""Fails when the docs name a file, function or type the code no longer has.

Reads README.md and docs/*.md, outside fenced code blocks, and checks every
`inline code` span that is a reference:

- a repository path (`services/store/src/group.rs`, `simulations/`): it
  exists;
- a bare Rust file name (`bridge.rs`): some file of that name exists;
- `Type::name`: the type is defined or implemented somewhere, and `name`
  is defined (a fn, const, enum variant, field...) in a file that defines
  or implements it; `module::name`: `name` is defined in that module's
  files; `meridian_crate::name`: in that crate;
- `snake_case_fn()`: a function of that name exists.

In the write walkthrough of docs/architecture.md (its numbered steps), each
function a step names (`snake_case` with an underscore) must be defined in
a file that step names (a bare file name stands for the file given in full
before), so a step cannot send a reader to the wrong file.

Usage: python3 .ci/doc-refs.py
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    p
    for p in sorted(ROOT.rglob("*"))
    if p.suffix in (".rs", ".proto")
    and "target" not in p.parts
    and ".git" not in p.parts
]
TEXT = {p: p.read_text() for p in SOURCES}
# Rust crate name (meridian_core) -> its directory.
CRATES = {}
for toml in ROOT.rglob("Cargo.toml"):
    if "target" in toml.parts:
        continue
    m = re.search(r'^name\s*=\s*"([^"]+)"', toml.read_text(), re.M)
    if m:
        CRATES[m.group(1).replace("-", "_")] = toml.parent

DEF = re.compile(
    r"\b(?:fn|struct|enum|trait|type|mod|const|static|macro_rules!|message|service|rpc)\s+(\w+)"
    # enum variants and struct fields: a name at the start of a line
    r"|^\s*(?:pub(?:\([\w:]+\))?\s+)?([A-Za-z_]\w*)\s*(?:[({,:=]|$)",
    re.M,
)
IMPL = re.compile(r"\bimpl(?:<[^>]*>)?\s+(?:[\w:<>, ]+\s+for\s+)?(\w+)")
DEFS, TYPES = {}, {}
for _p, _t in TEXT.items():
    for _m in DEF.finditer(_t):
        DEFS.setdefault(_m.group(1) or _m.group(2), set()).add(_p)
    for _m in re.finditer(r"\b(?:struct|enum|trait|type|mod)\s+(\w+)", _t):
        TYPES.setdefault(_m.group(1), set()).add(_p)
    for _m in IMPL.finditer(_t):
        TYPES.setdefault(_m.group(1), set()).add(_p)
# Names of other projects' code the docs mention (rusqlite, CloudFormation).
EXTERNAL = {"StatementCache", "AWS"}
# Directories the docs tell the reader to create.
MADE_BY_READER = {"regions/k8s/certs"}


def defined_in(name, files=None):
    """Files that define `name` (or hold it as an enum variant or field)."""
    found = DEFS.get(name, set())
    return sorted(found if files is None else found & set(files))


def has_type(name, files=None):
    found = TYPES.get(name, set())
    return sorted(found if files is None else found & set(files))


def module_files(name):
    """Files of the module `name`: name.rs, or every file under name/."""
    return [p for p in SOURCES if p.stem == name or name in p.parent.parts[-3:]]


def spans(text):
    """Inline code spans with their paragraph number, outside code fences."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    for n, para in enumerate(re.split(r"\n\s*\n", text)):
        for m in re.finditer(r"`([^`\n]+)`", para):
            yield n, para, m.group(1).strip()


PATH = re.compile(r"^(?:\./)?(?:services|simulations|tests|regions|proto|docs|\.ci|\.github)/[\w./*-]*$")
RUST_FILE = re.compile(r"^[\w-]+\.rs$")
QUALIFIED = re.compile(r"^([A-Za-z_]\w*)(?:::[A-Za-z_]\w*)+(?:\(\))?$")
CALL = re.compile(r"^([a-z_][a-z0-9_]*_[a-z0-9_]*)\(\)$")


def check_path(ref):
    if ref.rstrip("/") in MADE_BY_READER:
        return True
    if "*" in ref:
        return any(ROOT.glob(ref))
    return (ROOT / ref.rstrip("/")).exists()


def check_qualified(ref):
    """None if `ref` is found, else why not."""
    parts = ref.removesuffix("()").split("::")
    head, last = parts[0], parts[-1]
    if head in CRATES:
        files = [p for p in SOURCES if CRATES[head] in p.parents]
        return None if defined_in(last, files) else f"{last} is not defined in {head}"
    if head in ("crate", "self", "super", "std", "tokio", "tonic", "rusqlite", "serde", "axum"):
        return None
    if head in EXTERNAL or len(head) == 1:
        return None
    if head[0].isupper():
        homes = has_type(head)
        if not homes:
            return f"no type {head}"
        # A method may live in any file that implements the type.
        return None if defined_in(last, homes) else f"{head} has no {last}"
    homes = module_files(head)
    if not homes:
        return None  # an external crate or a field path: not ours to check
    return None if defined_in(last, homes) else f"module {head} has no {last}"


def walkthrough_steps(text):
    """The numbered steps of 'A write, step by step' in architecture.md."""
    m = re.search(r"^## A write, step by step\n(.*?)^## ", text, re.M | re.S)
    if not m:
        return []
    return re.split(r"\n(?=\d+\. \*\*)", m.group(1))


def check_steps(doc, text, problems):
    known = {}  # bare file name -> full path, as given earlier
    for step in walkthrough_steps(text):
        files = []
        for code in re.findall(r"`([^`\n]+)`", step):
            if PATH.match(code) and code.endswith(".rs"):
                known[code] = code
                files.append(ROOT / code)
            elif code.endswith(".rs"):
                # a bare name or a tail (`bridge/writer.rs`) of a full path
                # given before
                full = [k for k in known.values() if k == code or k.endswith("/" + code)]
                files.extend(ROOT / k for k in full)
        if not files:
            continue
        title = re.match(r"\s*(\d+\. \*\*[^*]+\*\*)", step)
        where = title.group(1) if title else step[:40]
        for code in re.findall(r"`([^`\n]+)`", step):
            name = code.removesuffix("()")
            if not (re.match(r"^[a-z_][a-z0-9_]*$", name) and "_" in name):
                continue
            fns = [p for p in SOURCES if re.search(r"\bfn\s+" + re.escape(name) + r"\b", TEXT[p])]
            if fns and not set(fns) & set(files):
                homes = ", ".join(str(p.relative_to(ROOT)) for p in fns)
                problems.append(f"{doc}: {where}: `{name}` is in {homes}, not in the files this step names")


def main():
    docs = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
    problems = []
    for doc in docs:
        rel = doc.relative_to(ROOT)
        text = doc.read_text()
        for _, _, code in spans(text):
            if " " in code:
                continue
            if PATH.match(code):
                if not check_path(code):
                    problems.append(f"{rel}: `{code}` does not exist")
            elif RUST_FILE.match(code):
                if not any(p.name == code for p in SOURCES):
                    problems.append(f"{rel}: no file named `{code}`")
            elif QUALIFIED.match(code):
                why = check_qualified(code)
                if why:
                    problems.append(f"{rel}: `{code}`: {why}")
            elif CALL.match(code):
                name = CALL.match(code).group(1)
                if not defined_in(name):
                    problems.append(f"{rel}: `{code}` is not defined anywhere")
        if doc.name == "architecture.md":
            check_steps(rel, text, problems)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} doc reference(s) the code no longer has", file=sys.stderr)
        sys.exit(1)
    print(f"every file and code reference in {len(docs)} docs exists")


if __name__ == "__main__":
    main()
