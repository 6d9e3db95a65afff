//! TLS for every client of a run (docs/conformance.md, *TLS*): rustls with
//! the ring provider, the one the workspace already builds for tonic and
//! rcgen (aws-lc would need cmake and build far slower).
//!
//! Trust is decided once, here, for the SDK's clients and the fault API's:
//! a CA bundle when one is set (`--ca-bundle`, `AWS_CA_BUNDLE` or the
//! profile's `ca_bundle`, which then replaces the system's roots, as it
//! does for the AWS CLI), else the system's roots, which `SSL_CERT_FILE`
//! and `SSL_CERT_DIR` replace (rustls-native-certs reads them).

use std::path::PathBuf;
use std::sync::Arc;

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::ConfError;

/// The roots every TLS connection of the run checks servers against.
#[derive(Clone)]
pub struct Trust {
    roots: Arc<RootCertStore>,
    /// The bundle's PEM, or `None` for the system's roots.
    bundle: Option<Vec<u8>>,
    /// Where the roots came from, for messages.
    pub described: String,
}

impl Trust {
    /// The bundle at `path` (`from` names the setting), or the system's
    /// roots. Every certificate is parsed here, so a bad bundle is an error
    /// naming the file (the SDK would panic on it) and an empty trust is
    /// refused before any connection.
    pub fn load(bundle: Option<(PathBuf, String)>) -> Result<Trust, ConfError> {
        let mut roots = RootCertStore::empty();
        let Some((path, from)) = bundle else {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let errors: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
                return Err(ConfError::Tls(format!(
                    "no trusted root certificates: the system's store (or SSL_CERT_FILE / SSL_CERT_DIR) \
                     has none{}; install the ca-certificates package or name a bundle with AWS_CA_BUNDLE",
                    if errors.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", errors.join("; "))
                    }
                )));
            }
            // rustls-native-certs reads these instead of the system's store.
            let replaced: Vec<String> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
                .iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v}")))
                .collect();
            let described = if replaced.is_empty() {
                format!("the system's {added} root certificates")
            } else {
                format!(
                    "{added} root certificate(s) from {}",
                    replaced.join(" and ")
                )
            };
            return Ok(Trust {
                roots: Arc::new(roots),
                bundle: None,
                described,
            });
        };
        let at = format!("{} ({from})", path.display());
        let pem =
            std::fs::read(&path).map_err(|e| ConfError::Tls(format!("CA bundle {at}: {e}")))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| ConfError::Tls(format!("CA bundle {at}: not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(ConfError::Tls(format!(
                "CA bundle {at}: no `-----BEGIN CERTIFICATE-----` block in it"
            )));
        }
        for (i, c) in certs.iter().enumerate() {
            roots.add(c.clone()).map_err(|e| {
                ConfError::Tls(format!(
                    "CA bundle {at}: certificate {} of {}: {e}",
                    i + 1,
                    certs.len()
                ))
            })?;
        }
        Ok(Trust {
            roots: Arc::new(roots),
            bundle: Some(pem),
            described: format!("{} certificate(s) from {at}", certs.len()),
        })
    }

    /// The SDK's HTTP client: `https` through rustls on ring with these
    /// roots, `http` in the clear.
    pub fn sdk_client(&self) -> aws_sdk_dynamodb::config::SharedHttpClient {
        let store = match &self.bundle {
            Some(pem) => TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(pem.clone()),
            None => TrustStore::empty().with_native_roots(true),
        };
        let context = TlsContext::builder()
            .with_trust_store(store)
            .build()
            .expect("a trust store without extra names always builds");
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .tls_context(context)
            .build_https()
    }

    /// A rustls client configuration for the fault API's own client.
    pub fn rustls_config(&self) -> Arc<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth();
        Arc::new(config)
    }
}

/// When an error's chain holds a certificate the roots refused, what to do
/// about it; `None` for any other error. The text, not the type, is matched
/// because the SDK's error nests rustls's inside I/O errors.
pub fn certificate_hint(error_text: &str, trust: &Trust) -> Option<String> {
    let t = error_text.to_ascii_lowercase();
    if t.contains("invalid peer certificate") && t.contains("not valid for name") {
        return Some(
            "the server's TLS certificate does not name the endpoint's host: use the host name it was \
             issued for in the URL"
                .into(),
        );
    }
    let refused = t.contains("invalid peer certificate")
        || t.contains("certificate") && t.contains("unknownissuer");
    refused.then(|| {
        format!(
            "the server's TLS certificate is not trusted (checked against {}); if it comes from a \
             private certificate authority, name that CA's PEM file with AWS_CA_BUNDLE or --ca-bundle",
            trust.described
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn a_bundle_is_read_and_a_bad_one_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, format!("{}{}", ca_pem(), ca_pem())).unwrap();
        let t = Trust::load(Some((good.clone(), "AWS_CA_BUNDLE".into()))).unwrap();
        assert_eq!(t.roots.len(), 2);
        assert!(
            t.described.contains("ca.pem (AWS_CA_BUNDLE)"),
            "{}",
            t.described
        );
        let _ = t.sdk_client();
        let _ = t.rustls_config();

        let cases = [
            (
                "empty.pem",
                "".to_string(),
                "no `-----BEGIN CERTIFICATE-----`",
            ),
            (
                "text.pem",
                "not a certificate\n".into(),
                "no `-----BEGIN CERTIFICATE-----`",
            ),
            (
                "broken.pem",
                "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".into(),
                "not PEM certificates",
            ),
            (
                "junk.pem",
                "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n".into(),
                "certificate 1 of 1",
            ),
        ];
        for (name, text, says) in cases {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            let e = Trust::load(Some((p, "--ca-bundle".into())))
                .err()
                .unwrap()
                .to_string();
            assert!(
                e.contains(name) && e.contains("--ca-bundle") && e.contains(says),
                "{name}: {e}"
            );
        }
        let e = Trust::load(Some((
            dir.path().join("absent.pem"),
            "AWS_CA_BUNDLE".into(),
        )))
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("absent.pem (AWS_CA_BUNDLE)"), "{e}");
    }

    #[test]
    fn only_a_refused_certificate_gets_the_hint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, ca_pem()).unwrap();
        let t = Trust::load(Some((p, "AWS_CA_BUNDLE".into()))).unwrap();
        let hint =
            certificate_hint("io error: invalid peer certificate: UnknownIssuer", &t).unwrap();
        assert!(
            hint.contains("AWS_CA_BUNDLE") && hint.contains("ca.pem"),
            "{hint}"
        );
        assert!(certificate_hint("connection refused (os error 111)", &t).is_none());
        let name = certificate_hint(
            "invalid peer certificate: certificate not valid for name \"127.0.0.1\"; certificate is only valid for DnsName(\"localhost\")",
            &t,
        )
        .unwrap();
        assert!(name.contains("does not name"), "{name}");
    }
}
