//! TLS for the SMTP client: the handshake (implicit TLS or after STARTTLS) and the shared rustls configuration.

use std::sync::{Arc, OnceLock};

use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;

use super::{SmtpConfig, SmtpError};

pub(super) async fn tls_handshake(cfg: &SmtpConfig, tcp: TcpStream) -> Result<TlsStream<TcpStream>, SmtpError> {
    let server_name = rustls::pki_types::ServerName::try_from(cfg.host.clone())
        .map_err(|e| SmtpError::Tls(format!("invalid server name {:?}: {e}", cfg.host)))?;
    let connector = TlsConnector::from(tls_config(cfg.accept_invalid_certs)?);
    match timeout(cfg.timeout, connector.connect(server_name, tcp)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => {
            // Certificate and protocol errors are TLS problems; resets and EOFs are transient.
            if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
                Err(SmtpError::Tls(e.to_string()))
            } else {
                Err(SmtpError::Transient(format!("TLS handshake: {e}")))
            }
        }
        Err(_) => Err(SmtpError::Transient("TLS handshake: timeout".into())),
    }
}

/// Shared client configurations (verified with the webpki roots, or accepting anything).
fn tls_config(accept_invalid_certs: bool) -> Result<Arc<rustls::ClientConfig>, SmtpError> {
    static VERIFIED: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    static UNVERIFIED: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let cell = if accept_invalid_certs { &UNVERIFIED } else { &VERIFIED };
    if let Some(config) = cell.get() {
        return Ok(config.clone());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| SmtpError::Tls(e.to_string()))?;
    let config = if accept_invalid_certs {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider))).with_no_client_auth()
    } else {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(cell.get_or_init(|| Arc::new(config)).clone())
}

/// Certificate verifier for tests against self-signed servers: accepts any certificate
/// but still checks the handshake signatures.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
