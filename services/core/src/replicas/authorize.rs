//! Replication as each replica's resource-based policy allows it, as
//! DynamoDB decides it for multi-account global tables (the developer
//! guide's *DynamoDB global tables security*, multi-account): the
//! replication service principal `replication.dynamodb.amazonaws.com`
//! reads and writes a replica only as that replica's policy lets it, and
//! "permissions are bi-directional", so a pair of replicas replicates only
//! when each grants the other.
//!
//! **Which grant counts.** In a multi-account table (a replica of another
//! account than the table's owner's) nothing is granted unless a policy
//! allows it: each replica's policy must allow `ReadDataForReplication`,
//! `WriteDataForReplication` and `ReplicateSettings` to the service, for
//! every other replica and itself (`aws:SourceAccount`, `aws:SourceArn`
//! the other replica's). In a same-account table the service is trusted
//! through its service-linked role, so only an explicit `Deny` stops it:
//! which is how AWS FIS's pause-replication action works, by a time-bound
//! deny statement in the policy.
//!
//! A replica whose own policy withholds a grant is described
//! `REPLICATION_NOT_AUTHORIZED`; nothing of the table crosses between a
//! pair that is not granted both ways, in either direction, while each
//! side goes on serving its reads and writes. Every region decides from
//! the same catalog rows (each replica's policy is a row,
//! `policy/<region>`, written only by its region), so both ends agree.
//!
//! **Joining.** A replica of another account joins with CreateTable's
//! `GlobalTableSourceArn` ([`check_join`]): every existing replica's policy
//! must allow the joining account `AssociateTableReplica`, and grant it
//! replication; the joining replica's own policy must grant every member.

use std::collections::BTreeMap;

use crate::account::{Account, table_arn};
use crate::error::Error;
use crate::key::EncodedKey;
use crate::policy::{Caller, Decision, Policy, Request};
use crate::schema::TableDef;
use crate::value::{AttrValue, Item};
use crate::version::Version;

/// DynamoDB's replication service principal.
pub const SERVICE: &str = "replication.dynamodb.amazonaws.com";
/// The actions each replica's policy grants the service for replication.
pub const STEADY: [&str; 3] = [
    "dynamodb:ReadDataForReplication",
    "dynamodb:WriteDataForReplication",
    "dynamodb:ReplicateSettings",
];
/// The action every member grants an account joining the table.
pub const ASSOCIATE: &str = "dynamodb:AssociateTableReplica";

/// Largest policy document, in bytes, whitespace included: 20 KB, as
/// DynamoDB's resource-based policies.
pub const MAX_DOCUMENT_BYTES: usize = 20 << 10;

/// Prefix of the sort keys of a table's policy rows in the catalog.
pub const SORT_PREFIX: &[u8] = b"policy/";

/// The catalog key of `region`'s policy row of `table`.
pub fn key(table: &str, region: &str) -> EncodedKey {
    super::region_row_key(SORT_PREFIX, table, region)
}

/// The region a policy row's sort key names, if it is one.
pub fn region_of(sort: &[u8]) -> Option<String> {
    super::region_of_row(SORT_PREFIX, sort)
}

/// A replica's policy as stored: its revision id and document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub revision: String,
    pub document: String,
}

/// The policy row of a replica of the incarnation created at `incarnation`.
pub fn item(p: &Stored, incarnation: &Version) -> Item {
    Item::from([
        (
            "table_version".to_string(),
            AttrValue::B(incarnation.to_bytes()),
        ),
        ("revision".to_string(), AttrValue::S(p.revision.clone())),
        ("document".to_string(), AttrValue::S(p.document.clone())),
    ])
}

/// A policy row read back, with the incarnation it belongs to; a peer's
/// row is untrusted, so anything else in it is refused.
pub fn from_item(item: &Item) -> Result<(Stored, Version), Error> {
    match (
        item.get("table_version"),
        item.get("revision"),
        item.get("document"),
        item.len(),
    ) {
        (Some(AttrValue::B(v)), Some(AttrValue::S(r)), Some(AttrValue::S(d)), 3) => Ok((
            Stored {
                revision: r.clone(),
                document: d.clone(),
            },
            Version::from_bytes(v)?,
        )),
        _ => Err(Error::Decode(
            "catalog policy row must hold a table version, a revision and a document".into(),
        )),
    }
}

