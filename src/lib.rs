//! jitgate: just-in-time Microsoft Entra ID admin accounts for MSP technicians, requested from
//! the PSA ticket they are working.

pub mod app;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod http_client;
pub mod jobs;
pub mod metrics;
pub mod oidc;
pub mod psa;
pub mod services;
pub mod store;
pub mod supervision;
pub mod telemetry;
