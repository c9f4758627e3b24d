//! jitgate's integration tests: one binary, the real app on port 0 with its own database
//! (a temporary SQLite file, or a uniquely named PostgreSQL database when
//! `JITGATE_TEST_POSTGRES` is set), driven over real HTTP.

mod helpers;

mod access_end;
mod admin_api;
mod admin_scope;
mod api_contract;
mod architecture;
mod browser;
mod certificate;
mod connector_setup;
mod consent;
mod console;
mod console_browser;
mod console_pages;
mod credential;
mod deliveries;
mod demo;
mod groups;
mod lifecycle;
mod ops;
mod portal;
mod portal_browser;
mod processes;
mod psa_flows;
mod secrets;
mod sign_in;
mod tenant_check;
mod webhooks;
mod world;
