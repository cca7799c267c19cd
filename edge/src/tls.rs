//! TLS, with rustls and ring: the certificate the edge serves (`--tls-cert`/`--tls-key`:
//! mqtts:// and wss:// on the embedded broker's gate, https:// for the site) and the
//! roots it trusts when it connects to an external broker over mqtts:// or wss://, or to
//! an RTSP camera over rtsps://.
//!
//! Everything is loaded once at startup, so a missing file, a key that does not match
//! the certificate or a PEM without certificates stops the edge with one line naming
//! the file, instead of failing handshakes later.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

/// Why the TLS settings cannot be used; each message names the file and the option.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {}: {source}", path.display())]
    Read { what: &'static str, path: PathBuf, source: rustls_pki_types::pem::Error },
    #[error("{} holds no PEM certificate ({what})", path.display())]
    NoCertificate { what: &'static str, path: PathBuf },
    #[error("cannot read private key (--tls-key) {}: {source}", path.display())]
    Key { path: PathBuf, source: rustls_pki_types::pem::Error },
    #[error("certificate {} and key {} are not usable together: {source}", cert.display(), key.display())]
    Mismatch { cert: PathBuf, key: PathBuf, source: rustls::Error },
    #[error("CA file (--ca-file) {}: unusable certificate: {source}", path.display())]
    UnusableCa { path: PathBuf, source: rustls::Error },
    #[error("no system CA certificates found to check the broker's certificate; pass --ca-file")]
    NoSystemRoots,
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file; at least one.
fn certificates(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |source| TlsError::Read { what, path: path.to_path_buf(), source };
    let certs =
        CertificateDer::pem_file_iter(path).map_err(bad)?.collect::<Result<Vec<_>, _>>().map_err(bad)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { what, path: path.to_path_buf() });
    }
    Ok(certs)
}

/// The server side: a certificate chain (leaf first) and its private key, both PEM.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(cert, "certificate (--tls-cert)")?;
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|source| TlsError::Key { path: key.to_path_buf(), source })?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|source| TlsError::Mismatch { cert: cert.to_path_buf(), key: key.to_path_buf(), source })?;
    Ok(Arc::new(config))
}

/// The client side: trust the CAs in `ca` (PEM) if given, else the system's roots.
pub fn client_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in certificates(path, "CA file (--ca-file)")? {
                roots
                    .add(cert)
                    .map_err(|source| TlsError::UnusableCa { path: path.to_path_buf(), source })?;
            }
        }
        None => {
            // Some system stores hold a few certificates rustls cannot parse; the rest
            // are still good.
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(TlsError::NoSystemRoots);
            }
        }
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client that encrypts but does not check who it talks to: for a camera whose
/// certificate is its own (self-signed, as most are), when its owner says so
/// (`tls_verify=no`). A passive listener learns nothing; someone on the path could still
/// pose as the camera.
pub fn client_config_unverified() -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts any certificate; the handshake's signatures are still checked, so the session
/// is encrypted to whoever holds the certificate's key.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, contents: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("edge-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn a_generated_certificate_and_key_load() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert =
            rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap().self_signed(&key).unwrap();
        let c = temp("ok-cert.pem", cert.pem().as_bytes());
        let k = temp("ok-key.pem", key.serialize_pem().as_bytes());
        server_config(&c, &k).unwrap();
        client_config(Some(&c)).unwrap();
    }

    #[test]
    fn bad_files_are_named_in_one_line() {
        let missing = Path::new("/nonexistent/cert.pem");
        let e = server_config(missing, missing).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/cert.pem") && e.contains("--tls-cert") && !e.contains('\n'), "{e}");
        let junk = temp("junk.pem", b"not a certificate\n");
        let e = client_config(Some(&junk)).unwrap_err().to_string();
        assert!(e.contains("no PEM certificate") && e.contains("--ca-file"), "{e}");
        // A key that belongs to another certificate.
        let (k1, k2) = (rcgen::KeyPair::generate().unwrap(), rcgen::KeyPair::generate().unwrap());
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap().self_signed(&k1).unwrap();
        let c = temp("mismatch-cert.pem", cert.pem().as_bytes());
        let k = temp("mismatch-key.pem", k2.serialize_pem().as_bytes());
        let e = server_config(&c, &k).unwrap_err().to_string();
        assert!(e.contains("not usable together"), "{e}");
    }
}
