//! Mutual TLS between regions.
//!
//! A cluster has one certificate authority of its own and one certificate
//! per region, issued by [`issue`] (`meridian certs`). A region's identity
//! is the region's name as a DNS name in its certificate: that one rule
//! binds a connection to a region both ways. A region dialling a peer
//! checks the peer's certificate for the peer's name (the TLS server name),
//! and a region accepting a stream checks the caller's certificate for the
//! region its `Hello` (or repair call) claims ([`certifies`]), so a member
//! of the cluster cannot speak as another, and nobody without a certificate
//! of the cluster's authority gets past the handshake.
//!
//! Only replication and repair travel over TLS: they have their own
//! listener (`replication` in the cluster file), apart from the client API.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("creating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Where a region finds its certificate authority, certificate and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The file names in a certificate directory: `ca.pem`, `ca.key`,
/// `<region>.pem`, `<region>.key`.
pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";

/// How long a TLS handshake may take, either way.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl TlsFiles {
    /// Region `region`'s files in the cluster's certificate directory.
    pub fn in_dir(dir: &Path, region: &str) -> Self {
        TlsFiles {
            ca: dir.join(CA_CERT),
            cert: dir.join(format!("{region}.pem")),
            key: dir.join(format!("{region}.key")),
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(TlsError::Invalid {
            path: path.to_path_buf(),
            message: "not a PEM file".into(),
        });
    }
    Ok(bytes)
}

/// The replication listener's TLS: this region's certificate, and callers
/// must present one issued by the cluster's authority.
pub fn server_config(files: &TlsFiles) -> Result<ServerTlsConfig, TlsError> {
    let identity = Identity::from_pem(read(&files.cert)?, read(&files.key)?);
    Ok(ServerTlsConfig::new()
        .identity(identity)
        .client_ca_root(Certificate::from_pem(read(&files.ca)?))
        // A caller that opens a connection and never finishes the handshake
        // does not hold it for longer than this.
        .timeout(HANDSHAKE_TIMEOUT))
}

/// TLS for dialling `peer`: the peer must show a certificate of the
/// cluster's authority for its own name, and this region shows its own.
pub fn client_config(files: &TlsFiles, peer: &str) -> Result<ClientTlsConfig, TlsError> {
    let identity = Identity::from_pem(read(&files.cert)?, read(&files.key)?);
    Ok(ClientTlsConfig::new()
        .timeout(HANDSHAKE_TIMEOUT)
        .domain_name(peer)
        .ca_certificate(Certificate::from_pem(read(&files.ca)?))
        .identity(identity))
}

/// Whether the DER certificate `der` (already verified against the
/// cluster's authority by the handshake) names region `region`.
pub fn certifies(der: &[u8], region: &str) -> bool {
    let Ok(name) = rustls_pki_types::ServerName::try_from(region) else {
        return false;
    };
    let der = rustls_pki_types::CertificateDer::from(der);
    match webpki::EndEntityCert::try_from(&der) {
        Ok(cert) => cert.verify_is_valid_for_subject_name(&name).is_ok(),
        Err(_) => false,
    }
}

/// The certificate a caller showed in the TLS handshake, if any: taken
/// from a request before its body is consumed, checked once the caller has
/// said which region it is.
pub(crate) struct CallerCert(Option<rustls_pki_types::CertificateDer<'static>>);

impl CallerCert {
    pub fn of<T>(req: &tonic::Request<T>) -> Self {
        CallerCert(req.peer_certs().and_then(|c| c.first().cloned()))
    }

    /// Whether the caller may speak as region `claimed`: on a TLS listener
    /// (`tls` set) only with a certificate for that name; without TLS,
    /// names are trusted.
    #[allow(clippy::result_large_err)]
    pub fn check(&self, tls: Option<&TlsFiles>, claimed: &str) -> Result<(), tonic::Status> {
        if tls.is_none() {
            return Ok(());
        }
        match &self.0 {
            Some(cert) if certifies(cert, claimed) => Ok(()),
            Some(_) => Err(tonic::Status::permission_denied(format!(
                "the caller's certificate is not for region {claimed:?}: a region speaks only under its own name"
            ))),
            None => Err(tonic::Status::unauthenticated(format!(
                "region {claimed:?} showed no certificate: the replication listener takes only the cluster's regions"
            ))),
        }
    }
}

/// The certificate authority's fixed parameters: rebuilt the same way each
/// time, so certificates issued later chain to the stored CA certificate
/// (its subject and key identifier come from these and the stored key).
fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name
        .push(DnType::CommonName, "Meridian cluster CA");
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2124, 1, 1);
    Ok(p)
}

