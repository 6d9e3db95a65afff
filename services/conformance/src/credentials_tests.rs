//! The reader against files written here and an environment given as a
//! map (never the process's own).

use super::*;

/// A home directory with `.aws/credentials` and `.aws/config` as given
/// (`None`: no such file), and the environment as `vars` plus HOME.
struct Home {
    dir: tempfile::TempDir,
    vars: HashMap<String, String>,
}

impl Home {
    fn new(credentials: Option<&str>, config: Option<&str>) -> Home {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".aws")).unwrap();
        if let Some(t) = credentials {
            std::fs::write(dir.path().join(".aws/credentials"), t).unwrap();
        }
        if let Some(t) = config {
            std::fs::write(dir.path().join(".aws/config"), t).unwrap();
        }
        let vars = HashMap::from([("HOME".to_string(), dir.path().display().to_string())]);
        Home { dir, vars }
    }

    fn set(mut self, k: &str, v: &str) -> Home {
        self.vars.insert(k.into(), v.into());
        self
    }

    fn resolve(&self, profile: Option<&str>) -> Result<Creds, ConfError> {
        resolve(profile, &|k| self.vars.get(k).cloned())
    }

    fn err(&self, profile: Option<&str>) -> String {
        self.resolve(profile).unwrap_err().to_string()
    }
}

const CREDS: &str = "\
# a comment
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = secretdefault

[work]
aws_access_key_id=AKIDWORK
aws_secret_access_key=secretwork
aws_session_token = tokenwork
";

#[test]
fn the_environment_comes_first_with_its_session_token() {
    let h = Home::new(Some(CREDS), None)
        .set("AWS_ACCESS_KEY_ID", "AKIDENV")
        .set("AWS_SECRET_ACCESS_KEY", "secretenv")
        .set("AWS_SESSION_TOKEN", "tokenenv")
        .set("AWS_PROFILE", "work");
    let c = h.resolve(None).unwrap();
    assert_eq!(
        (
            c.access_key_id.as_str(),
            c.secret_access_key.as_str(),
            c.session_token.as_deref()
        ),
        ("AKIDENV", "secretenv", Some("tokenenv"))
    );
    assert_eq!(c.source, "environment");
    // An explicit --profile outranks the environment, as in the CLI.
    let c = h.resolve(Some("work")).unwrap();
    assert_eq!(c.access_key_id, "AKIDWORK");
    assert_eq!(c.session_token.as_deref(), Some("tokenwork"));
    assert!(
        !format!("{c:?}").contains("secret"),
        "Debug hides the secret"
    );
}

#[test]
fn the_profile_comes_from_the_flag_then_aws_profile_then_default() {
    let h = Home::new(Some(CREDS), None);
    assert_eq!(h.resolve(None).unwrap().access_key_id, "AKIDDEFAULT");
    assert_eq!(h.resolve(None).unwrap().session_token, None);
    let h = h.set("AWS_PROFILE", "work");
    let c = h.resolve(None).unwrap();
    assert_eq!(c.access_key_id, "AKIDWORK");
    assert!(
        c.source.starts_with("profile work in ") && c.source.ends_with("credentials"),
        "{}",
        c.source
    );
    assert_eq!(
        h.resolve(Some("default")).unwrap().access_key_id,
        "AKIDDEFAULT"
    );
}

#[test]
fn the_config_file_is_read_after_the_credentials_file() {
    let config = "\
[default]
region = us-east-1
aws_access_key_id = AKIDCONFIGDEFAULT
aws_secret_access_key = s1
[profile cfg]
aws_access_key_id: AKIDCFG
aws_secret_access_key: s2
s3 =
    max_concurrent_requests = 20
";
    // The credentials file's default wins over the config file's.
    let h = Home::new(Some(CREDS), Some(config));
    assert_eq!(h.resolve(None).unwrap().access_key_id, "AKIDDEFAULT");
    let c = h.resolve(Some("cfg")).unwrap();
    assert_eq!(c.access_key_id, "AKIDCFG");
    assert!(c.source.ends_with("config"), "{}", c.source);
    // Only the config file.
    let h = Home::new(None, Some(config));
    assert_eq!(h.resolve(None).unwrap().access_key_id, "AKIDCONFIGDEFAULT");
}

