//! Values that must never reach a log line, an error message or a `Debug` dump.
//!
//! The workspace has one redacting type, `secrecy::SecretString` (also
//! `jitgate_connectors::Secret`): `Debug` prints `[REDACTED]`, there is no `Display`, the memory
//! is wiped on drop, and the value is only reachable through
//! [`ExposeSecret::expose_secret`], which keeps every use greppable.

pub use secrecy::{ExposeSecret, SecretString as Secret};

/// A JIT account password: a [`Secret`], made by [`crate::password::generate`].
pub type Password = Secret;

/// SHA-256 of the value: tells secrets apart (cache keys) without keeping or showing one.
pub(crate) fn fingerprint(secret: &Secret) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(secret.expose_secret().as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::from("hunter2-value");
        let password = Password::from("Correct-Horse-9");
        for text in [format!("{secret:?}"), format!("{password:?}")] {
            assert!(text.contains("[REDACTED]"), "{text}");
            assert!(
                !text.contains("hunter2") && !text.contains("Horse"),
                "{text}"
            );
        }
        assert_eq!(secret.expose_secret(), "hunter2-value");
    }

    #[test]
    fn fingerprints_tell_secrets_apart() {
        assert_eq!(
            fingerprint(&Secret::from("a")),
            fingerprint(&Secret::from("a"))
        );
        assert_ne!(
            fingerprint(&Secret::from("a")),
            fingerprint(&Secret::from("b"))
        );
    }
}
