//! The TLS client settings that connections made outside reqwest share (PostgreSQL, Slack's
//! Socket Mode WebSocket): the system's roots through the platform verifier, as reqwest uses
//! them, plus any extra CA certificates. The crypto provider is passed explicitly so that no
//! process-wide default has to be installed first.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;

/// rustls' client config trusting the system's roots and `extra_roots`.
pub fn client_config(extra_roots: Vec<CertificateDer<'static>>) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider.clone())
            .map_err(|err| format!("cannot set up TLS certificate checks: {err}"))?;
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("cannot set up TLS: {err}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}
