//! The simulated world the demo, the integration tests and the benchmark share: the simulators
//! over TLS with a throwaway CA, the made-up customer Fabrikam with its Entra tenant, technician
//! Alice, and the MSP set up in a running jitgate through its admin API over HTTP, as an MSP
//! admin would do it.
//!
//! This crate does not depend on jitgate: everything here goes through the admin API, so the
//! set-up also proves that the API is enough to connect a customer.
//!
//! ```no_run
//! # async fn demo(jitgate_url: &str, admin_token: &str) -> Result<(), jitgate_sim::world::SetupError> {
//! use jitgate_sim::world::{Admin, Sims, setup_msp};
//! let sims = Sims::start().await; // point jitgate at sims.graph and trust sims.ca_file
//! let admin = Admin::new(jitgate_url, admin_token);
//! let msp = setup_msp(&admin, &sims.cw, true).await?;
//! // a ticket of ConnectWise company COMPANY now reaches msp.webhook_url
//! # Ok(()) }
//! ```

use crate::connectwise::ConnectWiseSim;
use crate::graph::{GraphSim, TenantSpec};
use crate::tls::TestCa;
use serde_json::{Value, json};
use std::path::PathBuf;

// The customer's tenant. Tenant id, app (client) id and secret are made up; they exist only
// inside the Graph simulator.
pub const TENANT: &str = "7d3c1a52-41b6-4c2b-9f5e-2b8d6f1e0a11";
pub const CLIENT_ID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
pub const CLIENT_SECRET: &str = "entra~client~secret~value~0042";
pub const DOMAIN: &str = "fabrikam.com";
pub const CUSTOMER: &str = "Fabrikam";
/// Fabrikam's company id in the ConnectWise simulator.
pub const COMPANY: u64 = 250;
/// The roles a JIT account gets in Fabrikam's tenant.
pub const ROLES: [&str; 2] = ["Global Administrator", "User Administrator"];
/// Role template ids of [`ROLES`], the same in every tenant
/// (https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference).
pub const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";
pub const USER_ADMIN: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";
/// The ConnectWise checkbox (a ticket custom field) that asks for an account.
pub const TRIGGER_FIELD: &str = "Request JIT";
/// The Standard Webhooks secret of a generic connector (an example value in the
/// `whsec_` + base64 form of https://www.standardwebhooks.com/).
pub const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Someone at the MSP: a ConnectWise member and, for a technician, jitgate's record of them.
pub struct Person {
    /// The ConnectWise member identifier, which the PSA names in its callbacks.
    pub member: &'static str,
    pub email: &'static str,
    pub name: &'static str,
}

/// The technician who asks for access, delegated to Fabrikam.
pub const ALICE: Person = Person {
    member: "alice",
    email: "alice@msp.example",
    name: "Alice Smith",
};
/// A ConnectWise member jitgate does not know as a technician.
pub const MALLORY: Person = Person {
    member: "mallory",
    email: "mallory@msp.example",
    name: "Mallory",
};

/// The simulated Entra tenants (Graph) and ConnectWise PSA, serving TLS with a certificate of
/// a throwaway CA that jitgate must be told to trust (`ca_file`).
pub struct Sims {
    pub graph: GraphSim,
    pub cw: ConnectWiseSim,
    pub ca: TestCa,
    /// The CA certificate as PEM, in `ca_dir`.
    pub ca_file: PathBuf,
    /// Removed when dropped; keep it for as long as anything may read `ca_file`.
    pub ca_dir: tempfile::TempDir,
}

impl Sims {
    /// Both simulators, with Fabrikam's tenant ([`fabrikam`]) in the Graph simulator.
    pub async fn start() -> Sims {
        crate::tls::install_crypto_provider();
        let ca = TestCa::generate();
        let ca_dir = tempfile::Builder::new()
            .prefix("jitgate-sim-ca-")
            .tempdir()
            .expect("a temporary directory for the CA file");
        let ca_file = ca.write_ca_file(ca_dir.path());
        let graph = GraphSim::start(Some(&ca)).await;
        graph.add_tenant(fabrikam().tenant_spec());
        let cw = ConnectWiseSim::start(&ca).await;
        Sims {
            graph,
            cw,
            ca,
            ca_file,
            ca_dir,
        }
    }
}

/// A customer's Entra connection: its tenant and jitgate's app registration in it.
pub struct Entra {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// The verified domain JIT accounts are created in.
    pub domain: String,
}

