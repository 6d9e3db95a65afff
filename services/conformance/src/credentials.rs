//! Credentials and the CA bundle, found where the AWS CLI finds them
//! (docs/conformance.md, *Credentials*): the environment, then the shared
//! credentials file, then the shared config file, for the profile
//! `--profile` or `AWS_PROFILE` names (`default` otherwise).
//!
//! A small reader rather than the `aws-config` crate: the checks need static
//! keys only, and `aws-config` would add the STS client (and SSO's, for
//! SSO profiles) to the shipped binary's build; docs/conformance.md weighs
//! the two. What the reader does not follow (a role to assume, SSO, a
//! credential process, web identity) is refused naming the file, the
//! profile and the key, with the AWS CLI command that exports such a
//! profile's credentials into the environment, never silently skipped.
//!
//! Everything reads the environment through a lookup function, so tests
//! give their own and never touch the process's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::ConfError;

/// Static credentials and where they were found.
#[derive(Clone)]
pub struct Creds {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// `environment` or `profile NAME in FILE`, for messages.
    pub source: String,
}

impl std::fmt::Debug for Creds {
    // Never prints the secret or the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Creds({} from {})", self.access_key_id, self.source)
    }
}

/// Keys that make the AWS CLI assume a role, use SSO or run a process for
/// a profile. The CLI prefers them over static keys (except
/// `credential_process`, which comes after the credentials file's keys);
/// this reader cannot do what they ask, so it refuses them.
const UNFOLLOWED: [&str; 6] = [
    "role_arn",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "sso_account_id",
    "credential_process",
];

/// One INI file as the AWS CLI reads it: `[section]`, `key = value` (or
/// `key: value`), whole-line `#` and `;` comments, indented lines nested
/// under the key before them (ignored: no nested setting is read here).
#[derive(Debug, Default)]
struct Ini {
    path: PathBuf,
    sections: HashMap<String, HashMap<String, String>>,
}

impl Ini {
    /// The file at `path`, or an empty one when it does not exist (as the
    /// CLI treats a missing file).
    fn load(path: &Path) -> Result<Ini, ConfError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ini::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ini {
                path: path.into(),
                ..Ini::default()
            }),
            Err(e) => Err(ConfError::Credentials(format!(
                "{}: cannot read: {e}",
                path.display()
            ))),
        }
    }

    fn parse(path: &Path, text: &str) -> Result<Ini, ConfError> {
        let bad = |line: usize, what: &str| {
            ConfError::Credentials(format!("{}, line {line}: {what}", path.display()))
        };
        let mut ini = Ini {
            path: path.into(),
            ..Ini::default()
        };
        let mut section: Option<String> = None;
        let mut in_key = false;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if raw.starts_with([' ', '\t']) && in_key {
                continue; // a nested value under the key before
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest
                    .strip_suffix(']')
                    .ok_or_else(|| bad(i + 1, "a section header without its closing `]`"))?
                    .trim()
                    .to_string();
                if ini.sections.contains_key(&name) {
                    return Err(bad(i + 1, &format!("section [{name}] appears twice")));
                }
                ini.sections.insert(name.clone(), HashMap::new());
                section = Some(name);
                in_key = false;
                continue;
            }
            let Some(at) = line.find(['=', ':']) else {
                return Err(bad(
                    i + 1,
                    "expected `key = value`, a [section] or a comment",
                ));
            };
            let Some(name) = &section else {
                return Err(bad(i + 1, "a setting before any [section]"));
            };
            let key = line[..at].trim().to_ascii_lowercase();
            let value = line[at + 1..].trim().to_string();
            if key.is_empty() {
                return Err(bad(i + 1, "a setting without a name"));
            }
            let entries = ini.sections.get_mut(name).expect("inserted above");
            if entries.insert(key.clone(), value).is_some() {
                return Err(bad(i + 1, &format!("`{key}` appears twice in [{name}]")));
            }
            in_key = true;
        }
        Ok(ini)
    }
}

/// The two shared files, read once, and the profile asked for.
struct Shared {
    profile: String,
    /// `--profile` or `AWS_PROFILE` named it (an unknown profile is then an
    /// error, as in the CLI).
    named: bool,
    credentials: Ini,
    config: Ini,
}