#[test]
fn the_file_locations_follow_their_variables() {
    let h = Home::new(None, None);
    let other = h.dir.path().join("elsewhere-creds");
    let conf = h.dir.path().join("elsewhere-config");
    std::fs::write(
        &other,
        "[p]\naws_access_key_id = AKIDX\naws_secret_access_key = x\n",
    )
    .unwrap();
    std::fs::write(
        &conf,
        "[profile q]\naws_access_key_id = AKIDY\naws_secret_access_key = y\nca_bundle = ~/ca.pem\n",
    )
    .unwrap();
    let h = h
        .set("AWS_SHARED_CREDENTIALS_FILE", other.to_str().unwrap())
        .set("AWS_CONFIG_FILE", conf.to_str().unwrap());
    assert_eq!(h.resolve(Some("p")).unwrap().access_key_id, "AKIDX");
    assert_eq!(h.resolve(Some("q")).unwrap().access_key_id, "AKIDY");
    let env = |k: &str| h.vars.get(k).cloned();
    let (path, from) = ca_bundle(None, Some("q"), &env).unwrap().unwrap();
    assert_eq!(path, h.dir.path().join("ca.pem"), "~ expanded");
    assert!(from.contains("ca_bundle of profile q"), "{from}");
    // AWS_CA_BUNDLE outranks the profile, --ca-bundle outranks both.
    let h = h.set("AWS_CA_BUNDLE", "/env/ca.pem");
    let env = |k: &str| h.vars.get(k).cloned();
    assert_eq!(
        ca_bundle(None, Some("q"), &env).unwrap().unwrap(),
        ("/env/ca.pem".into(), "AWS_CA_BUNDLE".into())
    );
    let flag = Path::new("/flag/ca.pem");
    assert_eq!(
        ca_bundle(Some(flag), Some("q"), &env).unwrap().unwrap().1,
        "--ca-bundle"
    );
    let none = Home::new(None, None);
    assert_eq!(
        ca_bundle(None, None, &|k| none.vars.get(k).cloned()).unwrap(),
        None
    );
}

#[test]
fn a_missing_or_partial_credential_names_the_file_profile_and_field() {
    let h = Home::new(Some("[default]\naws_access_key_id = AKID\n"), None);
    let e = h.err(None);
    assert!(
        e.contains("profile default in ")
            && e.contains(".aws/credentials")
            && e.contains("aws_secret_access_key is missing"),
        "{e}"
    );
    let h = Home::new(Some("[default]\naws_secret_access_key = s\n"), None);
    assert!(h.err(None).contains("aws_access_key_id is missing"));
    let h = Home::new(
        Some("[default]\naws_access_key_id =\naws_secret_access_key = s\n"),
        None,
    );
    assert!(
        h.err(None).contains("aws_access_key_id is empty"),
        "{}",
        h.err(None)
    );
    let h = Home::new(
        Some("[default]\naws_access_key_id = \"AKID\"x y\naws_secret_access_key = s\n"),
        None,
    );
    let e = h.err(None);
    assert!(
        e.contains("aws_access_key_id has white space at character"),
        "{e}"
    );
    let h = Home::new(None, None).set("AWS_ACCESS_KEY_ID", "AKID");
    assert!(
        h.err(None).contains("AWS_SECRET_ACCESS_KEY is not"),
        "{}",
        h.err(None)
    );
    let h = Home::new(None, None).set("AWS_SECRET_ACCESS_KEY", "s");
    assert!(h.err(None).contains("AWS_ACCESS_KEY_ID is not"));
    // Nothing anywhere.
    let h = Home::new(None, None);
    let e = h.err(None);
    assert!(
        e.contains("no credentials") && e.contains("profile default") && e.contains(".aws/config"),
        "{e}"
    );
    // A named profile that no file has.
    let h = Home::new(Some(CREDS), None).set("AWS_PROFILE", "nope");
    let e = h.err(None);
    assert!(
        e.contains("profile nope is in neither") && e.contains(".aws/credentials"),
        "{e}"
    );
}

#[test]
fn malformed_files_are_refused_with_the_line() {
    for (text, says) in [
        (
            "aws_access_key_id = x\n",
            "line 1: a setting before any [section]",
        ),
        (
            "[default\n",
            "line 1: a section header without its closing `]`",
        ),
        ("[default]\njust words\n", "line 2: expected `key = value`"),
        (
            "[default]\n[default]\n",
            "line 2: section [default] appears twice",
        ),
        ("[a]\nk = 1\nK = 2\n", "line 3: `k` appears twice in [a]"),
        ("[a]\n= 1\n", "line 2: a setting without a name"),
    ] {
        let h = Home::new(Some(text), None);
        let e = h.err(None);
        assert!(
            e.contains(".aws/credentials") && e.contains(says),
            "{text:?}: {e}"
        );
    }
}

#[test]
fn roles_sso_and_processes_are_refused_not_skipped() {
    // A role in the config file outranks the credentials file's keys in
    // the CLI: refused rather than silently using the keys.
    let config =
        "[profile admin]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = default\n";
    let h = Home::new(Some(CREDS), Some(config));
    let e = h.err(Some("admin"));
    assert!(
        e.contains("profile admin in ")
            && e.contains(".aws/config")
            && e.contains("`role_arn`")
            && e.contains("aws configure export-credentials --profile admin"),
        "{e}"
    );
    let h = Home::new(None, Some("[default]\nsso_session = corp\n"));
    assert!(h.err(None).contains("`sso_session`"));
    // A credential process comes after the credentials file's keys.
    let h = Home::new(
        Some(CREDS),
        Some("[default]\ncredential_process = /bin/creds\n"),
    );
    assert_eq!(h.resolve(None).unwrap().access_key_id, "AKIDDEFAULT");
    let h = Home::new(None, Some("[default]\ncredential_process = /bin/creds\n"));
    assert!(h.err(None).contains("`credential_process`"));
}
