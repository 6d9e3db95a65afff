#!/usr/bin/env python3
"""Fails when a workspace crate declares a dependency that its code never names.

A dependency is used when its crate name (with `-` as `_`) appears as a word in
the Rust files that can use it: src/, tests/, benches/, examples/ and build.rs
for [dependencies]; the same less build.rs for [dev-dependencies]; build.rs
alone for [build-dependencies]. Code that is generated into OUT_DIR names
crates that no checked-in file does: list those in the crate's Cargo.toml as
`[package.metadata.unused-deps] ignored = ["name"]`, with a comment saying why.
"""
import pathlib
import re
import sys
import tomllib

SECTIONS = {
    "dependencies": ["src", "tests", "benches", "examples", "build.rs"],
    "dev-dependencies": ["src", "tests", "benches", "examples"],
    "build-dependencies": ["build.rs"],
}


def rust_text(crate: pathlib.Path, places: list[str]) -> str:
    text = []
    for place in places:
        p = crate / place
        if p.is_file():
            text.append(p.read_text())
        elif p.is_dir():
            text.extend(f.read_text() for f in sorted(p.rglob("*.rs")))
    return "\n".join(text)


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    workspace = tomllib.loads((root / "Cargo.toml").read_text())["workspace"]
    unused = []
    for member in workspace["members"]:
        crate = root / member
        manifest = tomllib.loads((crate / "Cargo.toml").read_text())
        meta = manifest.get("package", {}).get("metadata", {}).get("unused-deps", {})
        ignored = set(meta.get("ignored", []))
        for section, places in SECTIONS.items():
            deps = manifest.get(section, {})
            if not deps:
                continue
            text = rust_text(crate, places)
            for name in deps:
                ident = name.replace("-", "_")
                if name in ignored or re.search(rf"\b{re.escape(ident)}\b", text):
                    continue
                unused.append(f"{member}: [{section}] {name} is declared but never used")
    for line in unused:
        print(line)
    if unused:
        print("remove them from Cargo.toml, or list generated-code uses under [package.metadata.unused-deps]")
        return 1
    print("unused dependencies: none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
