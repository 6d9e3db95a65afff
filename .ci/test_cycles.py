#!/usr/bin/env python3
"""Tests of `.ci/cycles.py`: each plants a small crate in a temporary
directory and runs the script on it, as `.ci/run` does on the workspace.

Usage: python3 .ci/test_cycles.py   (python's unittest; nothing to install)
"""

import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "cycles.py"


def run(files):
    """Writes `files` (path under src/ -> text) as a crate; runs the script."""
    with tempfile.TemporaryDirectory() as dir:
        crate = Path(dir) / "planted"
        for path, text in files.items():
            f = crate / "src" / path
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(textwrap.dedent(text))
        done = subprocess.run(
            [sys.executable, str(SCRIPT), str(crate)], capture_output=True, text=True
        )
        return done.returncode, done.stdout + done.stderr


class Cycles(unittest.TestCase):
    def assert_cycle(self, files, *names):
        code, out = run(files)
        self.assertEqual(code, 1, out)
        for n in names:
            self.assertIn(n, out)

    def assert_clean(self, files):
        code, out = run(files)
        self.assertEqual(code, 0, out)
        self.assertIn("no import cycle", out)

    def test_bare_child_path_closes_a_cycle(self):
        # The parent reaches its child by a bare path, the child reaches
        # back with `crate::`: a loop the script must see.
        self.assert_cycle(
            {
                "lib.rs": """
                    mod links;
                    pub struct Shared;
                    pub fn start() {
                        let _ = links::Links::new();
                    }
                """,
                "links.rs": """
                    use crate::Shared;
                    pub struct Links(Option<Shared>);
                    impl Links {
                        pub fn new() -> Self {
                            Links(None)
                        }
                    }
                """,
            },
            "src/lib.rs -> ",
            "src/links.rs -> ",
        )

    def test_use_of_a_child_module_closes_a_cycle(self):
        self.assert_cycle(
            {
                "lib.rs": "mod strong;\n",
                "strong/mod.rs": """
                    mod wire;
                    use wire::Envelope;
                    pub struct Ctx;
                    pub fn send(_: Envelope) {}
                """,
                "strong/wire.rs": """
                    pub struct Envelope(pub Option<super::Ctx>);
                """,
            },
            "strong/mod.rs -> ",
            "strong/wire.rs -> ",
        )

    def test_path_through_an_imported_module_closes_a_cycle(self):
        # `m::deep::f` names `m/deep.rs` through the module `use crate::m`
        # brought in: the `use` alone reaches only `m.rs`.
        self.assert_cycle(
            {
                "lib.rs": "mod a;\nmod m;\n",
                "m.rs": "pub mod deep;\n",
                "m/deep.rs": """
                    pub fn f() -> Option<crate::a::A> { None }
                """,
                "a.rs": """
                    use crate::m;
                    pub struct A;
                    pub fn g() { let _ = m::deep::f(); }
                """,
            },
            "src/a.rs -> ",
            "src/m/deep.rs -> ",
        )

    def test_a_module_and_its_reexports_are_one(self):
        # `schema.rs` names `crate::consistency::Consistency`, defined in
        # the private child `consistency/set.rs` and re-exported by
        # `consistency/mod.rs`, whose own code names `schema::TableDef`: a
        # reader sees `schema` and `consistency` name each other.
        self.assert_cycle(
            {
                "lib.rs": "mod consistency;\nmod schema;\n",
                "schema.rs": """
                    pub struct TableDef {
                        pub consistency: crate::consistency::Consistency,
                    }
                """,
                "consistency/mod.rs": """
                    mod set;
                    pub use set::Consistency;
                    pub fn plan(_: &crate::schema::TableDef) {}
                """,
                "consistency/set.rs": """
                    pub enum Consistency { Eventual }
                """,
            },
            "src/schema.rs -> /",
            "src/consistency/mod.rs",
            "src/consistency/mod.rs -> ",
        )

    def test_a_leaf_named_directly_is_not_its_parent(self):
        # The same crate with the shared type named where it is defined:
        # `schema.rs` depends on the leaf alone. Inside the module, a child
        # naming its parent's re-export of a sibling is no edge to the parent.
        self.assert_clean(
            {
                "lib.rs": "mod consistency;\nmod schema;\n",
                "schema.rs": """
                    pub struct TableDef {
                        pub consistency: crate::consistency::set::Consistency,
                    }
                """,
                "consistency/mod.rs": """
                    pub mod set;
                    mod plan;
                    pub use set::Consistency;
                    pub fn plan(d: &crate::schema::TableDef) { plan::run(d) }
                """,
                "consistency/set.rs": """
                    pub enum Consistency { Eventual }
                """,
                "consistency/plan.rs": """
                    pub fn run(_: &crate::schema::TableDef) -> Option<super::Consistency> { None }
                """,
            }
        )

    def test_clean_crate_passes(self):
        # The same shape as the first test with the shared type in a leaf:
        # the child's `crate::Shared` follows the facade's re-export to
        # `shared.rs`, so the facade is not a hub. A test-only child and
        # the code of a test module (`links.rs` names `crate::start`) do
        # not count.
        self.assert_clean(
            {
                "lib.rs": """
                    mod links;
                    mod shared;
                    #[cfg(test)]
                    mod golden;
                    pub use shared::Shared;
                    pub fn start() {
                        let _ = links::Links::new();
                    }
                    #[cfg(test)]
                    mod tests {
                        use crate::links::Links;
                    }
                """,
                "shared.rs": """
                    /// What every part holds (a string: "crate::links::Links").
                    pub struct Shared;
                """,
                "links.rs": """
                    use crate::Shared;
                    pub struct Links(Option<Shared>);
                    impl Links {
                        pub fn new() -> Self {
                            Links(None)
                        }
                    }
                    #[cfg(test)]
                    mod tests {
                        // Test code: it may name the parent that starts it.
                        use crate::start;
                    }
                """,
                "golden.rs": """
                    use crate::start;
                    pub fn run() { crate::links::Links::new(); }
                """,
            }
        )

    def test_std_and_other_crates_are_not_edges(self):
        self.assert_clean(
            {
                "lib.rs": """
                    mod fmt;
                    use std::fmt::Display;
                    pub fn show(x: &dyn Display) -> String { fmt::show(x) }
                """,
                "fmt.rs": """
                    pub fn show(x: &dyn std::fmt::Display) -> String { x.to_string() }
                """,
            }
        )


if __name__ == "__main__":
    unittest.main()
