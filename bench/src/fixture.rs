//! The simulated world (Graph/Entra and ConnectWise in this process, over TLS with a throwaway
//! CA) and the MSP set up in a jitgate through its admin API, as an admin would.

use futures::{StreamExt, TryStreamExt};
use jitgate_sim::connectwise::ConnectWiseSim;
use jitgate_sim::graph::{GraphSim, TenantSpec};
use jitgate_sim::tls::TestCa;
use serde_json::{Value, json};
use std::path::PathBuf;

/// The Standard Webhooks secret of the benchmark's generic connector (an example value).
pub const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The ConnectWise custom field that requests an account.
pub const CW_FIELD: &str = "Request JIT";
const ROLES: [&str; 2] = ["Global Administrator", "User Administrator"];
/// Admin API calls in flight during setup.
const SETUP_PARALLEL: usize = 8;

pub struct Sims {
    pub graph: GraphSim,
    pub cw: ConnectWiseSim,
    pub ca_file: PathBuf,
    _ca: TestCa,
    _ca_dir: tempfile::TempDir,
}

impl Sims {
    pub async fn start() -> Sims {
        let ca = TestCa::generate();
        let ca_dir = tempfile::tempdir().expect("temp dir");
        let ca_file = ca.write_ca_file(ca_dir.path());
        let graph = GraphSim::start(Some(&ca)).await;
        let cw = ConnectWiseSim::start(&ca).await;
        Sims {
            graph,
            cw,
            ca_file,
            _ca: ca,
            _ca_dir: ca_dir,
        }
    }
}

/// The admin API of one jitgate.
#[derive(Clone)]
pub struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    pub fn new(base: &str, token: &str) -> Admin {
        Admin {
            http: reqwest::Client::new(),
            base: base.to_string(),
            token: token.to_string(),
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut req = self
            .http
            .request(
                method.parse().expect("method"),
                format!("{}{path}", self.base),
            )
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("{method} {path} answered {status}: {text}"));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A Standard Webhooks connector without a note URL (its sender updates the ticket itself).
    pub async fn standard_webhooks_connector(&self) -> Result<String, String> {
        let c = self
            .call(
                "POST",
                "/api/v1/connectors",
                Some(json!({"kind": "standard_webhooks", "name": "bench sender",
                    "settings": {}, "secrets": {"webhook_secret": [SW_SECRET]}})),
            )
            .await?;
        Ok(c["id"].as_str().expect("connector id").to_string())
    }
}

pub struct Customer {
    pub tenant: String,
    pub domain: String,
    /// The ConnectWise company and the Standard Webhooks company id mapped to it.
    pub cw_company: u64,
    pub sw_company: String,
}

pub struct Technician {
    pub identifier: String,
    pub email: String,
}

impl Technician {
    /// The JIT account's UPN in `customer`'s tenant (the default template `{local}-jit@{domain}`).
    pub fn upn(&self, customer: &Customer) -> String {
        format!("{}-jit@{}", self.identifier, customer.domain)
    }
}

/// An MSP: customers with Entra tenants in the Graph sim (tenant ids distinct per `tenant_set`), MSP-admin technicians known to the
/// ConnectWise sim, a ConnectWise and a Standard Webhooks connector, every company mapped.
pub struct Msp {
    pub cw_connector: String,
    pub sw_connector: String,
    pub customers: Vec<Customer>,
    pub technicians: Vec<Technician>,
}

fn guid(kind: u32, i: usize) -> String {
    format!("{kind:08x}-0000-4000-8000-{i:012x}")
}

impl Msp {
    pub async fn create(
        admin: &Admin,
        sims: &Sims,
        customers: usize,
        technicians: usize,
        tenant_set: u32,
    ) -> Result<Msp, String> {
        let cw_connector = admin
            .call(
                "POST",
                "/api/v1/connectors",
                Some(json!({"kind": "connectwise", "name": "ConnectWise",
                    "settings": sims.cw.connector_settings(json!({"custom_field": CW_FIELD})),
                    "secrets": sims.cw.connector_secrets()})),
            )
            .await?["id"]
            .as_str()
            .expect("connector id")
            .to_string();
        let sw_connector = admin.standard_webhooks_connector().await?;
        let customers: Vec<Customer> = futures::stream::iter(0..customers)
            .map(|i| add_customer(admin, sims, &cw_connector, &sw_connector, tenant_set, i))
            .buffered(SETUP_PARALLEL)
            .try_collect()
            .await?;
        let technicians: Vec<Technician> = futures::stream::iter(0..technicians)
            .map(|k| add_technician(admin, sims, k))
            .buffered(SETUP_PARALLEL)
            .try_collect()
            .await?;
        Ok(Msp {
            cw_connector,
            sw_connector,
            customers,
            technicians,
        })
    }
}

async fn add_customer(
    admin: &Admin,
    sims: &Sims,
    cw_connector: &str,
    sw_connector: &str,
    tenant_set: u32,
    i: usize,
) -> Result<Customer, String> {
    // Each instance gets its own tenants in the shared Graph sim.
    let (tenant, client) = (
        guid(0x7e4a4700 + tenant_set, i),
        guid(0xc11e4700 + tenant_set, i),
    );
    let secret = format!("bench~client~secret~{i:05}");
    let domain = format!("cust{i:05}.example");
    sims.graph
        .add_tenant(TenantSpec::new(&tenant, &client, &secret, &domain));
    let id = admin
        .call(
            "POST",
            "/api/v1/customers",
            Some(json!({"name": format!("Customer {i:05}")})),
        )
        .await?["id"]
        .as_str()
        .expect("customer id")
        .to_string();
    admin
        .call(
            "PUT",
            &format!("/api/v1/customers/{id}/entra"),
            Some(
                json!({"tenant_id": tenant, "client_id": client, "client_secret": secret,
                "jit_domain": domain, "roles": ROLES}),
            ),
        )
        .await?;
    let cw_company = 1000 + i as u64;
    let sw_company = format!("cust-{i:05}");
    for (connector, company) in [
        (cw_connector, cw_company.to_string()),
        (sw_connector, sw_company.clone()),
    ] {
        admin
            .call(
                "PUT",
                &format!("/api/v1/connectors/{connector}/companies/{company}"),
                Some(json!({"customer_id": id})),
            )
            .await?;
    }
    Ok(Customer {
        tenant,
        domain,
        cw_company,
        sw_company,
    })
}

async fn add_technician(admin: &Admin, sims: &Sims, k: usize) -> Result<Technician, String> {
    let identifier = format!("tech{k:05}");
    let email = format!("{identifier}@msp.example");
    let t = admin
        .call(
            "POST",
            "/api/v1/technicians",
            Some(json!({"email": email, "display_name": format!("Tech {k:05}")})),
        )
        .await?;
    let id = t["id"].as_str().expect("technician id");
    admin
        .call("PUT", &format!("/api/v1/technicians/{id}/admin"), None)
        .await?;
    sims.cw.add_member(&identifier, &email);
    Ok(Technician { identifier, email })
}