impl Shared {
    fn load(
        profile_flag: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Shared, ConfError> {
        let from_env = env("AWS_PROFILE").filter(|p| !p.is_empty());
        let named = profile_flag.is_some() || from_env.is_some();
        let profile = profile_flag
            .map(String::from)
            .or(from_env)
            .unwrap_or_else(|| "default".into());
        let path = |var: &str, file: &str| -> PathBuf {
            match env(var).filter(|p| !p.is_empty()) {
                Some(p) => expand_home(&p, env),
                // Without HOME the `~` stays, names no file, and the file
                // is taken as missing.
                None => expand_home(&format!("~/.aws/{file}"), env),
            }
        };
        Ok(Shared {
            credentials: Ini::load(&path("AWS_SHARED_CREDENTIALS_FILE", "credentials"))?,
            config: Ini::load(&path("AWS_CONFIG_FILE", "config"))?,
            profile,
            named,
        })
    }

    /// The profile's section in the credentials file (`[NAME]`).
    fn in_credentials(&self) -> Option<&HashMap<String, String>> {
        self.credentials.sections.get(&self.profile)
    }

    /// The profile's section in the config file (`[profile NAME]`, or
    /// `[default]` for the default profile).
    fn in_config(&self) -> Option<&HashMap<String, String>> {
        let prefixed = self
            .config
            .sections
            .get(&format!("profile {}", self.profile));
        if self.profile == "default" {
            prefixed.or_else(|| self.config.sections.get("default"))
        } else {
            prefixed
        }
    }

    /// The profile's keys from one file, both or neither; `None` when the
    /// section has no key at all.
    fn keys(
        &self,
        entries: Option<&HashMap<String, String>>,
        file: &Path,
    ) -> Result<Option<Creds>, ConfError> {
        let Some(entries) = entries else {
            return Ok(None);
        };
        let at = format!("profile {} in {}", self.profile, file.display());
        let get = |k: &str| entries.get(k).map(String::as_str);
        match (get("aws_access_key_id"), get("aws_secret_access_key")) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfError::Credentials(format!(
                "{at}: aws_access_key_id is set but aws_secret_access_key is missing"
            ))),
            (None, Some(_)) => Err(ConfError::Credentials(format!(
                "{at}: aws_secret_access_key is set but aws_access_key_id is missing"
            ))),
            (Some(id), Some(secret)) => Ok(Some(Creds {
                access_key_id: well_formed(id, "aws_access_key_id", &at)?,
                secret_access_key: well_formed(secret, "aws_secret_access_key", &at)?,
                session_token: get("aws_session_token")
                    .filter(|t| !t.is_empty())
                    .map(|t| well_formed(t, "aws_session_token", &at))
                    .transpose()?,
                source: at,
            })),
        }
    }

    /// A key the reader cannot follow, in the order the CLI would act on it.
    fn unfollowed(
        &self,
        entries: Option<&HashMap<String, String>>,
        file: &Path,
        keys: &[&str],
    ) -> Result<(), ConfError> {
        let Some(entries) = entries else {
            return Ok(());
        };
        match keys.iter().find(|k| entries.contains_key(**k)) {
            None => Ok(()),
            Some(k) => Err(ConfError::Credentials(format!(
                "profile {p} in {}: `{k}` asks for credentials this command does not fetch itself \
                 (it reads static keys only); export them first: \
                 eval \"$(aws configure export-credentials --profile {p} --format env)\"",
                file.display(),
                p = self.profile,
            ))),
        }
    }
}

