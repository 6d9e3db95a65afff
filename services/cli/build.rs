//! Records what `meridian_build_info` reports: the git commit and the
//! compiler's version. Either is left out when it cannot be read (no git,
//! a source tree without `.git`, as in some image builds); the build never
//! fails for it. `MERIDIAN_GIT_COMMIT` set in the build's environment wins
//! over git, for builds from an exported tree.

use std::process::Command;

/// The trimmed standard output of a command that succeeded.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MERIDIAN_GIT_COMMIT");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Some(version) = output(&rustc, &["--version"]) {
        println!("cargo:rustc-env=MERIDIAN_RUSTC_VERSION={version}");
    }
    let commit = std::env::var("MERIDIAN_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| output("git", &["rev-parse", "HEAD"]));
    if let Some(commit) = commit {
        println!("cargo:rustc-env=MERIDIAN_GIT_COMMIT={commit}");
    }
    // Built again when HEAD moves: HEAD itself, the branch it names, and
    // the packed refs (only files that exist: a missing one would rebuild
    // every time).
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    watched.extend(output("git", &["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        if let Some(path) = output("git", &["rev-parse", "--git-path", &name])
            && std::path::Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