/// A region certificate's parameters: the region's name is its identity;
/// `hosts` are the other names and addresses it is dialled by.
fn region_params(region: &str, hosts: &[String]) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(vec![region.to_string()])?;
    p.distinguished_name.push(DnType::CommonName, region);
    for h in hosts {
        if h == region {
            continue;
        }
        p.subject_alt_names
            .push(match h.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(h.clone().try_into()?),
            });
    }
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2124, 1, 1);
    Ok(p)
}

/// What [`issue`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Issued {
    /// A new authority was created (none was in the directory).
    pub new_ca: bool,
    /// Regions given a new certificate.
    pub issued: Vec<String>,
    /// Regions whose certificate was already there and was kept.
    pub kept: Vec<String>,
}

fn write(path: &Path, text: &str, private: bool) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)
}

/// Creates the cluster's authority in `dir` unless it is there, and a
/// certificate for each `(region, hosts)` that has none. Existing files are
/// never overwritten: delete a region's two files to reissue them.
pub fn issue(dir: &Path, regions: &[(String, Vec<String>)]) -> Result<Issued, TlsError> {
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Issued::default();
    let (ca_cert, ca_key) = (dir.join(CA_CERT), dir.join(CA_KEY));
    let key = if ca_key.exists() {
        let pem = String::from_utf8(read(&ca_key)?).map_err(|_| TlsError::Invalid {
            path: ca_key.clone(),
            message: "not UTF-8".into(),
        })?;
        KeyPair::from_pem(&pem).map_err(|e| TlsError::Invalid {
            path: ca_key.clone(),
            message: e.to_string(),
        })?
    } else {
        let key = KeyPair::generate()?;
        let cert = ca_params()?.self_signed(&key)?;
        write(&ca_key, &key.serialize_pem(), true)?;
        write(&ca_cert, &cert.pem(), false)?;
        out.new_ca = true;
        key
    };
    let issuer = Issuer::new(ca_params()?, key);
    for (region, hosts) in regions {
        let files = TlsFiles::in_dir(dir, region);
        if files.cert.exists() && files.key.exists() {
            out.kept.push(region.clone());
            continue;
        }
        let key = KeyPair::generate()?;
        let cert = region_params(region, hosts)?.signed_by(&key, &issuer)?;
        // A half-written pair from an earlier failure is replaced whole.
        for p in [&files.cert, &files.key] {
            let _ = std::fs::remove_file(p);
        }
        write(&files.key, &key.serialize_pem(), true)?;
        write(&files.cert, &cert.pem(), false)?;
        out.issued.push(region.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(path: &Path) -> Vec<u8> {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_file(path)
            .unwrap()
            .to_vec()
    }

    #[test]
    fn a_certificate_names_its_own_region_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let regions = vec![
            (
                "us-east-1".to_string(),
                vec!["localhost".into(), "127.0.0.1".into()],
            ),
            ("eu-west-1".to_string(), vec!["localhost".into()]),
        ];
        let first = issue(dir.path(), &regions).unwrap();
        assert!(first.new_ca);
        assert_eq!(first.issued, vec!["us-east-1", "eu-west-1"]);
        let us = der(&TlsFiles::in_dir(dir.path(), "us-east-1").cert);
        assert!(certifies(&us, "us-east-1"));
        assert!(!certifies(&us, "eu-west-1"));
        assert!(!certifies(&us, "not a name"));
        assert!(!certifies(b"garbage", "us-east-1"));
        // A second run keeps everything; a deleted pair is reissued under
        // the same authority.
        let again = issue(dir.path(), &regions).unwrap();
        assert!(!again.new_ca);
        assert_eq!(again.kept.len(), 2);
        let ca_before = std::fs::read(dir.path().join(CA_CERT)).unwrap();
        std::fs::remove_file(TlsFiles::in_dir(dir.path(), "eu-west-1").cert).unwrap();
        let third = issue(dir.path(), &regions).unwrap();
        assert_eq!(third.issued, vec!["eu-west-1"]);
        assert_eq!(std::fs::read(dir.path().join(CA_CERT)).unwrap(), ca_before);
        let key_mode = std::fs::metadata(TlsFiles::in_dir(dir.path(), "eu-west-1").key)
            .unwrap()
            .permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(key_mode.mode() & 0o777, 0o600);
    }
}
