#!/usr/bin/env python3
"""Fails when a function of the project's code runs past 100 lines, or past
70 without a comment saying why it is not split (docs/architecture.md,
*Keeping the shape*). A long function mixes steps a reader has to hold at
once; splitting it along its steps names them.

A function's lines run from its `fn` line to its closing brace. Counted:
every `fn` with a body in a file under a `src/` directory (a test
library's `tests/src/` too), outside inline `#[cfg(test)]` modules and
`#[test]` functions. Test binaries (a crate's `tests/*.rs`, with no `src/`
in their path) are not counted.

Over 70 lines a function needs, in the comments or attributes right above
its `fn` line, one saying "not split" or "cannot be split" and why. The
functions that were over 70 lines when this rule came are listed in
`.ci/long-functions.txt` (`path name`, once for each function of that
name in the file) and need none; an entry without a function of its name
over 70 lines left to cover fails the check until it is taken off, so the
list only shrinks.

Usage: python3 .ci/long-functions.py [ROOT]
"""

import re
import subprocess
from collections import Counter
import sys
from pathlib import Path

HARD = 100
SOFT = 70
WHY = re.compile(r"(not|cannot be) split", re.I)
TEST_ATTR = re.compile(r"#\[(\w+::)?test\b|#\[test_case|#\[rstest")


def blank(text):
    """`text` with comments, strings and char literals turned to spaces,
    newlines kept, so braces inside them are not counted and offsets
    still give line numbers."""
    out = list(text)
    i, n = 0, len(text)

    def clear(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            clear(i, j)
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            clear(i, j)
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_") and text[i - 1] != "b"):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            j = n if end < 0 else end + 1 + len(hashes)
            clear(i, j)
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            clear(i, j + 1)
            i = j + 1
        elif c == "'":
            if text.startswith("'\\", i):
                j = text.find("'", i + 2)
                clear(i, j + 1)
                i = j + 1
            elif i + 2 < n and text[i + 2] == "'":
                clear(i, i + 3)
                i += 3
            else:
                i += 1  # a lifetime
        else:
            i += 1
    return "".join(out)


def close(code, start):
    """The offset of the brace closing the one at `start`."""
    depth = 0
    for k in range(start, len(code)):
        if code[k] == "{":
            depth += 1
        elif code[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(code) - 1


def above(lines, at):
    """The comment and attribute lines right above line index `at`."""
    got = []
    k = at - 1
    while k >= 0:
        s = lines[k].strip()
        if s.startswith(("//", "#[", "#!", "*", "/*")) or (got and s.endswith(")]")):
            got.append(s)
            k -= 1
        else:
            break
    return got


def functions(path):
    """(name, first line, lines) of each counted function of one file."""
    text = path.read_text()
    code = blank(text)
    lines = text.split("\n")
    line_of = lambda off: code.count("\n", 0, off)
    skip = []
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", code):
        skip.append((m.start(), close(code, m.end() - 1)))
    found = []
    for m in re.finditer(r"\bfn\s+(\w+)", code):
        if any(a <= m.start() <= b for a, b in skip):
            continue
        depth, k = 0, m.end()
        while k < len(code):
            ch = code[k]
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
            elif depth == 0 and ch in "{;":
                break
            k += 1
        if k >= len(code) or code[k] == ";":
            continue
        first = line_of(m.start())
        if any(TEST_ATTR.search(s) for s in above(lines, first) if s.startswith("#[")):
            continue
        last = line_of(close(code, k))
        found.append((m.group(1), first + 1, last - first + 1, above(lines, first)))
    return found


def main():
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    listed_file = root / ".ci" / "long-functions.txt"
    listed = Counter()
    if listed_file.exists():
        for line in listed_file.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                listed[tuple(line.split())] += 1
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.rs"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.split()
    bad, seen, read = [], Counter(), 0
    for f in files:
        if "src" not in Path(f).parts:
            continue
        read += 1
        for name, line, n, comments in functions(root / f):
            if n <= SOFT:
                continue
            seen[(f, name)] += 1
            if n > HARD:
                bad.append(f"{f}:{line}: fn {name} is {n} lines (limit {HARD}): split it along its steps")
            elif seen[(f, name)] > listed[(f, name)] and not any(WHY.search(c) for c in comments):
                bad.append(
                    f"{f}:{line}: fn {name} is {n} lines, past {SOFT}, with no comment above it saying why it is not split"
                )
    for f, name in sorted(listed - seen):  # what the entries cover beyond what is there
        bad.append(f".ci/long-functions.txt: {f} {name} is no longer over {SOFT} lines (or gone): take it off the list")
    if read == 0:
        bad.append(f"no source file under a src/ directory found in {root}: nothing was checked")
    for b in bad:
        print(b)
    if bad:
        sys.exit(1)
    print(f"{read} source files: no function past {HARD} lines; each past {SOFT} says why or was listed")


if __name__ == "__main__":
    main()
