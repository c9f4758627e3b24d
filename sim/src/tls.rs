//! A throwaway certificate authority and a generic server spawner for every simulator.
//!
//! Tests that want to prove jitgate's outbound HTTPS works (custom CA roots via `ca_file`, SNI,
//! ALPN) start a simulator with a [`TestCa`]; tests that only care about behaviour use plain
//! HTTP. Either way [`spawn`] binds `127.0.0.1:0`, so tests never collide on ports.
//!
//! ```no_run
//! # async fn demo() {
//! use jitgate_sim::tls::{TestCa, spawn, install_crypto_provider};
//! install_crypto_provider();
//! let ca = TestCa::generate();
//! let server = spawn(axum::Router::new(), Some(&ca)).await;
//! // server.url == https://localhost:PORT/ ; trust ca.ca_pem() in the client.
//! # }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The ring provider, always passed explicitly: reqwest and rustls are built without a default
/// provider here, and a test process may or may not have installed one.
fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs rustls' ring provider as the process default unless some provider already is.
///
/// reqwest is built with `rustls-no-provider`, so a `reqwest::Client` cannot be built until a
/// default provider exists. Safe to call any number of times, from any thread.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race against another installer is fine: some provider is installed either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A self-signed CA and one leaf certificate for `localhost` and `127.0.0.1`, signed by it.
pub struct TestCa {
    ca_pem: String,
    leaf_der: CertificateDer<'static>,
    leaf_key_der: Vec<u8>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// Generates a fresh CA (ECDSA P-256) and a leaf for `localhost` / `127.0.0.1`.
    pub fn generate() -> TestCa {
        let ca_key = KeyPair::generate().expect("generate CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "jitgate test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign CA");
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate().expect("generate leaf key");
        // rcgen turns "127.0.0.1" into an IP-address SAN, "localhost" into a DNS SAN.
        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("leaf params");
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf_params.use_authority_key_identifier_extension = true;
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_cert = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("sign leaf");

        TestCa {
            ca_pem: ca_cert.pem(),
            leaf_der: leaf_cert.der().clone(),
            leaf_key_der: leaf_key.serialize_der(),
        }
    }

    /// The CA certificate in PEM, for a client's extra root store.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes the CA certificate to `dir/jitgate-test-ca.pem` (what `ca_file` points at) and
    /// returns the path.
    pub fn write_ca_file(&self, dir: &Path) -> PathBuf {
        let path = dir.join("jitgate-test-ca.pem");
        std::fs::write(&path, &self.ca_pem).expect("write CA file");
        path
    }

    /// A rustls server config presenting the leaf, with ALPN h2 and http/1.1.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key_der.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.leaf_der.clone()], key)
            .expect("leaf certificate and key match");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// A running simulator. Dropping it (or calling [`SimServer::shutdown`]) stops it.
#[derive(Debug)]
pub struct SimServer {
    /// Base URL with a trailing slash: `http://127.0.0.1:PORT/` or `https://localhost:PORT/`.
    pub url: url::Url,
    /// The bound address (always 127.0.0.1).
    pub addr: SocketAddr,
    handle: Handle<SocketAddr>,
}

impl SimServer {
    /// Stops accepting connections and closes the open ones.
    pub fn shutdown(&self) {
        self.handle.shutdown();
    }

    /// `url` joined with a relative path (`"v1.0/users"`).
    pub fn join(&self, path: &str) -> url::Url {
        self.url.join(path).expect("valid relative path")
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// Serves `router` on `127.0.0.1:0`, over TLS with `tls`'s leaf certificate when given.
///
/// The listener is bound before this returns, so the server accepts connections at once.
/// With TLS the URL uses the host `localhost`, which the leaf certificate names.
pub async fn spawn(router: axum::Router, tls: Option<&TestCa>) -> SimServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let addr = listener.local_addr().expect("local addr");
    let handle = Handle::new();
    let service = router.into_make_service();

    let url = match tls {
        Some(ca) => {
            let config = RustlsConfig::from_config(ca.server_config());
            let server = axum_server::from_tcp_rustls(listener, config)
                .expect("TLS server from listener")
                .handle(handle.clone());
            tokio::spawn(async move {
                if let Err(e) = server.serve(service).await {
                    tracing::error!(error = %e, "simulator TLS server stopped");
                }
            });
            format!("https://localhost:{}/", addr.port())
        }
        None => {
            let server = axum_server::from_tcp(listener)
                .expect("server from listener")
                .handle(handle.clone());
            tokio::spawn(async move {
                if let Err(e) = server.serve(service).await {
                    tracing::error!(error = %e, "simulator server stopped");
                }
            });
            format!("http://127.0.0.1:{}/", addr.port())
        }
    };

    SimServer {
        url: url::Url::parse(&url).expect("valid URL"),
        addr,
        handle,
    }
}
