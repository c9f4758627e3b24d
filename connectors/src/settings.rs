//! Connector kinds, their secret names and settings validation errors.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorKind {
    Connectwise,
    Autotask,
    Halopsa,
    StandardWebhooks,
}

impl ConnectorKind {
    pub const ALL: [ConnectorKind; 4] = [
        ConnectorKind::Connectwise,
        ConnectorKind::Autotask,
        ConnectorKind::Halopsa,
        ConnectorKind::StandardWebhooks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorKind::Connectwise => "connectwise",
            ConnectorKind::Autotask => "autotask",
            ConnectorKind::Halopsa => "halopsa",
            ConnectorKind::StandardWebhooks => "standard_webhooks",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The product's name, for people.
    pub fn label(self) -> &'static str {
        match self {
            ConnectorKind::Connectwise => "ConnectWise PSA",
            ConnectorKind::Autotask => "Autotask",
            ConnectorKind::Halopsa => "HaloPSA",
            ConnectorKind::StandardWebhooks => "Standard Webhooks",
        }
    }

    /// The secrets this kind accepts (write-only through the admin API, sealed at rest).
    pub fn secrets(self) -> &'static [SecretSpec] {
        match self {
            ConnectorKind::Connectwise => &[SecretSpec {
                name: "private_key",
                required: true,
                list: false,
            }],
            ConnectorKind::Autotask => &[
                SecretSpec {
                    name: "webhook_secret",
                    required: true,
                    list: true,
                },
                SecretSpec {
                    name: "api_secret",
                    required: true,
                    list: false,
                },
            ],
            ConnectorKind::Halopsa => &[
                SecretSpec {
                    name: "webhook_password",
                    required: false,
                    list: true,
                },
                SecretSpec {
                    name: "webhook_hmac_secret",
                    required: false,
                    list: true,
                },
                SecretSpec {
                    name: "client_secret",
                    required: true,
                    list: false,
                },
            ],
            ConnectorKind::StandardWebhooks => &[SecretSpec {
                name: "webhook_secret",
                required: true,
                list: true,
            }],
        }
    }
}

impl fmt::Display for ConnectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One named secret of a connector kind. `list` secrets hold several active values at once so
/// they can be rotated without dropping deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretSpec {
    pub name: &'static str,
    pub required: bool,
    pub list: bool,
}

/// A secret string (an API key, a webhook secret or password, a client secret): the workspace's
/// one redacting type, `secrecy::SecretString`, also `jitgate_graph::Secret`. `Debug` prints
/// `[REDACTED]`, there is no `Display`, the memory is wiped on drop, and the value is only
/// reachable through [`ExposeSecret::expose_secret`], which keeps every use greppable.
pub use secrecy::{ExposeSecret, SecretString as Secret};

/// Decrypted secrets handed to [`crate::build`]: name → active values (one for plain secrets,
/// one or more for list secrets, newest first).
#[derive(Debug, Clone, Default)]
pub struct SecretValues(pub BTreeMap<String, Vec<Secret>>);

impl SecretValues {
    pub fn one(&self, name: &str) -> Option<&Secret> {
        self.0.get(name).and_then(|v| v.first())
    }
    pub fn all(&self, name: &str) -> &[Secret] {
        self.0.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Settings that do not validate: per-field messages for a 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid connector settings")]
pub struct SettingsError {
    /// field path (`settings.site`, `secrets.private_key`) → message.
    pub fields: BTreeMap<String, String>,
}

impl SettingsError {
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        let mut fields = BTreeMap::new();
        fields.insert(path.into(), message.into());
        SettingsError { fields }
    }
    pub fn unsupported(kind: ConnectorKind) -> Self {
        Self::field(
            "kind",
            format!("connector kind {kind} is not supported yet"),
        )
    }

    /// No errors yet: gather several field messages, then [`SettingsError::into_result`], so an
    /// admin sees every problem of a connector at once rather than one per attempt.
    pub fn empty() -> Self {
        SettingsError {
            fields: BTreeMap::new(),
        }
    }

    /// Record a message for `path` (the first message for a path wins).
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.fields
            .entry(path.into())
            .or_insert_with(|| message.into());
    }

    /// `Ok(())` when nothing was recorded.
    pub fn into_result(self) -> Result<(), SettingsError> {
        if self.fields.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// Settings JSON that does not even deserialize (wrong type, unknown or missing field).
    /// serde's message names the field ("unknown field `tenent`, expected one of …"); an unknown
    /// or missing field is reported under `settings.<field>`, anything else under `settings`.
    pub fn from_json(error: &serde_json::Error) -> Self {
        let message = error.to_string();
        // serde_json appends " at line 1 column 42", meaningless for a JSON value.
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_string();
        let field = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|marker| {
                let start = message.find(marker)? + marker.len();
                let len = message[start..].find('`')?;
                Some(message[start..start + len].to_string())
            });
        match field {
            Some(field) => Self::field(format!("settings.{field}"), message),
            None => Self::field("settings", message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_never_print_a_secret() {
        let mut values = SecretValues::default();
        values.0.insert(
            "webhook_secret".into(),
            vec![Secret::from("new-value-1"), Secret::from("old-value-0")],
        );
        let dump = format!("{values:?}");
        assert!(!dump.contains("value-"), "{dump}");
        assert!(dump.contains("[REDACTED]"), "{dump}");
        assert_eq!(
            values
                .one("webhook_secret")
                .map(ExposeSecret::expose_secret),
            Some("new-value-1")
        );
    }
}
