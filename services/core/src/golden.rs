//! The golden-script runner that the protocol state machines' tests share
//! (the replication shipper and receiver, and strong mode's members).
//!
//! A script is blocks of input lines, a `----` line, and the actions the
//! machine took, one per line, ending at a blank line. Running a script
//! replaces every block's output with what the machine did now; a changed
//! behaviour shows up as a line diff of the expectations. With
//! `UPDATE_GOLDEN` set the script is rewritten instead, for review.
//!
//! A test harness, not production code: it is built for this crate's own
//! tests, and for other crates' tests through the `golden` feature, which
//! only their dev-dependencies turn on.

use std::fmt::Write as _;
use std::path::Path;

/// A state machine driven by a script.
pub trait Harness {
    /// Runs one command line and appends what the machine did.
    fn command(&mut self, line: &str, out: &mut Vec<String>);
}

/// Runs `dir/file` with `h` and panics with a line diff if the machine did
/// something else; with `UPDATE_GOLDEN` set, rewrites the file.
pub fn check(dir: &Path, file: &str, h: &mut impl Harness) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let actual = run(&text, h);
    if actual == text {
        return;
    }
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).expect("writable script");
        return;
    }
    panic!(
        "{file} differs (UPDATE_GOLDEN=1 rewrites it):\n{}",
        diff(&text, &actual)
    );
}

/// Panics unless the `.txt` scripts in `dir` are exactly `listed`: a script
/// added without a test of its own would never run.
pub fn check_listed(dir: &Path, listed: &[&str]) {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("testdata directory")
        .map(|e| {
            e.expect("testdata entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".txt"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed, "testdata/ and the list of scripts differ");
}

/// Runs a script, returning it with every block's output replaced by
/// what the machine did.
pub fn run(text: &str, h: &mut impl Harness) -> String {
    let mut result = String::new();
    let mut lines = text.lines();
    let mut out = Vec::new();
    while let Some(line) = lines.next() {
        if line != "----" {
            result.push_str(line);
            result.push('\n');
            let command = line.trim();
            if !command.is_empty() && !command.starts_with('#') {
                h.command(command, &mut out);
            }
            continue;
        }
        // Skip the old output up to the blank line that ends the block.
        for old in lines.by_ref() {
            if old.trim().is_empty() {
                break;
            }
        }
        result.push_str("----\n");
        if out.is_empty() {
            out.push("(no actions)".into());
        }
        for o in out.drain(..) {
            result.push_str(&o);
            result.push('\n');
        }
        result.push('\n');
    }
    assert!(out.is_empty(), "commands after the last ---- have no block");
    result
}

/// A line diff by longest common subsequence: lines only in the expected
/// text are marked `-`, lines only in the actual output `+`, each with its
/// line number on its side; an inserted line marks that line alone, not
/// every line after it.
pub fn diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<_>, Vec<_>) = (expected.lines().collect(), actual.lines().collect());
    // lcs[i][j]: the longest common subsequence of e[i..] and a[j..].
    let mut lcs = vec![vec![0usize; a.len() + 1]; e.len() + 1];
    for i in (0..e.len()).rev() {
        for j in (0..a.len()).rev() {
            lcs[i][j] = if e[i] == a[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < e.len() || j < a.len() {
        if i < e.len() && j < a.len() && e[i] == a[j] {
            i += 1;
            j += 1;
        } else if j < a.len() && (i == e.len() || lcs[i][j + 1] > lcs[i + 1][j]) {
            let _ = writeln!(out, "{:>4} + {}", j + 1, a[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "{:>4} - {}", i + 1, e[i]);
            i += 1;
        }
    }
    out
}

/// Runs `step`, answering a panic it raises (an invariant of the machine,
/// a debug assertion, broken) as `Err` with the panic's message, as a
/// harness answers a broken property: a run then stops at the first
/// broken invariant and says where it was.
pub fn invariant<T>(step: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).unwrap_or_else(|p| {
        let why = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("panicked: {why}"))
    })
}

/// A number in a script, or a panic naming it.
pub fn num(s: &str) -> u64 {
    s.parse()
        .unwrap_or_else(|_| panic!("{s:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::diff;

    #[test]
    fn an_inserted_line_is_the_only_line_the_diff_marks() {
        let d = diff("a\nb\nc\n", "a\nx\nb\nc\n");
        assert_eq!(d, "   2 + x\n");
        let d = diff("a\nb\nc\n", "a\nc\n");
        assert_eq!(d, "   2 - b\n");
        let d = diff("a\nb\n", "a\nB\n");
        assert_eq!(d, "   2 - b\n   2 + B\n");
    }
}
