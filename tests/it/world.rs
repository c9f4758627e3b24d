//! A whole MSP world for end-to-end tests: jitgate, a simulated Entra tenant (Graph) and a
//! simulated ConnectWise PSA, wired together through the real admin API by the set-up the demo
//! and the benchmark share ([`jitgate_sim::world`]).

use crate::helpers::{Api, TestApp, spawn_app_with};
use jitgate::config::Config;
use jitgate::domain::duration::DurationSetting;
use jitgate_sim::connectwise::{ConnectWiseSim, CwNote, SeedTicket};
use jitgate_sim::graph::GraphSim;
use jitgate_sim::tls::TestCa;
use jitgate_sim::world;
use serde_json::json;
use std::time::Duration;

pub use jitgate_sim::world::{
    CLIENT_ID, CLIENT_SECRET, COMPANY, DOMAIN, GLOBAL_ADMIN, Msp, TENANT, TRIGGER_FIELD, USER_ADMIN,
};

pub struct World {
    pub app: TestApp,
    pub graph: GraphSim,
    pub cw: ConnectWiseSim,
    pub connector_id: String,
    pub customer_id: String,
    pub technician_id: String,
    // The CA the simulators' certificates chain to, and the directory of its file.
    _ca: (TestCa, tempfile::TempDir),
}

pub struct WorldOptions {
    pub jit_duration: &'static str,
    pub sweep_interval: &'static str,
    pub delegated: bool,
    /// Credential links need their technician's own sign-in (`credential_links = "sign_in"`).
    pub links_need_sign_in: bool,
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            jit_duration: "4h",
            sweep_interval: "1s",
            delegated: true,
            links_need_sign_in: false,
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
        let world::Sims {
            graph,
            cw,
            ca,
            ca_dir,
            ..
        } = sims.0;
        World {
            app,
            graph,
            cw,
            connector_id: msp.connector_id,
            customer_id: msp.customer_id,
            technician_id: msp.technician_id,
            _ca: (ca, ca_dir),
        }
    }

    /// A technician ticks "Request JIT" on a new ticket and saves; ConnectWise calls back.
    pub async fn request_on_ticket(&self, ticket: u64, member: &str) -> u16 {
        self.cw
            .add_ticket(SeedTicket::new(ticket, COMPANY).with_custom_field(
                12,
                TRIGGER_FIELD,
                json!(false),
            ));
        self.cw
            .set_custom_field(ticket, TRIGGER_FIELD, json!(true), member);
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
            Duration::from_secs(60),
            || {
                let notes = self.cw.notes(ticket);
                async move { (notes.len() >= n).then_some(notes) }
            },
        )
        .await
    }

    pub fn jit_upn(&self) -> String {
        format!("{}-jit@{DOMAIN}", world::ALICE.member)
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

/// The shared simulators (Fabrikam's tenant in Graph, ConnectWise), able to start a jitgate
/// pointed at them. Derefs to [`world::Sims`] for `graph`, `cw` and `ca_file`.
pub struct Sims(world::Sims);

impl std::ops::Deref for Sims {
    type Target = world::Sims;
    fn deref(&self) -> &world::Sims {
        &self.0
    }
}

impl Sims {
    pub async fn start() -> Sims {
        Sims(world::Sims::start().await)
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
        let links = if opts.links_need_sign_in {
            jitgate::config::CredentialLinks::SignIn
        } else {
            jitgate::config::CredentialLinks::Auto
        };
        spawn_app_with(Box::new(move |c: &mut Config| {
            c.ca_file = Some(ca_file);
            c.graph_url = graph_url;
            c.login_url = login_url;
            c.jit_duration = jit;
            c.sweep_interval = sweep;
            c.credential_links = links;
            c.poll_interval = DurationSetting::from_millis(100);
        }))
        .await
    }
}

/// The shared set-up's admin API client, on the test's HTTP client and admin token.
fn admin(api: &Api) -> world::Admin {
    world::Admin::with_client(api.http.clone(), &api.url, &api.token)
}

/// The shared MSP set-up ([`world::setup_msp`]); panics with jitgate's answer if a call fails.
pub async fn setup_msp(api: &Api, cw: &ConnectWiseSim, delegated: bool) -> Msp {
    world::setup_msp(&admin(api), cw, delegated)
        .await
        .expect("the MSP is set up through the admin API")
}

/// Customer Fabrikam with its Entra connection, and technician Alice (delegated to it or
/// not); returns their ids.
pub async fn setup_customer(api: &Api, delegated: bool) -> (String, String) {
    world::setup_customer(&admin(api), delegated)
        .await
        .expect("the customer is set up through the admin API")
}

/// Register a connector from its `POST /api/v1/connectors` body; returns its id.
pub async fn add_connector(api: &Api, body: serde_json::Value) -> String {
    admin(api)
        .add_connector(body)
        .await
        .and_then(|a| a.id())
        .expect("connector added")
}

pub async fn map_company(api: &Api, connector_id: &str, company: &str, customer_id: &str) {
    admin(api)
        .map_company(connector_id, company, customer_id)
        .await
        .expect("company mapped");
}

/// A technician `name@msp.example`; returns their id.
pub async fn add_technician(api: &Api, name: &str, display: &str) -> String {
    admin(api)
        .add_technician(&format!("{name}@msp.example"), display)
        .await
        .and_then(|a| a.id())
        .expect("technician added")
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
