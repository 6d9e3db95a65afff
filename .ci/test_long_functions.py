#!/usr/bin/env python3
"""Tests of `.ci/long-functions.py`: each plants a small tree in a temporary
git repository and runs the script on it, as `.ci/run` does on the
workspace.

Usage: python3 .ci/test_long_functions.py   (python's unittest; nothing to install)
"""

import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "long-functions.py"


def body(n, line="    let x = 1;"):
    """A function of `n` lines in all: its `fn` line, n - 2 body lines and
    its closing brace."""
    return "fn f() {\n" + "\n".join([line] * (n - 2)) + "\n}\n"


def run(files, listed=""):
    """Writes `files` (path -> text) and `.ci/long-functions.txt`, then runs
    the script on them."""
    with tempfile.TemporaryDirectory() as dir:
        root = Path(dir)
        for path, text in files.items():
            f = root / path
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text)
        (root / ".ci").mkdir()
        (root / ".ci" / "long-functions.txt").write_text(listed)
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        done = subprocess.run(
            [sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True
        )
        return done.returncode, done.stdout + done.stderr


class LongFunctions(unittest.TestCase):
    def assert_fails(self, files, *says, listed=""):
        code, out = run(files, listed)
        self.assertEqual(code, 1, out)
        for s in says:
            self.assertIn(s, out)

    def assert_passes(self, files, listed=""):
        code, out = run(files, listed)
        self.assertEqual(code, 0, out)

    def test_past_the_hard_limit_fails_even_with_a_reason(self):
        self.assert_fails(
            {"a/src/lib.rs": "/// Not split: one match.\n" + body(101)},
            "a/src/lib.rs:2: fn f is 101 lines (limit 100)",
        )

    def test_at_the_hard_limit_with_a_reason_passes(self):
        self.assert_passes({"a/src/lib.rs": "/// Not split: one match.\n" + body(100)})

    def test_past_the_soft_limit_needs_a_reason(self):
        self.assert_fails(
            {"a/src/lib.rs": "/// Reads the file.\n" + body(71)},
            "fn f is 71 lines, past 70, with no comment",
        )
        self.assert_passes({"a/src/lib.rs": "/// Reads the file.\n" + body(70)})
        self.assert_passes(
            {"a/src/lib.rs": "// This cannot be split: one arm per case.\n#[inline]\n" + body(90)}
        )

    def test_a_listed_function_needs_no_reason_until_it_shrinks(self):
        files = {"a/src/lib.rs": body(90)}
        self.assert_passes(files, listed="a/src/lib.rs f\n")
        self.assert_fails(
            {"a/src/lib.rs": body(60)},
            "a/src/lib.rs f is no longer over 70 lines",
            listed="a/src/lib.rs f\n",
        )

    def test_an_entry_covers_one_function_of_its_name(self):
        two = body(90) + "impl S {\n" + body(80) + "}\n"
        self.assert_fails(
            {"a/src/lib.rs": two},
            "a/src/lib.rs:92: fn f is 80 lines, past 70, with no comment",
            listed="a/src/lib.rs f\n",
        )
        self.assert_passes({"a/src/lib.rs": two}, listed="a/src/lib.rs f\na/src/lib.rs f\n")

    def test_every_form_of_fn_is_counted(self):
        forms = [
            "pub(crate) async fn f() {",
            "const unsafe fn f() {",
            "impl<T> S<T> {\n    pub fn f<U>(\n        u: U,\n    ) -> Option<U>\n    where\n        U: Clone,\n    {",
            "trait T {\n    fn f(&self) {",
        ]
        for head in forms:
            text = head + "\n" + "\n".join(["    let x = 1;"] * 80) + "\n}\n"
            if head.startswith(("impl", "trait")):
                text += "}\n"
            self.assert_fails({"a/src/lib.rs": text}, "fn f is")

    def test_a_test_library_is_counted_and_a_comment_naming_test_hides_nothing(self):
        self.assert_fails({"tests/src/lib.rs": body(80)}, "tests/src/lib.rs:1: fn f is 80 lines")
        self.assert_fails(
            {"a/src/lib.rs": "/// Unlike a #[test], this runs in the region.\n" + body(80)},
            "fn f is 80 lines",
        )

    def test_braces_in_strings_chars_and_comments_are_not_counted(self):
        tricky = (
            "fn f() {\n"
            '    let a = "}}}";\n'
            "    let b = '}';\n"
            "    let c = r#\"}\"#;\n"
            "    // }\n"
            "    /* } /* nested } */ */\n"
            "    let d: &'static str = \"\\\"}\";\n"
            + "\n".join(["    let x = 1;"] * 96)
            + "\n}\n"
        )
        self.assert_fails({"a/src/lib.rs": tricky}, "fn f is 104 lines")

    def test_a_tree_without_sources_is_not_passed(self):
        self.assert_fails({"a/tests/it.rs": body(10)}, "nothing was checked")

    def test_tests_and_declarations_are_not_counted(self):
        self.assert_passes(
            {
                "a/src/lib.rs": "trait T {\n    fn g(&self);\n}\n"
                + "#[cfg(test)]\nmod tests {\n"
                + body(120)
                + "}\n"
                + "#[tokio::test]\n"
                + body(120).replace("fn f", "async fn t"),
                "a/tests/it.rs": body(200),
            }
        )


if __name__ == "__main__":
    unittest.main()
