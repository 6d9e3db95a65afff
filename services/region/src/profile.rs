//! A replication profile: what `meridian conformance --measure` saw of a
//! set of regions (an AWS account's, or any endpoints'), in the cluster
//! file's own keys, so a cluster (`profile = "FILE"` in its file) or a
//! drill (`[replication] profile = "FILE"`) rehearses against it.
//!
//! ```toml
//! replication_order = "partition"
//! replication_partitions = 8
//! replication_lane_delay_ms = 31.5
//! replication_lane_delay_max_ms = 420.0
//!
//! [profile]
//! # One-way link latency per directed pair, ms ("from>to").
//! latency_ms = { "us-east-1>eu-west-1" = 38.2, "eu-west-1>us-east-1" = 37.9 }
//! ```
//!
//! Every key is optional. The replication keys mean what they mean in a
//! cluster file and override its own; the latencies go on the link proxy
//! (`meridian up`) or the simulated network (drills) of the pairs named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::replication::lanes::{LaneModel, ReplicationOrder};

/// The most latency a profile may give a link: a minute.
pub const MAX_LATENCY_MS: f64 = 60_000.0;

/// A profile file, as read.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub replication_order: Option<ReplicationOrder>,
    pub replication_partitions: Option<u32>,
    pub replication_lane_delay_ms: Option<f64>,
    pub replication_lane_delay_max_ms: Option<f64>,
    #[serde(default)]
    pub profile: Links,
}

/// `[profile]`: what was measured of each link.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Links {
    /// One-way latency per directed pair `"from>to"`, ms.
    #[serde(default)]
    pub latency_ms: BTreeMap<String, f64>,
}

/// Why a profile cannot be used, naming the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read the profile {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the profile {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Profile {
    /// Reads and checks the profile at `path` for a cluster of `regions`.
    pub fn load(path: &Path, regions: &[String]) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |message: String| ProfileError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let profile: Profile = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        profile.check(regions).map_err(invalid)?;
        Ok(profile)
    }

    /// Every latency names two regions of the cluster and is within
    /// [`MAX_LATENCY_MS`]; the lane settings are checked with the cluster
    /// file's own rule when the cluster applies them.
    fn check(&self, regions: &[String]) -> Result<(), String> {
        for (pair, ms) in &self.profile.latency_ms {
            let field = format!("profile.latency_ms.{pair:?}");
            let Some((from, to)) = pair.split_once('>') else {
                return Err(format!("{field}: a link is named \"from>to\""));
            };
            for r in [from, to] {
                if !regions.iter().any(|x| x == r) {
                    return Err(format!(
                        "{field}: {r:?} is not a region of the cluster ({})",
                        regions.join(", ")
                    ));
                }
            }
            if from == to {
                return Err(format!("{field}: a link joins two regions"));
            }
            if !(ms.is_finite() && (0.0..=MAX_LATENCY_MS).contains(ms)) {
                return Err(format!(
                    "{field} must be between 0 and {MAX_LATENCY_MS} (ms), got {ms}"
                ));
            }
        }
        Ok(())
    }

    /// The lane model `base` becomes under this profile, checked.
    pub fn lanes(&self, base: &LaneModel) -> Result<LaneModel, String> {
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        LaneModel::from_settings(
            self.replication_partitions.unwrap_or(base.partitions),
            &base.per_table,
            self.replication_lane_delay_ms
                .unwrap_or_else(|| ms(base.delay_mean)),
            self.replication_lane_delay_max_ms
                .unwrap_or_else(|| ms(base.delay_max)),
        )
    }

    /// The one-way latency of each directed link `(from, to)`.
    pub fn latencies(&self) -> Vec<(String, String, f64)> {
        self.profile
            .latency_ms
            .iter()
            .filter_map(|(pair, ms)| {
                let (from, to) = pair.split_once('>')?;
                Some((from.to_string(), to.to_string(), *ms))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions() -> Vec<String> {
        vec!["a-1".into(), "b-1".into()]
    }

    #[test]
    fn a_profile_overrides_the_lanes_and_names_its_links() {
        let p: Profile = toml::from_str(
            "replication_lane_delay_ms = 30.5\nreplication_lane_delay_max_ms = 400\n\
             [profile]\nlatency_ms = { \"a-1>b-1\" = 38.25 }\n",
        )
        .unwrap();
        p.check(&regions()).unwrap();
        let lanes = p.lanes(&LaneModel::default()).unwrap();
        assert_eq!(lanes.partitions, 8);
        assert_eq!(lanes.delay_mean.as_micros(), 30_500);
        assert_eq!(
            p.latencies(),
            vec![("a-1".to_string(), "b-1".to_string(), 38.25)]
        );
    }

    #[test]
    fn a_bad_profile_names_the_field() {
        let bad = [
            (
                "[profile]\nlatency_ms = { \"a-1>c-1\" = 1 }",
                "\"c-1\" is not a region",
            ),
            ("[profile]\nlatency_ms = { \"a-1\" = 1 }", "\"from>to\""),
            (
                "[profile]\nlatency_ms = { \"a-1>b-1\" = -3 }",
                "between 0 and 60000",
            ),
            (
                "[profile]\nlatency_ms = { \"a-1>a-1\" = 3 }",
                "joins two regions",
            ),
        ];
        for (text, says) in bad {
            let p: Profile = toml::from_str(text).unwrap();
            let err = p.check(&regions()).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
        let p: Profile =
            toml::from_str("replication_lane_delay_ms = 50\nreplication_lane_delay_max_ms = 10")
                .unwrap();
        let err = p.lanes(&LaneModel::default()).unwrap_err();
        assert!(err.contains("replication_lane_delay_max_ms"), "{err}");
        assert!(toml::from_str::<Profile>("nonsense = 1").is_err());
    }
}