/// Fabrikam's Entra connection.
pub fn fabrikam() -> Entra {
    Entra {
        tenant_id: TENANT.into(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        domain: DOMAIN.into(),
    }
}

impl Entra {
    /// The tenant as the Graph simulator must know it for jitgate to sign in.
    pub fn tenant_spec(&self) -> TenantSpec {
        TenantSpec::new(
            &self.tenant_id,
            &self.client_id,
            &self.client_secret,
            &self.domain,
        )
    }

    /// The body of `PUT /api/v1/customers/{id}/entra`, granting [`ROLES`].
    fn body(&self) -> Value {
        json!({
            "tenant_id": self.tenant_id, "client_id": self.client_id,
            "client_secret": self.client_secret, "jit_domain": self.domain,
            "roles": ROLES, "expiry_action": "disable",
        })
    }
}

/// A failed admin API call (or, for [`setup_msp_telling`], a failed narration).
#[derive(Debug)]
pub struct SetupError(String);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

impl From<std::io::Error> for SetupError {
    fn from(e: std::io::Error) -> Self {
        SetupError(e.to_string())
    }
}

impl From<SetupError> for String {
    fn from(e: SetupError) -> String {
        e.0
    }
}

/// A successful admin API answer.
pub struct Answer {
    pub status: u16,
    /// The JSON body; `Null` when there is none.
    pub body: Value,
}

impl Answer {
    /// The `id` of the object the call created.
    pub fn id(&self) -> Result<String, SetupError> {
        self.text("id")
    }

    fn text(&self, field: &str) -> Result<String, SetupError> {
        self.body[field]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| SetupError(format!("no {field} in {}", self.body)))
    }
}

/// The admin API of one jitgate, called with an admin token (`jitgate admin token create`).
#[derive(Clone)]
pub struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    /// `base` is jitgate's URL, e.g. `http://127.0.0.1:8080`.
    pub fn new(base: &str, token: &str) -> Admin {
        Admin::with_client(reqwest::Client::new(), base, token)
    }

    pub fn with_client(http: reqwest::Client, base: &str, token: &str) -> Admin {
        Admin {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }

    /// One call that must succeed (2xx); returns the JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, SetupError> {
        Ok(self.send(method, path, body).await?.body)
    }

    /// One call that must succeed (2xx); returns its status and JSON body. A failure names the
    /// call and jitgate's answer (which never carries a secret).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, SetupError> {
        let method: reqwest::Method = method
            .parse()
            .map_err(|_| SetupError(format!("no HTTP method {method}")))?;
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let failed = |e: reqwest::Error| SetupError(format!("{method} {path}: {e}"));
        let response = request.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(failed)?;
        if !(200..300).contains(&status) {
            return Err(SetupError(format!(
                "{method} {path} answered {status}: {text}"
            )));
        }
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    pub async fn create_customer(&self, name: &str) -> Result<Answer, SetupError> {
        self.send("POST", "/api/v1/customers", Some(json!({ "name": name })))
            .await
    }

    pub async fn connect_entra(
        &self,
        customer_id: &str,
        entra: &Entra,
    ) -> Result<Answer, SetupError> {
        let path = format!("/api/v1/customers/{customer_id}/entra");
        self.send("PUT", &path, Some(entra.body())).await
    }

    pub async fn add_technician(&self, email: &str, name: &str) -> Result<Answer, SetupError> {
        let body = json!({ "email": email, "display_name": name });
        self.send("POST", "/api/v1/technicians", Some(body)).await
    }

    /// The technician may get access to the customer.
    pub async fn delegate(
        &self,
        technician_id: &str,
        customer_id: &str,
    ) -> Result<Answer, SetupError> {
        let path = format!("/api/v1/technicians/{technician_id}/customers/{customer_id}");
        self.send("PUT", &path, None).await
    }

    /// The technician may get access to every customer.
    pub async fn make_msp_admin(&self, technician_id: &str) -> Result<Answer, SetupError> {
        let path = format!("/api/v1/technicians/{technician_id}/admin");
        self.send("PUT", &path, None).await
    }

    /// A connector from its `POST /api/v1/connectors` body.
    pub async fn add_connector(&self, body: Value) -> Result<Answer, SetupError> {
        self.send("POST", "/api/v1/connectors", Some(body)).await
    }

    /// A connector to the ConnectWise simulator, triggered by [`TRIGGER_FIELD`].
    pub async fn add_connectwise_connector(
        &self,
        cw: &ConnectWiseSim,
    ) -> Result<Answer, SetupError> {
        self.add_connector(json!({
            "kind": "connectwise", "name": "ConnectWise",
            "settings": cw.connector_settings(json!({ "custom_field": TRIGGER_FIELD })),
            "secrets": cw.connector_secrets(),
        }))
        .await
    }

    /// A Standard Webhooks connector signed with [`SW_SECRET`], without a note URL (its sender
    /// updates the ticket itself).
    pub async fn add_standard_webhooks_connector(&self) -> Result<Answer, SetupError> {
        self.add_connector(json!({
            "kind": "standard_webhooks", "name": "Standard Webhooks sender",
            "settings": {}, "secrets": { "webhook_secret": [SW_SECRET] },
        }))
        .await
    }

    /// Requests from `company` in the connector's PSA are for the customer.
    pub async fn map_company(
        &self,
        connector_id: &str,
        company: &str,
        customer_id: &str,
    ) -> Result<Answer, SetupError> {
        let path = format!("/api/v1/connectors/{connector_id}/companies/{company}");
        let body = json!({ "customer_id": customer_id });
        self.send("PUT", &path, Some(body)).await
    }
}

