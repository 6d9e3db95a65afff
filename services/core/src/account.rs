//! AWS accounts, as the DynamoDB endpoint tells them apart: each request
//! belongs to the account its credentials name, and each replica of a
//! table to one account (a multi-account global table has one per
//! replica, docs/replicas.md).
//!
//! There is no IAM here, so an access key names its account by its own
//! form: an access key id of exactly twelve digits is that account's (the
//! convention LocalStack follows, so one set of test credentials works
//! with both); any other key, and an unsigned request, is the default
//! account, `000000000000`, the one every table belonged to before
//! accounts were told apart.

/// An AWS account id: twelve decimal digits, held as their number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Account(u64);

/// The account of a request whose credentials name none.
pub const DEFAULT: Account = Account(0);

/// The largest account id: twelve nines.
const MAX: u64 = 999_999_999_999;

impl Account {
    /// `text` as an account id: exactly twelve ASCII digits.
    pub fn parse(text: &str) -> Option<Account> {
        if text.len() != 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok().filter(|n| *n <= MAX).map(Account)
    }

    /// The account an access key id names: itself when it is twelve
    /// digits, else the default account.
    pub fn of_access_key(key: &str) -> Account {
        Account::parse(key).unwrap_or(DEFAULT)
    }

    /// The account of a request signed with SigV4: its `Authorization`
    /// header's credential (`Credential=<key>/<date>/...`), or the default
    /// account when it has none.
    pub fn of_authorization(header: Option<&str>) -> Account {
        header
            .and_then(crate::sigv4::credential_key)
            .map_or(DEFAULT, Account::of_access_key)
    }
}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:012}", self.0)
    }
}

/// A table's ARN: the one form every part of Meridian names a table by
/// in `region` of `account`.
pub fn table_arn(region: &str, account: Account, name: &str) -> String {
    format!("arn:aws:dynamodb:{region}:{account}:table/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_twelve_digit_access_key_names_its_account_and_any_other_the_default() {
        assert_eq!(
            Account::of_access_key("111122223333").to_string(),
            "111122223333"
        );
        assert_eq!(
            Account::of_access_key("000000000042").to_string(),
            "000000000042"
        );
        for other in [
            "AKIDEXAMPLE",
            "test",
            "11112222333",
            "1111222233334",
            "11112222333x",
            "",
        ] {
            assert_eq!(Account::of_access_key(other), DEFAULT, "{other}");
        }
        assert_eq!(DEFAULT.to_string(), "000000000000");
    }

    #[test]
    fn the_account_comes_from_the_credential_of_the_authorization_header() {
        let h = "AWS4-HMAC-SHA256 Credential=444455556666/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00";
        assert_eq!(
            Account::of_authorization(Some(h)).to_string(),
            "444455556666"
        );
        assert_eq!(Account::of_authorization(None), DEFAULT);
        assert_eq!(Account::of_authorization(Some("Bearer x")), DEFAULT);
        // The credential the signature is checked with, not a look-alike
        // component before it.
        let decoy = "AWS4-HMAC-SHA256 X-Credential=111122223333/x, Credential=AKID/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00";
        assert_eq!(Account::of_authorization(Some(decoy)), DEFAULT);
        assert_eq!(
            table_arn(
                "us-east-2",
                Account::parse("111122223333").unwrap(),
                "MusicTable"
            ),
            "arn:aws:dynamodb:us-east-2:111122223333:table/MusicTable"
        );
    }
}
