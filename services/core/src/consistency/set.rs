//! The mode itself, apart from the catalog rows and the rules that make a
//! table STRONG: what a table definition carries.

use crate::error::Error;

/// The request field the mode's errors name.
pub const FIELD: &str = "MultiRegionConsistency";

/// How a table's replicas agree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Consistency {
    #[default]
    Eventual,
    Strong(StrongSet),
}

impl Consistency {
    /// DynamoDB's `MultiRegionConsistency` name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Consistency::Eventual => "EVENTUAL",
            Consistency::Strong(_) => "STRONG",
        }
    }

    pub fn strong(&self) -> Option<&StrongSet> {
        match self {
            Consistency::Strong(s) => Some(s),
            Consistency::Eventual => None,
        }
    }
}

/// The three members of a STRONG table: its regions sorted by name (a
/// member's place in this list is its number in the protocol), which of
/// them is a witness, and the member that leads first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrongSet {
    pub members: [String; 3],
    pub witness: Option<String>,
    pub leader: String,
}

impl StrongSet {
    /// The set of `replicas` and `witness` led first by `leader`: three
    /// regions in all, each once, the leader a replica.
    pub fn new(
        mut replicas: Vec<String>,
        witness: Option<String>,
        leader: &str,
    ) -> Result<Self, Error> {
        if witness.as_ref().is_some_and(|w| replicas.contains(w)) {
            return Err(Error::invalid(
                FIELD,
                "A witness Region must be a Region other than the table's replicas",
            ));
        }
        let mut all = replicas.clone();
        all.extend(witness.clone());
        all.sort();
        all.dedup();
        replicas.sort();
        replicas.dedup();
        let members: [String; 3] = all.try_into().map_err(|all: Vec<String>| {
            Error::invalid(
                FIELD,
                format!(
                    "A multi-Region strongly consistent global table has exactly three Regions (three replicas, or two replicas and one witness); this request gives {}",
                    all.len()
                ),
            )
        })?;
        if !replicas.iter().any(|r| r == leader) {
            return Err(Error::invalid(FIELD, "the first leader must be a replica"));
        }
        Ok(StrongSet {
            members,
            witness,
            leader: leader.to_string(),
        })
    }

    /// A region's number among the members.
    pub fn member(&self, region: &str) -> Option<u8> {
        self.members
            .iter()
            .position(|m| m == region)
            .map(|i| i as u8)
    }

    pub fn witness_member(&self) -> Option<u8> {
        self.witness.as_deref().and_then(|w| self.member(w))
    }

    pub fn leader_member(&self) -> u8 {
        self.member(&self.leader).unwrap_or(0)
    }

    /// The members that hold the table's items.
    pub fn replicas(&self) -> impl Iterator<Item = &String> {
        self.members
            .iter()
            .filter(move |m| Some(m.as_str()) != self.witness.as_deref())
    }

    pub fn is_witness(&self, region: &str) -> bool {
        self.witness.as_deref() == Some(region)
    }
}