/// `~/x` as the CLI expands it in a file setting.
fn expand_home(p: &str, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    match (p.strip_prefix("~/"), env("HOME").filter(|h| !h.is_empty())) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// A credential value: not empty, printable ASCII without spaces (what a
/// key id, a secret or a session token is made of).
fn well_formed(v: &str, field: &str, at: &str) -> Result<String, ConfError> {
    if v.is_empty() {
        return Err(ConfError::Credentials(format!("{at}: {field} is empty")));
    }
    // Where and what kind, never the character itself: no part of a
    // secret reaches an error.
    if let Some((i, c)) = v.chars().enumerate().find(|(_, c)| !c.is_ascii_graphic()) {
        let kind = if c.is_whitespace() {
            "white space"
        } else if c.is_control() {
            "a control character"
        } else {
            "a character outside ASCII"
        };
        return Err(ConfError::Credentials(format!(
            "{at}: {field} has {kind} at character {}, which no AWS credential contains \
             (a quote or a line pasted twice?)",
            i + 1
        )));
    }
    Ok(v.to_string())
}

/// The credentials the AWS CLI would use: `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` unless `--profile` was
/// given (an explicit profile outranks the environment in the CLI), then
/// the profile's keys in the credentials file, then in the config file.
pub fn resolve(
    profile_flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Creds, ConfError> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    if profile_flag.is_none() {
        match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => {
                let at = "the environment";
                return Ok(Creds {
                    access_key_id: well_formed(&id, "AWS_ACCESS_KEY_ID", at)?,
                    secret_access_key: well_formed(&secret, "AWS_SECRET_ACCESS_KEY", at)?,
                    session_token: var("AWS_SESSION_TOKEN")
                        .map(|t| well_formed(&t, "AWS_SESSION_TOKEN", at))
                        .transpose()?,
                    source: "environment".into(),
                });
            }
            (Some(_), None) => {
                return Err(ConfError::Credentials(
                    "the environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
                        .into(),
                ));
            }
            (None, Some(_)) => {
                return Err(ConfError::Credentials(
                    "the environment: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"
                        .into(),
                ));
            }
            (None, None) => {}
        }
    }
    let s = Shared::load(profile_flag, env)?;
    let (cred, conf) = (s.in_credentials(), s.in_config());
    if s.named && cred.is_none() && conf.is_none() {
        return Err(ConfError::Credentials(format!(
            "profile {} is in neither {} nor {}",
            s.profile,
            s.credentials.path.display(),
            s.config.path.display()
        )));
    }
    // The CLI's order: a role or SSO first, then the credentials file's
    // keys, then a credential process, then the config file's keys.
    let before = &UNFOLLOWED[..5];
    s.unfollowed(cred, &s.credentials.path, before)?;
    s.unfollowed(conf, &s.config.path, before)?;
    if let Some(c) = s.keys(cred, &s.credentials.path)? {
        return Ok(c);
    }
    s.unfollowed(cred, &s.credentials.path, &UNFOLLOWED[5..])?;
    s.unfollowed(conf, &s.config.path, &UNFOLLOWED[5..])?;
    if let Some(c) = s.keys(conf, &s.config.path)? {
        return Ok(c);
    }
    Err(ConfError::Credentials(format!(
        "no credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set{}, and profile {} has no \
         aws_access_key_id in {} or {} (instance and container roles are not read: docs/conformance.md)",
        if profile_flag.is_some() {
            " or not used (--profile)"
        } else {
            ""
        },
        s.profile,
        s.credentials.path.display(),
        s.config.path.display()
    )))
}

/// The CA bundle the AWS CLI would use: `--ca-bundle`, else
/// `AWS_CA_BUNDLE`, else the profile's `ca_bundle` in the config file.
/// Returns the path and the setting it came from.
pub fn ca_bundle(
    flag: Option<&Path>,
    profile_flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(PathBuf, String)>, ConfError> {
    if let Some(p) = flag {
        return Ok(Some((p.into(), "--ca-bundle".into())));
    }
    if let Some(p) = env("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) {
        return Ok(Some((expand_home(&p, env), "AWS_CA_BUNDLE".into())));
    }
    let s = Shared::load(profile_flag, env)?;
    Ok(s.in_config()
        .and_then(|c| c.get("ca_bundle"))
        .filter(|p| !p.is_empty())
        .map(|p| {
            (
                expand_home(p, env),
                format!(
                    "ca_bundle of profile {} in {}",
                    s.profile,
                    s.config.path.display()
                ),
            )
        }))
}

#[cfg(test)]
#[path = "credentials_tests.rs"]
mod tests;
