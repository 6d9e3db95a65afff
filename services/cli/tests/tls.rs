//! `meridian conformance` over HTTPS (docs/conformance.md, *TLS*): a
//! three-region `meridian up` behind a TLS terminator made here (a small
//! tokio-rustls proxy per endpoint, its certificate for `localhost` issued
//! by a certificate authority rcgen makes for the test), the CA trusted
//! through `AWS_CA_BUNDLE` as the AWS CLI trusts one, credentials read from
//! a shared credentials file by profile, and the regions demanding SigV4
//! signatures with that key (`dynamodb_keys`), so the credentials matter.
//! Without the CA trusted, the run stops at once on the certificate.
//!
//! Every variable the child reads is set on the child, never on this
//! process (tests share its environment).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use meridian_cluster::ports::free_port;
use meridian_region::ClusterFile;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};

#[allow(dead_code)]
use crate::common;
#[allow(dead_code)]
use crate::up;
use up::{Daemon, REGIONS, cluster};

const KEY_ID: &str = "AKIDTLSTEST";
const SECRET: &str = "tls-test-secret";

/// A CA's PEM and a server configuration for `localhost` it issued.
struct Pki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn ca_params(name: &str) -> rcgen::CertificateParams {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    p
}

fn make_pki(name: &str) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_pem = ca_params(name).self_signed(&ca_key).unwrap().pem();
    let issuer = rcgen::Issuer::new(ca_params(name), ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    Pki {
        ca_pem,
        server: Arc::new(server),
    }
}

/// A TLS terminator on a loopback port: each connection's TLS is taken
/// off and its bytes carried to and from `backend`. Runs until the test's
/// runtime ends.
async fn terminator(server: Arc<rustls::ServerConfig>, backend: SocketAddr) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A refused handshake (the untrusted case) just ends here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Ok(mut back) = TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut back).await;
                }
            });
        }
    });
    port
}

/// `meridian conformance ARGS` with only the environment given (plus
/// PATH), its exit code and its output.
async fn conformance(
    args: &[String],
    env: &[(&str, &Path)],
    vars: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_meridian"));
    cmd.arg("conformance")
        .args(args)
        .env_clear()
        .stdin(Stdio::null());
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("meridian conformance within 300 s")
        .expect("run meridian conformance");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_runs_over_https_with_a_private_ca_and_profile_credentials() {
    let c = cluster(false);
    let mut file = ClusterFile::load(&c.config).unwrap();
    for r in &mut file.regions {
        r.dynamo = Some(([127, 0, 0, 1], free_port().unwrap()).into());
    }
    file.dynamodb_keys.insert(KEY_ID.into(), SECRET.into());
    file.write(&c.config).unwrap();
    let dynamo: Vec<SocketAddr> = file.regions.iter().map(|r| r.dynamo.unwrap()).collect();
    let _up = Daemon::start(
        &["up", "--no-dashboard"],
        &c.config,
        c.dir.path().join("up.log"),
    );
    common::connected(&c.grpc).await;
    for a in &dynamo {
        common::poll(&format!("{a} to listen"), || async {
            TcpStream::connect(a).await.is_ok()
        })
        .await;
    }

    let pki = make_pki("Meridian conformance test CA");
    let dir = c.dir.path();
    let ca = write(dir, "ca.pem", &pki.ca_pem);
    let mut args = Vec::new();
    for (name, addr) in REGIONS.iter().zip(&dynamo) {
        let port = terminator(pki.server.clone(), *addr).await;
        args.push(format!("--endpoint={name}=https://localhost:{port}"));
    }
    let api = terminator(pki.server.clone(), ([127, 0, 0, 1], c.api).into()).await;
    args.push(format!("--toxiproxy=https://localhost:{api}"));
    // The SDK's clients (DynamoDB, Streams) and the fault API's, all over TLS.
    for check in [
        "replication",
        "stale-consistent-read",
        "streams-of-replicas",
    ] {
        args.push(format!("--only={check}"));
    }
    args.extend(["--samples=10", "--timeout-secs=60", "--json"].map(String::from));

    let credentials = write(
        dir,
        "credentials",
        &format!(
            "[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = wrong\n\n[tls-test]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
        ),
    );
    let files = [
        ("HOME", dir),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.as_path()),
        ("AWS_CA_BUNDLE", ca.as_path()),
    ];

    // The default profile's key is not the cluster's: refused before any
    // check, naming the endpoint (so the right profile is what passes).
    let (code, out, err) = conformance(&args, &files, &[]).await;
    eprintln!("default profile: {err}");
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("us-east-1=https://localhost:")
            && err.contains("did not get through")
            && err.contains("UnrecognizedClientException"),
        "{err}"
    );

    let (code, out, err) = conformance(&args, &files, &[("AWS_PROFILE", "tls-test")]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect(&out);
    let results = report["results"].as_array().unwrap();
    let passed: Vec<&str> = results
        .iter()
        .filter(|r| r["outcome"] == "PASS")
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        passed,
        [
            "replication",
            "stale-consistent-read",
            "streams-of-replicas"
        ],
        "{out}"
    );
    assert!(
        report["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e.as_str().unwrap().contains("=https://localhost:")),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_ca_trusted_the_certificate_is_refused_clearly() {
    // No cluster is needed: the handshake fails before any request.
    let pki = make_pki("Meridian conformance test CA");
    let other = make_pki("Some other CA");
    let dir = tempfile::tempdir().unwrap();
    let other_pem = write(dir.path(), "other.pem", &other.ca_pem);
    let port = terminator(pki.server.clone(), ([127, 0, 0, 1], 9).into()).await;
    let args = vec![
        format!("--endpoint=us-east-1=https://localhost:{port}"),
        "--only=replication".to_string(),
    ];
    let creds = [
        ("AWS_ACCESS_KEY_ID", KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
    ];
    let home = [("HOME", dir.path())];
    // Another CA named by AWS_CA_BUNDLE, then by SSL_CERT_FILE (which
    // replaces the system's roots): neither issued the server's certificate.
    for setting in ["AWS_CA_BUNDLE", "SSL_CERT_FILE"] {
        let env = [home[0], (setting, other_pem.as_path())];
        let (code, out, err) = conformance(&args, &env, &creds).await;
        eprintln!("{setting}: {err}");
        assert_eq!(code, Some(1), "{setting}: {out}{err}");
        assert!(
            err.contains(&format!("us-east-1=https://localhost:{port}"))
                && err.contains("certificate is not trusted")
                && err.contains("AWS_CA_BUNDLE")
                && err.contains("UnknownIssuer"),
            "{setting}: {err}"
        );
        assert!(err.contains("other.pem"), "says what was trusted: {err}");
    }
    // The right CA, but a host the certificate does not name.
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
    let by_ip = vec![format!("--endpoint=us-east-1=https://127.0.0.1:{port}")];
    let env = [home[0], ("AWS_CA_BUNDLE", ca.as_path())];
    let (code, out, err) = conformance(&by_ip, &env, &creds).await;
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("does not name the endpoint's host"), "{err}");
    // The system's roots alone do not know a private CA either.
    let (code, out, err) = conformance(&args, &home, &creds).await;
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("certificate is not trusted") || err.contains("no trusted root certificates"),
        "{err}"
    );
}
