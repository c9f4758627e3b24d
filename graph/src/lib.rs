//! Everything jitgate knows about Microsoft Graph and the Entra ID login endpoint.
//!
//! * [`GraphClient`] — one per process (cheap `Clone`), built on the app's `reqwest::Client`.
//! * [`Tenant`] — a customer's tenant id, app (client) id and [`ClientCredential`] (a client
//!   [`Secret`], or a [`ClientCertificate`] that signs a client assertion).
//! * High level, for the job layer: [`GraphClient::ensure_access`] and
//!   [`GraphClient::end_access`] (idempotent, verified).
//! * Low level: users ([`GraphClient::find_user_by_upn`], [`GraphClient::create_user`], …),
//!   role assignments, Temporary Access Passes.
//! * For checking a tenant's set-up: [`GraphClient::token_claims`] (tenant, the app's service
//!   principal, consented permissions), [`GraphClient::list_domains`],
//!   [`GraphClient::role_definition`], [`GraphClient::app_role_assignments`].
//! * [`GraphError`] — throttling (`retry_after`), transient, replication lag, foreign account,
//!   actionable auth/permission errors, Graph rejections; never containing secrets.
//!
//! Module docs cite the Microsoft pages each fact comes from.
//!
//! # Layers
//!
//! The modules form layers, and a module imports only from layers below it (or from modules
//! listed before it in its own layer), so there are no import cycles. The `LAYERS` table in
//! this file lists them, and a unit test checks every `crate::` path in the sources against it.
//!
//! 1. foundation: values and rules with no I/O (secrets, credentials, tenant, errors, advice, retry
//!    policy, passwords, what a failed `reqwest` exchange means);
//! 2. transport: tokens, the client handle, sending one Graph request;
//! 3. calls: one Graph resource each (users, roles, Temporary Access Passes, domains), and the
//!    claims of the token the transport holds;
//! 4. workflow: granting and ending access, on the calls.

mod access;
mod advice;
mod batch;
mod claims;
mod client;
mod credential;
mod domains;
mod error;
mod guid;
mod limits;
pub mod marker;
mod net;
pub mod password;
mod retry;
mod roles;
mod secret;
mod taps;
mod tenant;
mod token;
mod transport;
mod users;

pub use access::{Access, EndAction, EndReport, EndStep, StepOutcome};
pub use claims::TokenClaims;
pub use client::GraphClient;
pub use credential::{ClientCertificate, ClientCredential};
pub use domains::Domain;
pub use error::GraphError;
pub use limits::Concurrency;
pub use marker::JITGATE_MARKER;
pub use retry::RetryPolicy;
pub use roles::{AssignOutcome, RoleAssignment, RoleDefinition, TENANT_SCOPE};
pub use secret::{ExposeSecret, Password, Secret};
pub use taps::TapMethod;
pub use tenant::Tenant;
pub use users::{AccountSpec, CreateOutcome, User};

/// The crate's modules by layer, lowest first. A module may use modules of lower layers and
/// modules listed before it in its own layer, nothing else (checked by `layering`).
#[cfg(test)]
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundation",
        &[
            "secret",
            "guid",
            "marker",
            "error",
            "credential",
            "tenant",
            "advice",
            "retry",
            "password",
            "net",
        ],
    ),
    (
        "transport",
        &["token", "limits", "client", "transport", "batch"],
    ),
    ("calls", &["claims", "users", "roles", "taps", "domains"]),
    ("workflow", &["access"]),
];

#[cfg(test)]
mod layering {
    use super::LAYERS;

    /// (layer index, position in the layer) of a module.
    fn rank(module: &str) -> Option<(usize, usize)> {
        LAYERS.iter().enumerate().find_map(|(layer, (_, modules))| {
            modules
                .iter()
                .position(|m| *m == module)
                .map(|position| (layer, position))
        })
    }

    /// Every `crate::<module>` named in code (comments and doc comments are skipped).
    fn used_modules(source: &str) -> Vec<String> {
        let mut used = Vec::new();
        for line in source.lines() {
            let code = line.split("//").next().unwrap_or("");
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    used.push(name);
                }
            }
        }
        used
    }

    #[test]
    fn every_module_has_a_layer() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        for entry in std::fs::read_dir(dir).expect("src dir") {
            let path = entry.expect("entry").path();
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            if name != "lib" {
                assert!(
                    rank(&name).is_some(),
                    "module {name} is missing from LAYERS"
                );
            }
        }
    }

    #[test]
    fn modules_import_only_downwards() {
        let mut violations = Vec::new();
        for (_, modules) in LAYERS {
            for module in *modules {
                let path = format!("{}/src/{module}.rs", env!("CARGO_MANIFEST_DIR"));
                let source = std::fs::read_to_string(&path).expect("module source");
                let own = rank(module).expect("listed");
                for used in used_modules(&source) {
                    match rank(&used) {
                        Some(other) if other < own => {}
                        Some(_) => violations.push(format!("{module} uses {used}")),
                        None => {} // a crate-root re-export such as `crate::Secret`
                    }
                }
            }
        }
        assert!(violations.is_empty(), "upward imports: {violations:?}");
    }

    #[test]
    fn the_check_sees_imports() {
        assert_eq!(
            used_modules("use crate::users::{A, B};\n// crate::access\nx(crate::retry::f);"),
            ["users", "retry"]
        );
    }
}
