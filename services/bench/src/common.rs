//! The options every benchmark takes ([`Common`]): below [`super`], which
//! dispatches to the benchmarks, so that they reach these options without
//! a loop through it.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::probe;

/// Options every benchmark takes.
#[derive(Args, Clone, Debug)]
pub struct Common {
    /// Tiny sizes and one repetition: proves the benchmark still runs.
    #[arg(long)]
    pub smoke: bool,
    /// Repetitions; the table shows their median, min and max.
    #[arg(long)]
    pub reps: Option<usize>,
    /// Where the JSON results go.
    #[arg(long, default_value = "bench-results")]
    pub out: PathBuf,
    /// Where region data directories and the raw baseline's database go
    /// [default: the system temp directory]. Use the same file system for
    /// both, so the baseline pays the same fsync.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

impl Common {
    pub fn reps(&self, default: usize) -> usize {
        if self.smoke {
            1
        } else {
            self.reps.unwrap_or(default).max(1)
        }
    }

    pub fn tempdir(&self) -> Result<tempfile::TempDir> {
        let base = self.dir.clone().unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&base)?;
        Ok(tempfile::Builder::new()
            .prefix("meridian-bench-")
            .tempdir_in(base)?)
    }

    /// The machine's fsync and CPU figures, measured on the file system the
    /// regions will use (see [`probe::probe_machine`]).
    pub fn machine(&self) -> Result<serde_json::Value> {
        let dir = self.tempdir()?;
        probe::probe_machine(dir.path(), self.smoke)
    }
}