/// The account `region`'s replica of `def` belongs to.
pub fn account_of(def: &TableDef, region: &str) -> Account {
    def.replica_states
        .get(region)
        .and_then(|s| s.account)
        .unwrap_or(def.owner)
}

/// Whether `def` has replicas in more than one account.
pub fn multi_account(def: &TableDef) -> bool {
    def.replicas.iter().any(|r| account_of(def, r) != def.owner)
}

/// The ARN of `region`'s replica of `def`.
pub fn replica_arn(def: &TableDef, region: &str) -> String {
    table_arn(region, account_of(def, region), &def.name)
}

/// The request context of the replication service acting for the replica
/// `source_arn` of `source_account`.
fn service_context<'a>(source_account: &'a str, source_arn: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("aws:SourceAccount", source_account),
        ("aws:SourceArn", source_arn),
        ("aws:PrincipalServiceName", SERVICE),
        ("aws:PrincipalIsAWSService", "true"),
    ]
}

/// The policies of a table's replicas, by region, as read from its rows.
pub type Policies = BTreeMap<String, Policy>;

/// Whether `me`'s policy lets the service replicate with `other`, both
/// replicas of `def`, at `now` (wall-clock µs).
fn grants(def: &TableDef, policies: &Policies, me: &str, other: &str, now: u64) -> bool {
    let multi = multi_account(def);
    let Some(policy) = policies.get(me) else {
        return !multi;
    };
    let (resource, source) = (replica_arn(def, me), replica_arn(def, other));
    let account = account_of(def, other).to_string();
    let context = service_context(&account, &source);
    STEADY.iter().all(|action| {
        let decision = policy.decide(&Request {
            caller: Caller::Service(SERVICE),
            action,
            resource: &resource,
            context: &context,
            now_micros: now,
        });
        match decision {
            Decision::Allow => true,
            Decision::Deny => false,
            Decision::Neither => !multi,
        }
    })
}

/// Whether replication between `a` and `b`, replicas of `def`, is granted
/// both ways at `now`.
pub fn pair(def: &TableDef, policies: &Policies, a: &str, b: &str, now: u64) -> bool {
    grants(def, policies, a, b, now) && grants(def, policies, b, a, now)
}

/// The replicas of `def` whose own policy withholds a grant from another
/// replica it replicates with at `now`: described
/// `REPLICATION_NOT_AUTHORIZED`.
pub fn not_authorized(def: &TableDef, policies: &Policies, now: u64) -> Vec<String> {
    def.replicas
        .iter()
        .filter(|me| {
            super::disassociate::group(def, me)
                .iter()
                .filter(|other| other != me)
                .any(|other| !grants(def, policies, me, other, now))
        })
        .cloned()
        .collect()
}

/// Why an account may not join a table.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefused {
    /// A member's policy does not allow the joining account to associate.
    #[error(
        "User: arn:aws:iam::{account}:root is not authorized to perform: dynamodb:AssociateTableReplica on resource: {resource} because no resource-based policy allows the dynamodb:AssociateTableReplica action"
    )]
    Associate { account: Account, resource: String },
    /// A policy withholds a replication grant between the newcomer and a
    /// member.
    #[error(
        "The resource-based policy of {resource} does not allow {SERVICE} to perform {action} for {source_arn}: every replica of a multi-account global table must grant it to every other replica and to itself"
    )]
    Replication {
        resource: String,
        action: &'static str,
        source_arn: String,
    },
}

