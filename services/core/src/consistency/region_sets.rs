//! AWS's Region sets: the three members of a multi-Region strongly
//! consistent table (replicas and witness) must all be in one of them.
//! The sets are those the API reference gives for a witness
//! (`CreateGlobalTableWitnessGroupMemberAction`, *RegionName*), and the
//! developer guide for every MRSC member.
//!
//! Only DynamoDB's endpoint holds a table to them: Meridian's own API
//! (`meridian table create --consistency strong`, drills) takes any three
//! regions of the cluster, so a STRONG table can be studied on the default
//! cluster, whose regions span three sets (docs/strong.md).

use super::FIELD;
use crate::error::Error;

/// Each set's name and regions.
pub const REGION_SETS: [(&str, &[&str]); 3] = [
    ("US", &["us-east-1", "us-east-2", "us-west-2"]),
    (
        "EU",
        &["eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"],
    ),
    (
        "AP",
        &["ap-northeast-1", "ap-northeast-2", "ap-northeast-3"],
    ),
];

/// The set `region` is in, if any.
pub fn region_set(region: &str) -> Option<&'static str> {
    REGION_SETS
        .iter()
        .find(|(_, regions)| regions.contains(&region))
        .map(|(name, _)| *name)
}

/// Refuses members (replicas and witness) that are not all in one Region
/// set, naming the first, by name, that is out of the set of the first.
pub fn check(members: &[&str]) -> Result<(), Error> {
    let mut members = members.to_vec();
    members.sort_unstable();
    let sets = || {
        REGION_SETS
            .iter()
            .map(|(name, regions)| format!("{name}: {}", regions.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let Some(first) = members.first() else {
        return Ok(());
    };
    let Some(home) = region_set(first) else {
        return Err(Error::invalid(
            FIELD,
            format!(
                "Region {first} is in no Region set that supports multi-Region strong consistency ({})",
                sets()
            ),
        ));
    };
    match members.iter().find(|m| region_set(m) != Some(home)) {
        None => Ok(()),
        Some(out) => Err(Error::invalid(
            FIELD,
            format!(
                "All Regions of a multi-Region strongly consistent global table must be in one Region set: {out} is not in the {home} Region set of {first} ({})",
                sets()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_members_of_one_set_pass_and_a_stranger_is_named() {
        check(&["us-east-1", "us-east-2", "us-west-2"]).unwrap();
        check(&["eu-central-1", "eu-west-1", "eu-west-3"]).unwrap();
        let mixed = check(&["us-east-1", "eu-west-1", "ap-southeast-1"])
            .unwrap_err()
            .to_string();
        assert!(
            mixed.contains("ap-southeast-1 is in no Region set"),
            "{mixed}"
        );
        let split = check(&["us-east-1", "us-east-2", "eu-west-1"])
            .unwrap_err()
            .to_string();
        // Members are sorted: eu-west-1 comes first and sets the home set.
        assert!(
            split.contains("us-east-1 is not in the EU Region set of eu-west-1"),
            "{split}"
        );
        assert!(check(&["r-a", "r-b", "r-c"]).is_err());
    }
}
