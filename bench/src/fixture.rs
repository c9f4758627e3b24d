//! The MSP the benchmarks run against, set up in a jitgate through its admin API by the set-up
//! the demo and the tests share ([`jitgate_sim::world`]): many numbered customers, each with its
//! own tenant in the Graph simulator, and MSP-admin technicians known to ConnectWise.

use futures::{StreamExt, TryStreamExt};
pub use jitgate_sim::world::{Admin, SW_SECRET, Sims, TRIGGER_FIELD as CW_FIELD};
use jitgate_sim::world::{Entra, SetupError};

/// Admin API calls in flight during setup.
const SETUP_PARALLEL: usize = 8;

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

/// An MSP: customers with Entra tenants in the Graph sim (tenant ids distinct per
/// `tenant_set`), MSP-admin technicians known to the ConnectWise sim, a ConnectWise and a
/// Standard Webhooks connector, every company mapped.
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
    ) -> Result<Msp, SetupError> {
        let cw_connector = admin.add_connectwise_connector(&sims.cw).await?.id()?;
        let sw_connector = admin.add_standard_webhooks_connector().await?.id()?;
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

/// Customer `i` with its own tenant (tenant ids distinct per `tenant_set`), mapped in both
/// connectors.
async fn add_customer(
    admin: &Admin,
    sims: &Sims,
    cw_connector: &str,
    sw_connector: &str,
    tenant_set: u32,
    i: usize,
) -> Result<Customer, SetupError> {
    // Each instance gets its own tenants in the shared Graph sim.
    let entra = Entra {
        tenant_id: guid(0x7e4a4700 + tenant_set, i),
        client_id: guid(0xc11e4700 + tenant_set, i),
        client_secret: format!("bench~client~secret~{i:05}"),
        domain: format!("cust{i:05}.example"),
    };
    sims.graph.add_tenant(entra.tenant_spec());
    let id = admin
        .create_customer(&format!("Customer {i:05}"))
        .await?
        .id()?;
    admin.connect_entra(&id, &entra).await?;
    let cw_company = 1000 + i as u64;
    let sw_company = format!("cust-{i:05}");
    admin
        .map_company(cw_connector, &cw_company.to_string(), &id)
        .await?;
    admin.map_company(sw_connector, &sw_company, &id).await?;
    Ok(Customer {
        tenant: entra.tenant_id,
        domain: entra.domain,
        cw_company,
        sw_company,
    })
}

/// Technician `k`, an MSP admin (so any customer's request is theirs to make), and a
/// ConnectWise member.
async fn add_technician(admin: &Admin, sims: &Sims, k: usize) -> Result<Technician, SetupError> {
    let identifier = format!("tech{k:05}");
    let email = format!("{identifier}@msp.example");
    let id = admin
        .add_technician(&email, &format!("Tech {k:05}"))
        .await?
        .id()?;
    admin.make_msp_admin(&id).await?;
    sims.cw.add_member(&identifier, &email);
    Ok(Technician { identifier, email })
}
