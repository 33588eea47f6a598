//! TLS with rustls: the broker's listener (a server configuration from PEM files), and the
//! client side that the conformance suite and live runs use to reach a broker over `mqtts://`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
pub use tokio_rustls::client::TlsStream;
pub use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A certificate chain or key that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file cannot be read or holds no PEM certificate.
    #[error("certificate file {path}: {detail}")]
    Certificate { path: PathBuf, detail: String },
    /// The key file cannot be read or holds no PEM private key.
    #[error("key file {path}: {detail}")]
    Key { path: PathBuf, detail: String },
    /// rustls refused the pair (for example, a key that does not match the certificate).
    #[error("certificate and key: {0}")]
    Config(#[from] rustls::Error),
    /// The CA file cannot be read, holds no PEM certificate, or one rustls cannot use.
    #[error("CA file {path}: {detail}")]
    Ca { path: PathBuf, detail: String },
}

/// Which server certificates a TLS client accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerTrust {
    /// Certificates that chain to one of the CA certificates in this PEM file, for the name
    /// connected to.
    CaFile(PathBuf),
    /// Any certificate, for any name (self-signed test brokers). The handshake's signatures are
    /// still verified, so the connection is encrypted, but the server is not authenticated.
    Insecure,
}

/// A TLS connector for a client (TLS 1.2 and 1.3, no client certificate) trusting `trust`.
pub fn connector(trust: &ServerTrust) -> Result<TlsConnector, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match trust {
        ServerTrust::CaFile(path) => {
            let ca = |detail: String| TlsError::Ca { path: path.clone(), detail };
            let mut roots = rustls::RootCertStore::empty();
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| ca(e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| ca(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca("no PEM certificate in it".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| ca(e.to_string()))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        ServerTrust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Accepts any server certificate, verifying only the handshake's signatures with it.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS server name for a host as a broker URL gives it (an IPv6 address in brackets).
///
/// # Errors
///
/// Returns an `InvalidInput` error for a host that is neither a DNS name nor an IP address.
pub fn server_name(host: &str) -> std::io::Result<rustls::pki_types::ServerName<'static>> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    rustls::pki_types::ServerName::try_from(bare.to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
}

/// A TLS acceptor serving the certificate chain in `cert` (PEM, leaf first) with the private key
/// in `key` (PEM: PKCS#8, PKCS#1 or SEC1), TLS 1.2 and 1.3, no client certificates.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let certificate = |detail: String| TlsError::Certificate { path: cert.to_owned(), detail };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| certificate(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| certificate(e.to_string()))?;
    if chain.is_empty() {
        return Err(certificate("no PEM certificate in it".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError::Key { path: key.to_owned(), detail: e.to_string() })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
