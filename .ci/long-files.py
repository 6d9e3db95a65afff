#!/usr/bin/env python3
"""Fails when a source file's code, before its `#[cfg(test)]` module, runs
past 1,000 lines: past that a file holds more than one job, and the split
along its own sections is due (docs/architecture.md, "Keeping the shape").
Test binaries (`tests/`) and benches are not counted.

Usage: python3 .ci/long-files.py [--max N]
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = int(sys.argv[sys.argv.index("--max") + 1]) if "--max" in sys.argv else 1000


def code_lines(path):
    text = path.read_text()
    cut = re.search(r"^\s*#\[cfg\(test\)\]\s*\n\s*(pub\s+)?mod\s+\w+", text, re.M)
    if cut:
        text = text[: cut.start()]
    return text.count("\n")


def main():
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.rs"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    long = []
    for f in files:
        parts = Path(f).parts
        if "src" not in parts:
            continue
        n = code_lines(ROOT / f)
        if n > LIMIT:
            long.append((n, f))
    for n, f in sorted(long, reverse=True):
        print(f"{f}: {n} lines before its test module (limit {LIMIT})")
    if long:
        sys.exit(1)
    print(f"no source file past {LIMIT} lines")


if __name__ == "__main__":
    main()
