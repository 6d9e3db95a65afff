//! Finding the running cluster from any directory. `meridian up` records
//! the absolute path of its cluster file in a per-user pointer file (and
//! in `<data_dir>/cluster-file`); commands given no `--config` use the
//! default `regions/local-3.toml` when the working directory has one, and
//! the recorded file otherwise.
//!
//! The pointer is `$XDG_RUNTIME_DIR/meridian/current` when
//! `XDG_RUNTIME_DIR` is set, else `~/.meridian/current`: one per user, so
//! two users' clusters do not collide; the most recent `meridian up` wins.

use std::path::{Path, PathBuf};

use crate::{ClusterError, Result};

/// The default cluster file, relative to the working directory.
pub const DEFAULT_CLUSTER: &str = "regions/local-3.toml";

/// The name of the state file `up` leaves in the cluster's data directory.
pub const STATE_FILE: &str = "cluster-file";

/// Where the pointer to the current cluster file lives, from the
/// environment given (`XDG_RUNTIME_DIR`, `HOME`); `None` with neither.
pub fn pointer_in(xdg_runtime_dir: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    match (
        xdg_runtime_dir.filter(|d| !d.is_empty()),
        home.filter(|h| !h.is_empty()),
    ) {
        (Some(run), _) => Some(Path::new(run).join("meridian").join("current")),
        (None, Some(home)) => Some(Path::new(home).join(".meridian").join("current")),
        (None, None) => None,
    }
}

/// The pointer of this process's user.
pub fn pointer() -> Option<PathBuf> {
    let var = |k: &str| std::env::var(k).ok();
    pointer_in(var("XDG_RUNTIME_DIR").as_deref(), var("HOME").as_deref())
}

/// Records `config` as the current cluster: its absolute path goes to the
/// pointer and to `<data_dir>/cluster-file`. Returns the pointer's path.
pub fn record(config: &Path, data_dir: &Path) -> Result<Option<PathBuf>> {
    let abs = std::fs::canonicalize(config)
        .map_err(ClusterError::io(format!("resolving {}", config.display())))?;
    let text = format!("{}\n", abs.display());
    std::fs::create_dir_all(data_dir)
        .map_err(ClusterError::io(format!("creating {}", data_dir.display())))?;
    let state = data_dir.join(STATE_FILE);
    std::fs::write(&state, &text)
        .map_err(ClusterError::io(format!("writing {}", state.display())))?;
    let Some(pointer) = pointer() else {
        return Ok(None);
    };
    if let Some(dir) = pointer.parent() {
        std::fs::create_dir_all(dir)
            .map_err(ClusterError::io(format!("creating {}", dir.display())))?;
    }
    std::fs::write(&pointer, &text)
        .map_err(ClusterError::io(format!("writing {}", pointer.display())))?;
    Ok(Some(pointer))
}

/// The cluster file to use: `explicit` (`--config` or `MERIDIAN_CONFIG`)
/// when given; else [`DEFAULT_CLUSTER`] when it exists here; else the one
/// `pointer` names. The error says where it looked.
pub fn resolve_with(explicit: Option<&Path>, pointer: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let default = Path::new(DEFAULT_CLUSTER);
    if default.exists() {
        return Ok(default.to_path_buf());
    }
    let recorded = pointer.and_then(|p| std::fs::read_to_string(p).ok());
    if let Some(text) = recorded {
        let path = PathBuf::from(text.trim());
        if path.exists() {
            return Ok(path);
        }
        return Err(ClusterError::Failed(format!(
            "no cluster file: no --config, no {DEFAULT_CLUSTER} here, and {} names {}, which is gone",
            pointer.map(|p| p.display().to_string()).unwrap_or_default(),
            path.display()
        )));
    }
    Err(ClusterError::Failed(format!(
        "no cluster file: no --config (or MERIDIAN_CONFIG), no {DEFAULT_CLUSTER} in this directory, \
         and no running cluster recorded{} by `meridian up`",
        pointer
            .map(|p| format!(" in {}", p.display()))
            .unwrap_or_default()
    )))
}

/// [`resolve_with`] this user's pointer.
pub fn resolve(explicit: Option<&Path>) -> Result<PathBuf> {
    resolve_with(explicit, pointer().as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pointer_prefers_the_runtime_dir_then_home() {
        assert_eq!(
            pointer_in(Some("/run/user/1"), Some("/home/a")),
            Some(PathBuf::from("/run/user/1/meridian/current"))
        );
        assert_eq!(
            pointer_in(Some(""), Some("/home/a")),
            Some(PathBuf::from("/home/a/.meridian/current"))
        );
        assert_eq!(pointer_in(None, None), None);
    }

    #[test]
    fn explicit_then_recorded_else_an_error_saying_where_it_looked() {
        // The test's working directory is the crate's, which has no
        // regions/local-3.toml.
        assert!(!Path::new(DEFAULT_CLUSTER).exists());
        let dir = tempfile::tempdir().unwrap();
        let given = dir.path().join("given.toml");
        assert_eq!(resolve_with(Some(&given), None).unwrap(), given);

        let pointer = dir.path().join("current");
        let e = resolve_with(None, Some(&pointer)).unwrap_err().to_string();
        assert!(
            e.contains(DEFAULT_CLUSTER) && e.contains(&pointer.display().to_string()),
            "{e}"
        );

        let file = dir.path().join("c.toml");
        std::fs::write(&file, "").unwrap();
        std::fs::write(&pointer, format!("{}\n", file.display())).unwrap();
        assert_eq!(resolve_with(None, Some(&pointer)).unwrap(), file);

        std::fs::remove_file(&file).unwrap();
        let e = resolve_with(None, Some(&pointer)).unwrap_err().to_string();
        assert!(e.contains("gone"), "{e}");
    }
}
