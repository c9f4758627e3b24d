//! Types for values that must never reach a log line, an error message or a `Debug` dump.

use std::fmt;

/// A secret string (an Entra client secret). `Debug` and `Display` print `[redacted]`; the
/// value is only reachable through [`Secret::expose`], which makes every use greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value, for the one place that must send or seal it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the value: tells secrets apart (cache keys) without keeping or showing one.
    pub fn fingerprint(&self) -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest(self.0.as_bytes()).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_string())
    }
}

/// A JIT account password. Same redaction as [`Secret`]; made by [`Password::generate`].
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Secret);

impl Password {
    /// Wraps an existing password (e.g. one unsealed from the database).
    pub fn new(value: impl Into<String>) -> Self {
        Password(Secret::new(value))
    }

    /// A fresh random password meeting Entra's rules (see [`crate::password`]).
    pub fn generate() -> Self {
        crate::password::generate()
    }

    /// The password, for the one place that must send, seal or show it.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2-value");
        let password = Password::new("Correct-Horse-9");
        for text in [
            format!("{secret:?}"),
            format!("{secret}"),
            format!("{password:?}"),
            format!("{password}"),
        ] {
            assert_eq!(text, "[redacted]");
        }
        assert_eq!(secret.expose(), "hunter2-value");
    }
}
