//! A whole MSP world for end-to-end tests: jitgate, a simulated Entra tenant (Graph) and a
//! simulated ConnectWise PSA, wired together through the real admin API.

use crate::helpers::{TestApp, spawn_app_with};
use jitgate::config::Config;
use jitgate::domain::duration::DurationSetting;
use jitgate_sim::connectwise::{ConnectWiseSim, CwNote, SeedTicket};
use jitgate_sim::graph::{GraphSim, TenantSpec};
use jitgate_sim::tls::TestCa;
use serde_json::json;
use std::time::Duration;

pub const TENANT: &str = "7d3c1a52-41b6-4c2b-9f5e-2b8d6f1e0a11";
pub const CLIENT_ID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
pub const CLIENT_SECRET: &str = "entra~client~secret~value~0042";
pub const DOMAIN: &str = "fabrikam.com";
pub const COMPANY: u64 = 250;
pub const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";
pub const USER_ADMIN: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";

pub struct World {
    pub app: TestApp,
    pub graph: GraphSim,
    pub cw: ConnectWiseSim,
    pub connector_id: String,
    pub customer_id: String,
    pub technician_id: String,
    _ca: TestCa,
}

pub struct WorldOptions {
    pub jit_duration: &'static str,
    pub sweep_interval: &'static str,
    pub delegated: bool,
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            jit_duration: "4h",
            sweep_interval: "1s",
            delegated: true,
        }
    }
}

impl World {
    pub async fn new() -> World {
        Self::with(WorldOptions::default()).await
    }

    pub async fn with(opts: WorldOptions) -> World {
        let ca = TestCa::generate();
        let ca_dir = tempfile::tempdir().unwrap().keep();
        let ca_file = ca.write_ca_file(&ca_dir);
        let graph = GraphSim::start(Some(&ca)).await;
        graph.add_tenant(TenantSpec::new(TENANT, CLIENT_ID, CLIENT_SECRET, DOMAIN));
        let cw = ConnectWiseSim::start(&ca).await;
        let (graph_url, login_url) = (graph.graph_url(), graph.login_url());
        let jit = DurationSetting::parse(opts.jit_duration).unwrap();
        let sweep = DurationSetting::parse(opts.sweep_interval).unwrap();
        let app = spawn_app_with(Box::new(move |c: &mut Config| {
            c.ca_file = Some(ca_file);
            c.graph_url = graph_url;
            c.login_url = login_url;
            c.jit_duration = jit;
            c.sweep_interval = sweep;
            c.poll_interval = DurationSetting::from_millis(100);
        }))
        .await;
        let customer_id = app.create_customer("Fabrikam").await;
        app.admin(
            "PUT",
            &format!("/api/v1/customers/{customer_id}/entra"),
            Some(
                json!({"tenant_id": TENANT, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                "jit_domain": DOMAIN, "roles": ["Global Administrator", "User Administrator"]}),
            ),
        )
        .await;
        let technician = app
            .admin(
                "POST",
                "/api/v1/technicians",
                Some(json!({"email": "alice@msp.example", "display_name": "Alice Smith"})),
            )
            .await;
        let technician_id = technician["id"].as_str().unwrap().to_string();
        if opts.delegated {
            app.admin(
                "PUT",
                &format!("/api/v1/technicians/{technician_id}/customers/{customer_id}"),
                None,
            )
            .await;
        }
        let connector = app
            .admin(
                "POST",
                "/api/v1/connectors",
                Some(json!({"kind": "connectwise", "name": "ConnectWise",
                    "settings": cw.connector_settings(json!({"custom_field": "Request JIT"})),
                    "secrets": cw.connector_secrets()})),
            )
            .await;
        let connector_id = connector["id"].as_str().unwrap().to_string();
        app.admin(
            "PUT",
            &format!("/api/v1/connectors/{connector_id}/companies/{COMPANY}"),
            Some(json!({"customer_id": customer_id})),
        )
        .await;
        cw.add_member("alice", "alice@msp.example");
        cw.add_member("mallory", "mallory@msp.example");
        World {
            app,
            graph,
            cw,
            connector_id,
            customer_id,
            technician_id,
            _ca: ca,
        }
    }

    /// A technician ticks "Request JIT" on a new ticket and saves; ConnectWise calls back.
    pub async fn request_on_ticket(&self, ticket: u64, member: &str) -> u16 {
        self.cw
            .add_ticket(SeedTicket::new(ticket, COMPANY).with_custom_field(
                12,
                "Request JIT",
                json!(false),
            ));
        self.cw
            .set_custom_field(ticket, "Request JIT", json!(true), member);
        let delivery = self.cw.ticket_delivery(ticket, member, "updated");
        self.deliver(&delivery.headers, delivery.body).await
    }

    pub async fn deliver(&self, headers: &[(String, String)], body: Vec<u8>) -> u16 {
        let mut req = self
            .app
            .http
            .post(format!("{}/webhooks/{}", self.app.url, self.connector_id))
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send().await.unwrap().status().as_u16()
    }

    /// Wait until the ticket has `n` notes, then return them.
    pub async fn notes(&self, ticket: u64, n: usize) -> Vec<CwNote> {
        eventually(
            &format!("{n} note(s) on ticket {ticket}"),
            Duration::from_secs(30),
            || {
                let notes = self.cw.notes(ticket);
                async move { (notes.len() >= n).then_some(notes) }
            },
        )
        .await
    }

    pub fn jit_upn(&self) -> String {
        format!("alice-jit@{DOMAIN}")
    }

    /// The credential link in a note.
    pub fn link_in(&self, note: &CwNote) -> String {
        let start = note
            .text
            .find(&format!("{}/c/", self.app.url))
            .expect("the note carries a credential link");
        note.text[start..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }

    pub async fn grants(&self) -> serde_json::Value {
        self.app.admin("GET", "/api/v1/grants", None).await
    }
}

/// Poll `check` until it yields a value or `within` passes.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
