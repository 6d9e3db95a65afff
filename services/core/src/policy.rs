//! Resource-based policies evaluated as IAM evaluates them, for the one
//! caller Meridian decides anything for: DynamoDB's replication service
//! (`replicas::authorize`), and an account joining a table's replicas.
//!
//! The rule is IAM's: an explicit `Deny` that matches wins; else an
//! `Allow` that matches allows; else nothing is granted. A statement
//! matches when its principal, action, resource and every condition do.
//!
//! What is read of a document: `Effect` (`Allow`, `Deny`), `Principal`
//! (`"*"`, `{"AWS": ...}` with account ids, root ARNs or `"*"`,
//! `{"Service": ...}`), `Action` and `NotAction` (with `*` and `?`,
//! case-insensitive), `Resource` and `NotResource` (with wildcards), and
//! `Condition` with the operators `StringEquals`, `StringNotEquals`,
//! `StringEqualsIgnoreCase`, `StringLike`, `StringNotLike`, `ArnEquals`,
//! `ArnLike`, `ArnNotEquals`, `ArnNotLike`, `DateLessThan`,
//! `DateLessThanEquals`, `DateGreaterThan`, `DateGreaterThanEquals`, each
//! also with `IfExists`. A statement with anything else in its place (an
//! unknown operator, a malformed principal) never matches: it neither
//! allows nor denies, so a policy Meridian cannot read grants nothing.

use serde_json::Value as Json;

use crate::account::Account;

/// Who asks.
#[derive(Clone, Copy, Debug)]
pub enum Caller<'a> {
    /// An AWS service principal, such as `replication.dynamodb.amazonaws.com`.
    Service(&'a str),
    /// An account's principal.
    Account(Account),
}

/// One request to decide.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub caller: Caller<'a>,
    /// `dynamodb:<Action>`.
    pub action: &'a str,
    /// The ARN of the resource the policy is attached to.
    pub resource: &'a str,
    /// Condition keys and their values (`aws:SourceAccount`, ...), keys
    /// case-insensitive; `aws:CurrentTime` comes from `now_micros`.
    pub context: &'a [(&'a str, &'a str)],
    /// Wall-clock µs since the epoch.
    pub now_micros: u64,
}

/// What a policy says of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    /// No statement matches: not granted.
    Neither,
}

/// A policy document as read.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    statements: Vec<Json>,
}

