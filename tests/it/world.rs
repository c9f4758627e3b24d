//! A whole MSP world for end-to-end tests: jitgate, a simulated Entra tenant (Graph) and a
//! simulated ConnectWise PSA, wired together through the real admin API.

use crate::helpers::{Api, TestApp, spawn_app_with};
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
        let sims = Sims::start().await;
        let app = sims.spawn_app(&opts).await;
        let msp = setup_msp(&app.api(), &sims.cw, opts.delegated).await;
        World {
            app,
            graph: sims.graph,
            cw: sims.cw,
            connector_id: msp.connector_id,
            customer_id: msp.customer_id,
            technician_id: msp.technician_id,
            _ca: sims.ca,
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

/// The simulated Entra tenant and ConnectWise PSA, with the CA jitgate must trust.
pub struct Sims {
    pub graph: GraphSim,
    pub cw: ConnectWiseSim,
    pub ca: TestCa,
    pub ca_file: std::path::PathBuf,
}

impl Sims {
    pub async fn start() -> Sims {
        jitgate_sim::tls::install_crypto_provider();
        let ca = TestCa::generate();
        let ca_file = ca.write_ca_file(&tempfile::tempdir().unwrap().keep());
        let graph = GraphSim::start(Some(&ca)).await;
        graph.add_tenant(TenantSpec::new(TENANT, CLIENT_ID, CLIENT_SECRET, DOMAIN));
        let cw = ConnectWiseSim::start(&ca).await;
        Sims {
            graph,
            cw,
            ca,
            ca_file,
        }
    }

    /// jitgate in-process, pointed at these simulators.
    pub async fn spawn_app(&self, opts: &WorldOptions) -> TestApp {
        let (graph_url, login_url, ca_file) = (
            self.graph.graph_url(),
            self.graph.login_url(),
            self.ca_file.clone(),
        );
        let jit = DurationSetting::parse(opts.jit_duration).unwrap();
        let sweep = DurationSetting::parse(opts.sweep_interval).unwrap();
        spawn_app_with(Box::new(move |c: &mut Config| {
            c.ca_file = Some(ca_file);
            c.graph_url = graph_url;
            c.login_url = login_url;
            c.jit_duration = jit;
            c.sweep_interval = sweep;
            c.poll_interval = DurationSetting::from_millis(100);
        }))
        .await
    }
}

pub struct Msp {
    pub customer_id: String,
    pub technician_id: String,
    pub connector_id: String,
}

/// Through the admin API: a customer with its Entra connection, technician Alice (delegated
/// or not), a ConnectWise connector and the company mapping; PSA members alice and mallory.
pub async fn setup_msp(api: &Api, cw: &ConnectWiseSim, delegated: bool) -> Msp {
    let (customer_id, technician_id) = setup_customer(api, delegated).await;
    let connector_id = add_connector(
        api,
        json!({"kind": "connectwise", "name": "ConnectWise",
            "settings": cw.connector_settings(json!({"custom_field": "Request JIT"})),
            "secrets": cw.connector_secrets()}),
    )
    .await;
    map_company(api, &connector_id, &COMPANY.to_string(), &customer_id).await;
    cw.add_member("alice", "alice@msp.example");
    cw.add_member("mallory", "mallory@msp.example");
    Msp {
        customer_id,
        technician_id,
        connector_id,
    }
}

/// Customer Fabrikam with its Entra connection, and technician Alice (delegated to it or
/// not); returns their ids.
pub async fn setup_customer(api: &Api, delegated: bool) -> (String, String) {
    let customer_id = api
        .admin(
            "POST",
            "/api/v1/customers",
            Some(json!({"name": "Fabrikam"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    api.admin(
        "PUT",
        &format!("/api/v1/customers/{customer_id}/entra"),
        Some(
            json!({"tenant_id": TENANT, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "jit_domain": DOMAIN, "roles": ["Global Administrator", "User Administrator"]}),
        ),
    )
    .await;
    let technician_id = add_technician(api, "alice", "Alice Smith").await;
    if delegated {
        api.admin(
            "PUT",
            &format!("/api/v1/technicians/{technician_id}/customers/{customer_id}"),
            None,
        )
        .await;
    }
    (customer_id, technician_id)
}

/// Register a connector from its `POST /api/v1/connectors` body; returns its id.
pub async fn add_connector(api: &Api, body: serde_json::Value) -> String {
    api.admin("POST", "/api/v1/connectors", Some(body)).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub async fn map_company(api: &Api, connector_id: &str, company: &str, customer_id: &str) {
    api.admin(
        "PUT",
        &format!("/api/v1/connectors/{connector_id}/companies/{company}"),
        Some(json!({"customer_id": customer_id})),
    )
    .await;
}

/// A technician `name@msp.example`; returns their id.
pub async fn add_technician(api: &Api, name: &str, display: &str) -> String {
    api.admin(
        "POST",
        "/api/v1/technicians",
        Some(json!({"email": format!("{name}@msp.example"), "display_name": display})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string()
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
