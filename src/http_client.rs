//! The process's one outbound HTTP client, shared by the Graph client and every connector.
//!
//! It follows no redirects (a redirect from Graph or a PSA is unexpected, and ConnectWise's
//! `key_url` fetch must never be bounced to another host), trusts the extra CA roots from
//! `ca_file`, and bounds every call with `http_timeout`.

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error("cannot read ca_file {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("ca_file {0} holds no usable PEM certificate")]
    CaPem(String),
    #[error("cannot build the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

/// Install ring as rustls's process-wide provider (reqwest is built without its own).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn build(config: &Config) -> Result<reqwest::Client, HttpClientError> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(config.http_timeout.get())
        .connect_timeout(
            config
                .http_timeout
                .get()
                .min(std::time::Duration::from_secs(5)),
        )
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .user_agent(concat!("jitgate/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path).map_err(|source| HttpClientError::CaFile {
            path: path.display().to_string(),
            source,
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|_| HttpClientError::CaPem(path.display().to_string()))?;
        if certs.is_empty() {
            return Err(HttpClientError::CaPem(path.display().to_string()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder.build()?)
}