impl Policy {
    /// `text`'s statements; a text that is not a JSON object with a
    /// `Statement` has none, and grants nothing.
    pub fn parse(text: &str) -> Policy {
        let statements = match serde_json::from_str::<Json>(text) {
            Ok(Json::Object(mut doc)) => match doc.remove("Statement") {
                Some(Json::Array(list)) => list,
                Some(one @ Json::Object(_)) => vec![one],
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        Policy { statements }
    }

    /// The policy's decision on `req`.
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        let mut allowed = false;
        for s in &self.statements {
            match applies(s, req) {
                Some(true) => return Decision::Deny,
                Some(false) => allowed = true,
                None => {}
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::Neither
        }
    }
}

/// Whether statement `s` matches `req`: `Some(true)` a matching `Deny`,
/// `Some(false)` a matching `Allow`, `None` no match.
fn applies(s: &Json, req: &Request<'_>) -> Option<bool> {
    let deny = match s.get("Effect")?.as_str()? {
        "Deny" => true,
        "Allow" => false,
        _ => return None,
    };
    // A statement naming the principals it does not apply to is not read.
    if s.get("NotPrincipal").is_some() {
        return None;
    }
    let matched = principal(s.get("Principal")?, req.caller)?
        && listed(s, "Action", "NotAction", |p| {
            wildcard(&p.to_ascii_lowercase(), &req.action.to_ascii_lowercase())
        })?
        && listed(s, "Resource", "NotResource", |p| wildcard(p, req.resource))?
        && conditions(s.get("Condition"), req)?;
    matched.then_some(deny)
}

/// A JSON string or list of strings.
fn strings(v: &Json) -> Option<Vec<&str>> {
    match v {
        Json::String(s) => Some(vec![s.as_str()]),
        Json::Array(a) => a.iter().map(Json::as_str).collect(),
        _ => None,
    }
}

/// `Principal`: whether it names the caller (`None`: unreadable).
fn principal(p: &Json, caller: Caller<'_>) -> Option<bool> {
    if p.as_str() == Some("*") {
        return Some(true);
    }
    let map = p.as_object()?;
    let mut named = false;
    for (kind, v) in map {
        let values = strings(v)?;
        named |= match (kind.as_str(), caller) {
            ("AWS", _) if values.contains(&"*") => true,
            ("AWS", Caller::Account(a)) => values.iter().any(|v| {
                let id = v
                    .strip_prefix("arn:aws:iam::")
                    .and_then(|r| r.strip_suffix(":root"))
                    .unwrap_or(v);
                Account::parse(id) == Some(a)
            }),
            ("Service", Caller::Service(name)) => values.contains(&name),
            ("AWS" | "Service" | "Federated" | "CanonicalUser", _) => false,
            _ => return None,
        };
    }
    Some(named)
}

/// `Action`/`NotAction` (or `Resource`/`NotResource`): whether the
/// request's falls under it. A statement naming neither, or both, is not
/// read, as IAM refuses it.
fn listed(s: &Json, yes: &str, not: &str, hit: impl Fn(&str) -> bool) -> Option<bool> {
    match (s.get(yes), s.get(not)) {
        (Some(v), None) => Some(strings(v)?.into_iter().any(&hit)),
        (None, Some(v)) => Some(!strings(v)?.into_iter().any(&hit)),
        _ => None,
    }
}

/// The condition operators read, without `IfExists`.
const OPERATORS: [&str; 14] = [
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "DateEquals",
];

/// IAM's ARN match: six `:`-separated fields (the last may hold `:`), each
/// matched with wildcards within itself.
fn arn_like(pattern: &str, arn: &str) -> bool {
    let (p, a): (Vec<&str>, Vec<&str>) = (
        pattern.splitn(6, ':').collect(),
        arn.splitn(6, ':').collect(),
    );
    p.len() == 6 && a.len() == 6 && p.iter().zip(&a).all(|(p, a)| wildcard(p, a))
}

/// IAM's wildcards: `*` any run of characters, `?` any one.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Every condition of the block holds (`None`: unreadable).
fn conditions(block: Option<&Json>, req: &Request<'_>) -> Option<bool> {
    let Some(block) = block else {
        return Some(true);
    };
    for (op, keys) in block.as_object()? {
        let (op, if_exists) = match op.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (op.as_str(), false),
        };
        // An operator not read makes the statement unread, whatever keys
        // the request has.
        if !OPERATORS.contains(&op) {
            return None;
        }
        for (key, values) in keys.as_object()? {
            let values = strings(values)?;
            let held = match context_value(req, key) {
                None if if_exists => true,
                None => op.contains("Not"),
                Some(actual) => test(op, &values, &actual)?,
            };
            if !held {
                return Some(false);
            }
        }
    }
    Some(true)
}

/// The request's value of condition key `key`.
fn context_value(req: &Request<'_>, key: &str) -> Option<String> {
    if key.eq_ignore_ascii_case("aws:CurrentTime") {
        return Some(crate::utc::format_millis(req.now_micros) + "Z");
    }
    req.context
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.to_string())
}