/// What [`setup_msp`] created.
pub struct Msp {
    pub customer_id: String,
    pub technician_id: String,
    pub connector_id: String,
    /// Where the ConnectWise callback points.
    pub webhook_url: String,
}

/// One finished call of [`setup_msp_telling`], for a caller that narrates the set-up.
pub struct Done<'a> {
    pub step: Step,
    pub method: &'static str,
    pub path: &'a str,
    pub answer: &'a Answer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Customer,
    Entra,
    Technician,
    Delegation,
    Connector,
    Mapping,
}

/// Through the admin API: customer Fabrikam with its Entra connection, technician Alice
/// (delegated to Fabrikam or not), a ConnectWise connector and the mapping of ConnectWise
/// company [`COMPANY`] to Fabrikam. ConnectWise gets the members alice and mallory.
pub async fn setup_msp(
    admin: &Admin,
    cw: &ConnectWiseSim,
    delegated: bool,
) -> Result<Msp, SetupError> {
    setup_msp_telling(admin, cw, delegated, &mut |_| Ok(())).await
}

/// [`setup_msp`], calling `tell` after each admin API call.
pub async fn setup_msp_telling(
    admin: &Admin,
    cw: &ConnectWiseSim,
    delegated: bool,
    tell: &mut dyn FnMut(&Done<'_>) -> Result<(), SetupError>,
) -> Result<Msp, SetupError> {
    let (customer_id, technician_id) = setup_customer_telling(admin, delegated, tell).await?;
    let connector = admin.add_connectwise_connector(cw).await?;
    tell(&done(
        Step::Connector,
        "POST",
        "/api/v1/connectors",
        &connector,
    ))?;
    let connector_id = connector.id()?;
    let company = COMPANY.to_string();
    let mapping = admin
        .map_company(&connector_id, &company, &customer_id)
        .await?;
    let path = format!("/api/v1/connectors/{connector_id}/companies/{company}");
    tell(&done(Step::Mapping, "PUT", &path, &mapping))?;
    for person in [ALICE, MALLORY] {
        cw.add_member(person.member, person.email);
    }
    Ok(Msp {
        customer_id,
        technician_id,
        webhook_url: connector.text("webhook_url")?,
        connector_id,
    })
}

/// Customer Fabrikam with its Entra connection, and technician Alice (delegated to it or not);
/// returns their ids.
pub async fn setup_customer(
    admin: &Admin,
    delegated: bool,
) -> Result<(String, String), SetupError> {
    setup_customer_telling(admin, delegated, &mut |_| Ok(())).await
}

async fn setup_customer_telling(
    admin: &Admin,
    delegated: bool,
    tell: &mut dyn FnMut(&Done<'_>) -> Result<(), SetupError>,
) -> Result<(String, String), SetupError> {
    let customer = admin.create_customer(CUSTOMER).await?;
    tell(&done(
        Step::Customer,
        "POST",
        "/api/v1/customers",
        &customer,
    ))?;
    let customer_id = customer.id()?;
    let entra = admin.connect_entra(&customer_id, &fabrikam()).await?;
    let path = format!("/api/v1/customers/{customer_id}/entra");
    tell(&done(Step::Entra, "PUT", &path, &entra))?;
    let technician = admin.add_technician(ALICE.email, ALICE.name).await?;
    tell(&done(
        Step::Technician,
        "POST",
        "/api/v1/technicians",
        &technician,
    ))?;
    let technician_id = technician.id()?;
    if delegated {
        let delegation = admin.delegate(&technician_id, &customer_id).await?;
        let path = format!("/api/v1/technicians/{technician_id}/customers/{customer_id}");
        tell(&done(Step::Delegation, "PUT", &path, &delegation))?;
    }
    Ok((customer_id, technician_id))
}

fn done<'a>(step: Step, method: &'static str, path: &'a str, answer: &'a Answer) -> Done<'a> {
    Done {
        step,
        method,
        path,
        answer,
    }
}