/// Checks that `account`, adding its replica in `region` with `policy`
/// (CreateTable's `ResourcePolicy`), may join `def`, whose members'
/// policies are `policies`, at `now`. `def` is the table as it stands,
/// before the newcomer's row.
pub fn check_join(
    def: &TableDef,
    policies: &Policies,
    region: &str,
    account: Account,
    policy: Option<&Policy>,
    now: u64,
) -> Result<(), JoinRefused> {
    let newcomer = table_arn(region, account, &def.name);
    // The replicas that replicate with each other: none disassociated.
    let members: Vec<(String, Account, Option<&Policy>)> = def
        .replicas
        .iter()
        .filter(|r| {
            def.replica_states
                .get(*r)
                .is_none_or(|s| s.status != super::Status::Disassociated)
        })
        .map(|r| (replica_arn(def, r), account_of(def, r), policies.get(r)))
        .collect();
    let everyone: Vec<(String, Account, Option<&Policy>)> = members
        .iter()
        .cloned()
        .chain([(newcomer.clone(), account, policy)])
        .collect();
    let joining = account.to_string();
    let principal = [
        ("aws:PrincipalAccount", joining.as_str()),
        ("aws:PrincipalIsAWSService", "false"),
    ];
    for (resource, _, p) in &members {
        let join = Request {
            caller: Caller::Account(account),
            action: ASSOCIATE,
            resource,
            context: &principal,
            now_micros: now,
        };
        if p.map(|p| p.decide(&join)) != Some(Decision::Allow) {
            return Err(JoinRefused::Associate {
                account,
                resource: resource.clone(),
            });
        }
    }
    // Every replica, the newcomer included, grants every one of them.
    for (resource, _, p) in &everyone {
        for (source_arn, source_account, _) in &everyone {
            let source_account = source_account.to_string();
            let context = service_context(&source_account, source_arn);
            for action in STEADY {
                let req = Request {
                    caller: Caller::Service(SERVICE),
                    action,
                    resource,
                    context: &context,
                    now_micros: now,
                };
                if p.map(|p| p.decide(&req)) != Some(Decision::Allow) {
                    return Err(JoinRefused::Replication {
                        resource: resource.clone(),
                        action,
                        source_arn: source_arn.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replicas::{State, Status};

    const A: &str = "111122223333";
    const B: &str = "444455556666";

    fn acct(a: &str) -> Account {
        Account::parse(a).unwrap()
    }

    /// The tutorial's policy for the replica in `region` of `account`,
    /// granting the listed replicas (region, account).
    fn steady(region: &str, account: &str, grant: &[(&str, &str)], join: &[&str]) -> Policy {
        let accounts: Vec<String> = grant.iter().map(|(_, a)| format!("\"{a}\"")).collect();
        let arns: Vec<String> = grant
            .iter()
            .map(|(r, a)| format!("\"{}\"", table_arn(r, acct(a), "MusicTable")))
            .collect();
        let me = table_arn(region, acct(account), "MusicTable");
        let joiners: Vec<String> = join.iter().map(|a| format!("\"{a}\"")).collect();
        let mut statements = vec![format!(
            r#"{{"Effect":"Allow","Action":["dynamodb:ReadDataForReplication","dynamodb:WriteDataForReplication","dynamodb:ReplicateSettings"],
               "Resource":"{me}","Principal":{{"Service":["{SERVICE}"]}},
               "Condition":{{"StringEquals":{{"aws:SourceAccount":[{}],"aws:SourceArn":[{}]}}}}}}"#,
            accounts.join(","),
            arns.join(",")
        )];
        if !join.is_empty() {
            statements.push(format!(
                r#"{{"Effect":"Allow","Action":"dynamodb:AssociateTableReplica","Resource":"{me}","Principal":{{"AWS":[{}]}}}}"#,
                joiners.join(",")
            ));
        }
        Policy::parse(&format!(r#"{{"Statement":[{}]}}"#, statements.join(",")))
    }

    fn table(owner: &str) -> TableDef {
        let mut d = crate::schema::test_table("MusicTable", &["us-east-2"]);
        d.owner = acct(owner);
        d
    }

    fn joined(mut d: TableDef, region: &str, account: &str) -> TableDef {
        d.replicas.push(region.to_string());
        d.replica_states.insert(
            region.to_string(),
            State {
                status: Status::Active,
                since: 1,
                cut: None,
                account: Some(acct(account)),
                kms_key: None,
            },
        );
        d
    }

    #[test]
    fn the_tutorials_two_accounts_join_and_replicate_both_ways() {
        let both = [("us-east-2", A), ("us-east-1", B)];
        let source = steady("us-east-2", A, &both, &[B]);
        let dest = steady("us-east-1", B, &both, &[]);
        let def = table(A);
        let policies = Policies::from([("us-east-2".to_string(), source.clone())]);
        check_join(&def, &policies, "us-east-1", acct(B), Some(&dest), 0).unwrap();
        // No policy of its own, or a policy that leaves a member out: refused.
        let e = check_join(&def, &policies, "us-east-1", acct(B), None, 0).unwrap_err();
        assert!(matches!(e, JoinRefused::Replication { .. }), "{e}");
        let narrow = steady("us-east-1", B, &[("us-east-1", B)], &[]);
        assert!(check_join(&def, &policies, "us-east-1", acct(B), Some(&narrow), 0).is_err());
        // A source that does not let the account in.
        let closed =
            Policies::from([("us-east-2".to_string(), steady("us-east-2", A, &both, &[]))]);
        let e = check_join(&def, &closed, "us-east-1", acct(B), Some(&dest), 0).unwrap_err();
        assert!(
            e.to_string().contains("dynamodb:AssociateTableReplica"),
            "{e}"
        );

        let def = joined(def, "us-east-1", B);
        assert!(multi_account(&def));
        assert_eq!(
            replica_arn(&def, "us-east-1"),
            "arn:aws:dynamodb:us-east-1:444455556666:table/MusicTable"
        );
        let mut policies = policies;
        policies.insert("us-east-1".into(), dest);
        assert!(pair(&def, &policies, "us-east-1", "us-east-2", 0));
        assert!(not_authorized(&def, &policies, 0).is_empty());
        // The destination takes its grant back: the pair stops, and the
        // destination is the replica not authorized.
        policies.insert("us-east-1".into(), Policy::parse(r#"{"Statement":[]}"#));
        assert!(!pair(&def, &policies, "us-east-2", "us-east-1", 0));
        assert_eq!(
            not_authorized(&def, &policies, 0),
            vec!["us-east-1".to_string()]
        );
    }

    #[test]
    fn a_same_account_table_replicates_unless_a_policy_denies_it() {
        let mut def = crate::schema::test_table("MusicTable", &["us-east-1", "eu-west-1"]);
        def.owner = acct(A);
        assert!(!multi_account(&def));
        let mut policies = Policies::new();
        assert!(pair(&def, &policies, "us-east-1", "eu-west-1", 0));
        policies.insert(
            "eu-west-1".into(),
            Policy::parse(&format!(
                r#"{{"Statement":[{{"Effect":"Deny","Principal":{{"AWS":"*"}},"Action":"dynamodb:WriteDataForReplication","Resource":"*",
                   "Condition":{{"StringEquals":{{"aws:PrincipalServiceName":"{SERVICE}"}},
                                 "DateLessThan":{{"aws:CurrentTime":"2027-01-01T00:00:00Z"}}}}}}]}}"#
            )),
        );
        let during = crate::utc::parse_rfc3339("2026-12-31T00:00:00Z").unwrap();
        let after = crate::utc::parse_rfc3339("2027-01-02T00:00:00Z").unwrap();
        assert!(!pair(&def, &policies, "us-east-1", "eu-west-1", during));
        assert_eq!(
            not_authorized(&def, &policies, during),
            vec!["eu-west-1".to_string()]
        );
        assert!(pair(&def, &policies, "us-east-1", "eu-west-1", after));
    }

    #[test]
    fn rows_read_back_as_written_and_odd_rows_are_refused() {
        let inc = Version::new(crate::Timestamp::new(5, 0), "us-east-2");
        let p = Stored {
            revision: "1700000000000".into(),
            document: "{}".into(),
        };
        assert_eq!(from_item(&item(&p, &inc)).unwrap(), (p, inc.clone()));
        let mut extra = item(
            &Stored {
                revision: "1".into(),
                document: "{}".into(),
            },
            &inc,
        );
        extra.insert("x".into(), AttrValue::S("y".into()));
        assert!(from_item(&extra).is_err());
        assert_eq!(
            region_of(&key("t", "eu-west-1").sort).as_deref(),
            Some("eu-west-1")
        );
    }
}