/// Condition operator `op` on the request's `actual` value against the
/// statement's `values` (any of them); `None` for an operator not read.
fn test(op: &str, values: &[&str], actual: &str) -> Option<bool> {
    let any = |f: &dyn Fn(&str) -> bool| values.iter().any(|v| f(v));
    if let Some(compare) = op.strip_prefix("Date") {
        let at = crate::utc::parse_rfc3339(actual)?;
        let held: fn(u64, u64) -> bool = match compare {
            "LessThan" => |at, d| at < d,
            "LessThanEquals" => |at, d| at <= d,
            "GreaterThan" => |at, d| at > d,
            "GreaterThanEquals" => |at, d| at >= d,
            "Equals" => |at, d| at == d,
            _ => return None,
        };
        return Some(any(&|v| {
            crate::utc::parse_rfc3339(v).is_some_and(|d| held(at, d))
        }));
    }
    Some(match op {
        "StringEquals" => any(&|v| v == actual),
        "StringNotEquals" => !any(&|v| v == actual),
        "StringEqualsIgnoreCase" => any(&|v| v.eq_ignore_ascii_case(actual)),
        "StringLike" => any(&|v| wildcard(v, actual)),
        "StringNotLike" => !any(&|v| wildcard(v, actual)),
        // IAM compares ARNs field by field, each with wildcards.
        "ArnEquals" | "ArnLike" => any(&|v| arn_like(v, actual)),
        "ArnNotEquals" | "ArnNotLike" => !any(&|v| arn_like(v, actual)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "replication.dynamodb.amazonaws.com";
    const ARN_A: &str = "arn:aws:dynamodb:us-east-2:111122223333:table/MusicTable";
    const ARN_B: &str = "arn:aws:dynamodb:us-east-1:444455556666:table/MusicTable";

    /// The developer guide's tutorial policy of the source table.
    fn tutorial() -> Policy {
        Policy::parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":[
            {{"Sid":"DynamoDBActionsNeededForSteadyStateReplication","Effect":"Allow",
              "Action":["dynamodb:ReadDataForReplication","dynamodb:WriteDataForReplication","dynamodb:ReplicateSettings"],
              "Resource":"{ARN_A}","Principal":{{"Service":["{SERVICE}"]}},
              "Condition":{{"StringEquals":{{"aws:SourceAccount":["444455556666","111122223333"],
                                            "aws:SourceArn":["{ARN_B}","{ARN_A}"]}}}}}},
            {{"Sid":"AllowTrustedAccountsToJoinThisGlobalTable","Effect":"Allow",
              "Action":["dynamodb:AssociateTableReplica"],"Resource":"{ARN_A}",
              "Principal":{{"AWS":["444455556666"]}}}}]}}"#
        ))
    }

    fn replication<'a>(action: &'a str, ctx: &'a [(&'a str, &'a str)]) -> Request<'a> {
        Request {
            caller: Caller::Service(SERVICE),
            action,
            resource: ARN_A,
            context: ctx,
            now_micros: 1_800_000_000_000_000,
        }
    }

    #[test]
    fn the_tutorials_policy_allows_its_replicas_and_no_one_else() {
        let p = tutorial();
        let b = [
            ("aws:SourceAccount", "444455556666"),
            ("aws:SourceArn", ARN_B),
        ];
        for action in [
            "dynamodb:ReadDataForReplication",
            "dynamodb:WriteDataForReplication",
        ] {
            assert_eq!(
                p.decide(&replication(action, &b)),
                Decision::Allow,
                "{action}"
            );
        }
        let stranger = [
            ("aws:SourceAccount", "777788889999"),
            (
                "aws:SourceArn",
                "arn:aws:dynamodb:eu-west-1:777788889999:table/MusicTable",
            ),
        ];
        let read = "dynamodb:ReadDataForReplication";
        assert_eq!(p.decide(&replication(read, &stranger)), Decision::Neither);
        // The account may join; another may not; the service may not join.
        let join = |caller| Request {
            caller,
            action: "dynamodb:AssociateTableReplica",
            resource: ARN_A,
            context: &[],
            now_micros: 0,
        };
        let b_account = Account::parse("444455556666").unwrap();
        let other = Account::parse("777788889999").unwrap();
        assert_eq!(p.decide(&join(Caller::Account(b_account))), Decision::Allow);
        assert_eq!(p.decide(&join(Caller::Account(other))), Decision::Neither);
        assert_eq!(p.decide(&join(Caller::Service(SERVICE))), Decision::Neither);
        // Another resource is not this policy's.
        let elsewhere = Request {
            resource: ARN_B,
            ..replication(read, &b)
        };
        assert_eq!(p.decide(&elsewhere), Decision::Neither);
    }

    #[test]
    fn fis_pause_statement_denies_until_its_time() {
        // AWS FIS's pause-replication statement, as its actions reference
        // shows it, ending at 2027-01-15T08:00:00Z.
        let p = Policy::parse(&format!(
            r#"{{"Statement":[{{"Sid":"DoNotModifyFisDynamoDbPauseReplicationEXP1ServicePrincipal",
              "Effect":"Deny","Principal":{{"AWS":"*"}},
              "Action":["dynamodb:ReadDataForReplication","dynamodb:WriteDataForReplication"],
              "Resource":"{ARN_A}",
              "Condition":{{"StringEquals":{{"aws:PrincipalServiceName":"{SERVICE}"}},
                            "DateLessThan":{{"aws:CurrentTime":"2027-01-15T08:00:00Z"}}}}}}]}}"#
        ));
        let ctx = [("aws:PrincipalServiceName", SERVICE)];
        let before = crate::utc::parse_rfc3339("2027-01-15T07:59:59Z").unwrap();
        let after = crate::utc::parse_rfc3339("2027-01-15T08:00:00Z").unwrap();
        let at = |now_micros| Request {
            now_micros,
            ..replication("dynamodb:WriteDataForReplication", &ctx)
        };
        assert_eq!(p.decide(&at(before)), Decision::Deny);
        assert_eq!(p.decide(&at(after)), Decision::Neither);
    }

    #[test]
    fn a_deny_beats_an_allow_and_an_unreadable_statement_grants_nothing() {
        let p = Policy::parse(
            r#"{"Statement":[
              {"Effect":"Allow","Principal":"*","Action":"dynamodb:*","Resource":"*"},
              {"Effect":"Deny","Principal":"*","NotAction":"dynamodb:Read*","Resource":"arn:aws:dynamodb:*:*:table/Music*"}]}"#,
        );
        let read = replication("dynamodb:ReadDataForReplication", &[]);
        assert_eq!(p.decide(&read), Decision::Allow);
        let write = replication("dynamodb:WriteDataForReplication", &[]);
        assert_eq!(p.decide(&write), Decision::Deny);
        let odd = Policy::parse(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*",
                "Condition":{"NumericLessThan":{"x":"1"}}}]}"#,
        );
        assert_eq!(odd.decide(&read), Decision::Neither);
        // An operator not read, with IfExists and its key absent, still
        // leaves the statement unread; so does a statement without Action.
        let guard = Policy::parse(
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*",
                "Condition":{"BoolIfExists":{"aws:SecureTransport":"false"}}},
              {"Effect":"Deny","Principal":"*","Resource":"*"}]}"#,
        );
        assert_eq!(guard.decide(&read), Decision::Neither);
        assert_eq!(Policy::parse("not json").decide(&read), Decision::Neither);
        // A key absent from the request: a plain operator fails, IfExists holds.
        let if_exists = Policy::parse(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*",
                "Condition":{"StringEqualsIfExists":{"aws:SourceVpc":"vpc-1"}}}]}"#,
        );
        assert_eq!(if_exists.decide(&read), Decision::Allow);
    }

    #[test]
    fn wildcards_match_as_iam_matches_them() {
        assert!(wildcard("dynamodb:*", "dynamodb:PutItem"));
        assert!(wildcard("*", ""));
        assert!(wildcard("a?c*e", "abcde"));
        assert!(!wildcard("a?c", "ac"));
        assert!(!wildcard("table/Music", "table/MusicTable"));
    }
}
