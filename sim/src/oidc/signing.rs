//! The RSA key that signs `id_token`s, its JWK, and RS256 JWTs (RFC 7515, RFC 7518 §3.3).
//!
//! ring cannot generate RSA keys, so the key is a committed, test-only fixture.

use std::sync::LazyLock;

use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};

use super::*;

const KEY_PEM: &str = include_str!("../../fixtures/oidc-signing-key.pem");

pub(super) struct Signer {
    key_pair: RsaKeyPair,
    /// Like Entra's, the `kid` equals the `x5t` thumbprint.
    kid: String,
    n: String,
    e: String,
}

pub(super) static SIGNER: LazyLock<Signer> = LazyLock::new(Signer::load);

impl Signer {
    fn load() -> Signer {
        let key_pair = RsaKeyPair::from_pkcs8(&pem_body(KEY_PEM)).expect("PKCS#8 RSA fixture key");
        let public = key_pair.public();
        let components = RsaPublicKeyComponents::<Vec<u8>>::from(public);
        // Entra's x5t is the SHA-1 thumbprint of its certificate; there is no certificate here,
        // so the thumbprint is of the DER public key: as stable, and as opaque to a client.
        let thumbprint = {
            use sha1::Digest as _;
            sha1::Sha1::digest(public.as_ref())
        };
        Signer {
            kid: base64url(&thumbprint),
            n: base64url(&components.n),
            e: base64url(&components.e),
            key_pair,
        }
    }

    pub(super) fn kid(&self) -> &str {
        &self.kid
    }

    /// The key as Entra's JWKS lists it: no `alg` member.
    pub(super) fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": self.n,
            "e": self.e,
        })
    }

    /// `base64url(header).base64url(claims).base64url(signature)`; `flip_bit` spoils the
    /// signature after signing.
    pub(super) fn jwt(&self, header: &Value, claims: &Value, flip_bit: bool) -> String {
        let signing_input = format!(
            "{}.{}",
            base64url(header.to_string().as_bytes()),
            base64url(claims.to_string().as_bytes())
        );
        let mut signature = vec![0; self.key_pair.public().modulus_len()];
        self.key_pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .expect("RSA signing");
        if flip_bit {
            signature[0] ^= 0x01;
        }
        format!("{signing_input}.{}", base64url(&signature))
    }
}

/// The DER bytes inside a PEM block.
fn pem_body(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .map(str::trim)
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM body is base64")
}
