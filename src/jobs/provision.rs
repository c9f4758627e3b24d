//! The `provision` job: resolve the ticket's company and the acting technician, check they may
//! work that customer, make sure their JIT account is enabled with the configured roles, and
//! start (or extend) the grant with a fresh credential link and a ticket note.

use super::texts::{self, CredentialsNote};
use super::{JobContext, JobError, backoff, queue, tenant_of};
use crate::crypto::random_token;
use crate::domain::ids::RequestId;
use crate::domain::lifecycle::{EndReason, NoteKind, RequestKind, RequestSource, RequestStatus};
use crate::domain::names::{Email, UpnTemplate};
use crate::psa::RegistryError;
use crate::store::audit::AuditEntry;
use crate::store::deliveries::RequestRow;
use crate::store::grants::{GrantStart, NewNote};
use crate::store::{self, accounts, now_ms};
use apalis::prelude::{BoxDynError, Data};
use jitgate_connectors::{Actor, CompanyRef, PsaError, TicketRef};
use jitgate_graph::{AccountSpec, GraphError};
use std::sync::Arc;
use std::time::Duration;

/// The `provision` job: act on the JIT request `request_id`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProvisionJob {
    pub request_id: RequestId,
    /// How many times the job was rescheduled after a failure (backoff).
    #[serde(default)]
    pub attempt: u32,
    /// How many times it waited for another job holding the account (not failures).
    #[serde(default)]
    pub waits: u32,
}

impl ProvisionJob {
    pub fn new(request_id: &str) -> Self {
        ProvisionJob {
            request_id: RequestId::new(request_id),
            attempt: 0,
            waits: 0,
        }
    }
}

pub async fn handle(job: ProvisionJob, ctx: Data<Arc<JobContext>>) -> Result<(), BoxDynError> {
    let outcome = provision(&ctx, &job).await;
    super::finish(&ctx, &job, outcome, async |reason| {
        if let Some(req) = store::deliveries::request(&ctx.db, job.request_id.as_str()).await? {
            let why = format!("it kept failing for about ten minutes (last: {reason})");
            close(
                &ctx,
                &req,
                RequestStatus::Failed,
                &why,
                texts::failed(&why),
                None,
                None,
            )
            .await
            .map_err(into_store)?;
        }
        Ok(())
    })
    .await
}

impl super::Rescheduled for ProvisionJob {
    const QUEUE: &'static str = queue::PROVISION;
    const NAME: &'static str = "provision";
    /// With backoff capped at a minute, about ten minutes: enough for Entra replication lag
    /// and short outages.
    const MAX_ATTEMPTS: Option<u32> = Some(14);
    fn subject(&self) -> &str {
        self.request_id.as_str()
    }
    fn attempt(&self) -> u32 {
        self.attempt
    }
    fn waits(&self) -> u32 {
        self.waits
    }
    fn with(&self, attempt: u32, waits: u32) -> Self {
        ProvisionJob {
            request_id: self.request_id.clone(),
            attempt,
            waits,
        }
    }
}

fn into_store(e: JobError) -> store::StoreError {
    match e {
        JobError::Store(e) => e,
        other => store::StoreError::Queue(other.to_string()),
    }
}

/// Why a request is refused: said on the ticket, in the audit trail, and in the request row.
struct Refusal(String);

async fn provision(ctx: &JobContext, job: &ProvisionJob) -> Result<(), JobError> {
    let Some(req) = store::deliveries::request(&ctx.db, job.request_id.as_str()).await? else {
        return Ok(());
    };
    if req.status != RequestStatus::Pending {
        return Ok(()); // already handled: this is a re-run
    }
    store::deliveries::touch_request(&ctx.db, &req.id).await?;
    if !decide_undecided(ctx, &req).await? {
        return Ok(());
    }
    match resolve(ctx, &req).await? {
        Err(Refusal(why)) => {
            tracing::info!(request = %req.id, reason = %why, "JIT request refused");
            close(
                ctx,
                &req,
                RequestStatus::Refused,
                &why,
                texts::refused(&why),
                None,
                None,
            )
            .await?;
            Ok(())
        }
        Ok(who) if req.kind == RequestKind::Cancel => cancel(ctx, &req, &who).await,
        Ok(who) => grant(ctx, &req, &who).await,
    }
}

/// The request's customer and technician, once every check passed.
struct Resolved {
    customer: store::customers::Customer,
    technician: store::technicians::Technician,
    ticket: Option<TicketRef>,
}

async fn resolve(
    ctx: &JobContext,
    req: &RequestRow,
) -> Result<Result<Resolved, Refusal>, JobError> {
    let (customer, technician, ticket) = match req.source {
        RequestSource::Psa => match resolve_from_psa(ctx, req).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        },
        RequestSource::Portal => match resolve_from_portal(ctx, req).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        },
    };
    if req.kind == RequestKind::Request
        && !store::technicians::may_work(&ctx.db, &technician, &customer.id).await?
    {
        return Ok(Err(Refusal(format!(
            "{} is not delegated to {}",
            technician.email, customer.name
        ))));
    }
    Ok(Ok(Resolved {
        customer,
        technician,
        ticket,
    }))
}

/// The customer, technician and ticket a request names before the delegation check.
type Found = (
    store::customers::Customer,
    store::technicians::Technician,
    Option<TicketRef>,
);

/// A portal request names its customer and technician (the signed-in one): no PSA to ask. A
/// ticket is one only with a connector to post to.
async fn resolve_from_portal(
    ctx: &JobContext,
    req: &RequestRow,
) -> Result<Result<Found, Refusal>, JobError> {
    let (Some(customer_id), Some(technician_id)) = (&req.customer_id, &req.requested_by) else {
        return Ok(Err(Refusal(
            "the portal request names no customer or technician".into(),
        )));
    };
    let customer =
        match store::customers::get(&ctx.db, &store::customers::Visibility::All, customer_id).await
        {
            Ok(c) => c,
            Err(store::StoreError::NotFound) => {
                return Ok(Err(Refusal("the customer was deleted".into())));
            }
            Err(e) => return Err(e.into()),
        };
    let technician = match store::technicians::get(&ctx.db, technician_id).await {
        Ok(t) => t,
        Err(store::StoreError::NotFound) => {
            return Ok(Err(Refusal(
                "the requesting technician was removed from jitgate".into(),
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let ticket = req
        .ticket_of_connector()
        .map(|(_, t)| TicketRef(t.to_string()));
    Ok(Ok((customer, technician, ticket)))
}

/// A webhook request: the PSA says which company (mapped to a customer) and who asked.
async fn resolve_from_psa(
    ctx: &JobContext,
    req: &RequestRow,
) -> Result<Result<Found, Refusal>, JobError> {
    let Some(connector_id) = req.connector_id.as_deref() else {
        return Ok(Err(Refusal("the request names no PSA connector".into())));
    };
    let connector = match ctx.connectors.get(connector_id).await {
        Ok(c) => c,
        Err(RegistryError::Unknown) => {
            return Ok(Err(Refusal("the PSA connector was deleted".into())));
        }
        Err(RegistryError::Store(e)) => return Err(e.into()),
        Err(e @ RegistryError::Broken { .. }) => return Ok(Err(Refusal(e.to_string()))),
    };
    let ticket = req.ticket_ref.clone().map(TicketRef);
    let company = match (&req.psa_company_id, &ticket) {
        (Some(c), _) => CompanyRef(c.clone()),
        (None, Some(t)) => match connector.instance.ticket_company(t).await {
            Ok(c) => c,
            Err(e) => return psa_problem(e, "reading the ticket's company"),
        },
        (None, None) => {
            return Ok(Err(Refusal(
                "the request names neither a ticket nor a company".into(),
            )));
        }
    };
    let Some(mapping) = store::connectors::mapping(&ctx.db, connector_id, &company.0).await? else {
        return Ok(Err(Refusal(format!(
            "the PSA company {} is not mapped to a jitgate customer (map it with PUT /api/v1/connectors/{}/companies/{})",
            company.0, connector_id, company.0
        ))));
    };
    let customer = store::customers::get(
        &ctx.db,
        &store::customers::Visibility::All,
        &mapping.customer_id,
    )
    .await?;
    let actor: Option<Actor> = req
        .actor
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok());
    let email = match actor {
        Some(Actor::Email(e)) => e,
        Some(Actor::PsaUser(id)) => match connector.instance.actor_email(&id).await {
            Ok(e) => e,
            Err(e) => return psa_problem(e, "looking up the acting PSA user's email"),
        },
        None => {
            return Ok(Err(Refusal(
                "the PSA did not say who requested the account".into(),
            )));
        }
    };
    let Some(technician) = store::technicians::by_email(&ctx.db, &email).await? else {
        return Ok(Err(Refusal(format!("{email} is not a jitgate technician"))));
    };
    Ok(Ok((customer, technician, ticket)))
}

fn psa_problem<T>(e: PsaError, doing: &str) -> Result<Result<T, Refusal>, JobError> {
    match e {
        PsaError::RateLimited(after) => Err(JobError::retry(
            after,
            format!("PSA rate limit while {doing}"),
        )),
        e if e.is_transient() => Err(JobError::retry(
            Duration::from_secs(5),
            format!("PSA unavailable while {doing}: {e}"),
        )),
        e => Ok(Err(Refusal(format!("the PSA refused {doing}: {e}")))),
    }
}

async fn grant(ctx: &JobContext, req: &RequestRow, who: &Resolved) -> Result<(), JobError> {
    let Some((connection, tenant)) = tenant_of(ctx, &who.customer.id).await? else {
        let why = format!("{} has no Entra connection in jitgate", who.customer.name);
        close(
            ctx,
            req,
            RequestStatus::Refused,
            &why,
            texts::refused(&why),
            Some(&who.customer.id),
            Some(&who.technician.id),
        )
        .await?;
        return Ok(());
    };
    let roles = match role_set(ctx, who, &connection).await? {
        Ok(roles) => roles,
        Err(Refusal(why)) => {
            refuse(ctx, req, who, &why).await?;
            return Ok(());
        }
    };
    // A tenant that failed its last check would fail deep inside Graph calls (or look like
    // replication lag for minutes): refuse at once, naming the check and its fix.
    if let Some(check) = store::checks::last(&ctx.db, &who.customer.id).await?
        && let Some(failed) = check.failed()
    {
        let why = format!(
            "the tenant check of {} failed ({}: {}). Fix: {} Then run the check again \
             (POST /api/v1/customers/{}/entra/check).",
            who.customer.name, failed.name, failed.detail, failed.fix, who.customer.id
        );
        refuse(ctx, req, who, &why).await?;
        return Ok(());
    }
    let email = Email::parse(&who.technician.email).map_err(|e| JobError::retry(backoff(0), e))?;
    let template =
        UpnTemplate::parse(&connection.upn_template).map_err(|e| JobError::retry(backoff(0), e))?;
    let upn = match template.render(email.local_part(), &connection.jit_domain) {
        Ok(u) => u,
        Err(why) => {
            close(
                ctx,
                req,
                RequestStatus::Refused,
                &why,
                texts::refused(&why),
                Some(&who.customer.id),
                Some(&who.technician.id),
            )
            .await?;
            return Ok(());
        }
    };
    let claimed = accounts::claim(&ctx.db, &who.customer.id, &who.technician.id, &upn).await?;
    if let Some(wanted) = &claimed.instead_of {
        note_distinct_upn(ctx, req, who, wanted, &claimed.account.upn).await?;
    }
    let mut account = claimed.account;
    // Another technician's jitgate account in the tenant may hold the UPN without jitgate's
    // records knowing it (another install, a restored database): take the next free name.
    for _ in 0..3 {
        let outcome = super::with_account_lease(
            ctx,
            &account.id,
            grant_locked(ctx, req, who, &connection, &tenant, &account, &roles),
        )
        .await?;
        match outcome {
            Locked::Started(started) => {
                after_start(ctx, req, who, *started).await;
                return Ok(());
            }
            Locked::Closed => return Ok(()),
            Locked::UpnHeldByAnotherTechnician => {
                let wanted = account.upn.clone();
                account = accounts::renumber(&ctx.db, &account.id).await?;
                note_distinct_upn(ctx, req, who, &wanted, &account.upn).await?;
            }
        }
    }
    Err(JobError::retry(
        backoff(0),
        "every user principal name tried belongs to another technician's account",
    ))
}

/// The audit trail says which UPN the account got when the template's was taken.
async fn note_distinct_upn(
    ctx: &JobContext,
    req: &RequestRow,
    who: &Resolved,
    wanted: &str,
    chosen: &str,
) -> Result<(), JobError> {
    let audit = with_connector(AuditEntry::new("system", "account.upn", "ok"), req)
        .customer(&who.customer.id)
        .technician(&who.technician.id)
        .account(chosen)
        .detail(format!(
            "{wanted} belongs to another technician's JIT account; {} gets {chosen}",
            who.technician.email
        ));
    store::audit::record_event(&ctx.db, &audit).await?;
    Ok(())
}

/// The roles a new grant gives, and the groups whose mappings gave them.
struct RoleSet {
    roles: Vec<String>,
    sources: Vec<store::groups::RoleSource>,
}

/// The union of the roles of the technician's groups that the customer's mappings name (the
/// default mapping being All admins → the connection's roles). Read at each request, so a
/// change of mapping applies from the next one; none at all refuses the request.
async fn role_set(
    ctx: &JobContext,
    who: &Resolved,
    connection: &store::customers::EntraConnection,
) -> Result<Result<RoleSet, Refusal>, JobError> {
    let mappings =
        store::groups::mappings(&ctx.db, &who.customer.id, &connection.role_ids()).await?;
    let groups = store::groups::groups_of(&ctx.db, &who.technician.id).await?;
    let (roles, sources) = store::groups::roles_for(&mappings, &groups);
    if roles.is_empty() {
        return Ok(Err(Refusal(format!(
            "no role mapping gives {} any role in {}",
            who.technician.email, who.customer.name
        ))));
    }
    Ok(Ok(RoleSet { roles, sources }))
}

/// The audit trail's "why" of a new grant's roles, e.g. `roles 62e9… from All admins`.
fn roles_detail(roles: &RoleSet) -> String {
    let groups: Vec<&str> = roles.sources.iter().map(|s| s.group.as_str()).collect();
    format!("roles {} from {}", roles.roles.join(" "), groups.join(", "))
}

/// What [`grant_locked`] did.
enum Locked {
    Started(Box<store::grants::Started>),
    /// Refused or failed, with the request closed and the ticket told.
    Closed,
    /// The account's UPN is another technician's account in Entra: renumber and try again.
    UpnHeldByAnotherTechnician,
}

async fn grant_locked(
    ctx: &JobContext,
    req: &RequestRow,
    who: &Resolved,
    connection: &store::customers::EntraConnection,
    tenant: &jitgate_graph::Tenant,
    account: &accounts::Account,
    roles: &RoleSet,
) -> Result<Locked, JobError> {
    let now = now_ms();
    let open = store::grants::open_for_account(&ctx.db, &account.id).await?;
    if let Some(g) = &open
        && (g.end_requested || g.expires_at <= now || g.end_attempts > 0)
    {
        return Err(JobError::retry(
            Duration::from_secs(2),
            "the technician's previous grant is still ending",
        ));
    }
    let moved = account_moved(account, connection);
    if moved && open.is_some() {
        // Changing the tenant is refused while grants are open; never extend a grant into
        // another tenant.
        let why = format!(
            "{}'s Entra connection names another tenant than the open grant's; end the open grant first",
            who.customer.name
        );
        refuse(ctx, req, who, &why).await?;
        return Ok(Locked::Closed);
    }
    let known_user_id = if moved {
        // The old tenant's account stays there, disabled; this tenant gets its own.
        accounts::forget_entra_user(&ctx.db, &account.id).await?;
        None
    } else {
        account.entra_user_id.as_deref()
    };
    let upn = if open.is_some() {
        account.upn.clone() // an active grant: extend it, the account is already set up
    } else {
        let spec = AccountSpec {
            upn: account.upn.clone(),
            display_name: format!("{} (JIT admin)", who.technician.display_name),
            mail_nickname: account.upn.split('@').next().unwrap_or("jit").to_string(),
            owner: accounts::owner_tag(&who.technician.id),
            roles: roles.roles.clone(),
        };
        match ctx.graph.ensure_access(tenant, &spec, known_user_id).await {
            Ok(access) => {
                let scope = accounts::secret_scope(&account.id);
                let mut tx = ctx.db.begin().await?;
                store::secrets::put(
                    &mut tx,
                    &ctx.keyring,
                    &scope,
                    accounts::PASSWORD,
                    jitgate_graph::ExposeSecret::expose_secret(&access.password).as_bytes(),
                )
                .await?;
                let active = accounts::Active {
                    entra_user_id: &access.user_id,
                    upn: &access.upn,
                    tenant_id: &tenant.tenant_id,
                    client_id: &tenant.client_id,
                };
                accounts::set_active(&mut tx, &account.id, &active).await?;
                if access.created && account.totp_set {
                    // A new Entra user has no authenticator yet: a key stored for the old one
                    // would show wrong codes.
                    store::secrets::delete(&mut tx, &scope, accounts::TOTP_KEY).await?;
                    accounts::set_totp(&mut tx, &account.id, false).await?;
                }
                tx.commit().await?;
                access.upn
            }
            Err(jitgate_graph::GraphError::AnotherTechniciansAccount { .. })
                if account.entra_user_id.is_none() || moved =>
            {
                return Ok(Locked::UpnHeldByAnotherTechnician);
            }
            Err(e) => {
                return graph_problem(ctx, req, who, connection, e)
                    .await
                    .map(|()| Locked::Closed);
            }
        }
    };
    let duration = requested_duration(ctx, req, connection);
    let expires_at = now + duration.as_millis() as i64;
    let reveal_limit = ctx.config.reveal_limit as i32;
    let (title, body) = texts::credentials(&CredentialsNote {
        technician: &who.technician.display_name,
        customer: &who.customer.name,
        upn: &upn,
        expires_at,
        extended: open.is_some(),
        reveal_limit,
        sign_in_required: ctx.config.links_need_sign_in(),
    });
    let note = who
        .ticket
        .as_ref()
        .zip(req.connector_id.as_ref())
        .map(|(t, connector_id)| NewNote {
            connector_id: connector_id.clone(),
            ticket_ref: t.0.clone(),
            kind: NoteKind::Credentials,
            title,
            body,
        });
    let action = if open.is_some() {
        "grant.extend"
    } else {
        "grant.start"
    };
    let audit = AuditEntry::new(format!("technician:{}", who.technician.id), action, "ok");
    let mut audit = with_connector(audit, req)
        .customer(&who.customer.id)
        .technician(&who.technician.id)
        .tenant(&connection.tenant_id)
        .account(&upn)
        .detail(format!(
            "request {}; expires {}; {}",
            req.id,
            crate::domain::time::utc(expires_at),
            if open.is_some() {
                "roles kept from the grant's start".to_string()
            } else {
                roles_detail(roles)
            }
        ));
    if let Some(t) = &who.ticket {
        audit = audit.ticket(&t.0);
    }
    let start = GrantStart {
        account_id: account.id.clone(),
        tenant_id: tenant.tenant_id.clone(),
        client_id: tenant.client_id.clone(),
        roles: serde_json::to_string(&roles.roles).expect("strings serialize"),
        role_sources: serde_json::to_string(&roles.sources).expect("role sources serialize"),
        customer_id: who.customer.id.clone(),
        technician_id: who.technician.id.clone(),
        request_id: req.id.clone(),
        connector_id: req.connector_id.clone(),
        // A grant's ticket is one the end's note can reach: only with its connector.
        ticket_ref: who
            .ticket
            .as_ref()
            .filter(|_| req.connector_id.is_some())
            .map(|t| t.0.clone()),
        expires_at,
        reveal_limit,
        link_token: random_token(),
        note,
        audit,
    };
    Ok(Locked::Started(Box::new(
        store::grants::start_or_extend(&ctx.db, &ctx.keyring, queue::OUTBOX, &start).await?,
    )))
}

/// Whether the customer's connection now names another tenant or app than the one the
/// account's Entra user lives in.
fn account_moved(
    account: &accounts::Account,
    connection: &store::customers::EntraConnection,
) -> bool {
    let differs = |stored: &Option<String>, current: &str| {
        stored
            .as_deref()
            .is_some_and(|s| !s.eq_ignore_ascii_case(current))
    };
    account.entra_user_id.is_some()
        && (differs(&account.tenant_id, &connection.tenant_id)
            || differs(&account.client_id, &connection.client_id))
}

/// Refuse the request of a resolved technician and customer, telling the ticket why.
async fn refuse(
    ctx: &JobContext,
    req: &RequestRow,
    who: &Resolved,
    why: &str,
) -> Result<(), JobError> {
    close(
        ctx,
        req,
        RequestStatus::Refused,
        why,
        texts::refused(why),
        Some(&who.customer.id),
        Some(&who.technician.id),
    )
    .await
}

/// The grant's length: the request's own, else the customer's, else the default; never more
/// than `jit_max_duration`.
fn requested_duration(
    ctx: &JobContext,
    req: &RequestRow,
    connection: &store::customers::EntraConnection,
) -> Duration {
    grant_duration(&ctx.config, req.duration_secs, connection.duration_secs)
}

/// The rule for every request (webhook or portal): the asked length, else the customer's,
/// else the configured default, at least a minute and never more than `jit_max_duration`.
pub fn grant_duration(
    config: &crate::config::Config,
    asked_secs: Option<i64>,
    customer_secs: Option<i64>,
) -> Duration {
    let wanted = asked_secs
        .or(customer_secs)
        .map(|s| Duration::from_secs(s.max(60) as u64))
        .unwrap_or(config.jit_duration.get());
    wanted.min(config.jit_max_duration.get())
}

async fn graph_problem(
    ctx: &JobContext,
    req: &RequestRow,
    who: &Resolved,
    connection: &store::customers::EntraConnection,
    e: GraphError,
) -> Result<(), JobError> {
    if let Some(after) = e.retry_after() {
        return Err(JobError::retry(after, format!("Graph: {e}")));
    }
    if e.is_transient() {
        return Err(JobError::retry(backoff(0), format!("Graph: {e}")));
    }
    tracing::warn!(request = %req.id, tenant = %connection.tenant_id, error = %e, request_id = ?e.request_id(), "Graph refused provisioning");
    let why = e.to_string();
    close(
        ctx,
        req,
        RequestStatus::Failed,
        &why,
        texts::failed(&why),
        Some(&who.customer.id),
        Some(&who.technician.id),
    )
    .await?;
    Ok(())
}

/// Reset the PSA's trigger so later ticket updates do not request again, then re-arm.
async fn after_start(
    ctx: &JobContext,
    req: &RequestRow,
    who: &Resolved,
    started: store::grants::Started,
) {
    ctx.metrics.grants_started.inc();
    tracing::info!(request = %req.id, grant = %started.grant.id, extended = started.extended, "grant started");
    // Only a PSA's own trigger (a field the technician set) is reset; a request from the
    // in-ticket link set nothing.
    if req.source != RequestSource::Psa {
        return;
    }
    let (Some(ticket), Some(connector_id)) = (&who.ticket, req.connector_id.as_deref()) else {
        return;
    };
    let Ok(connector) = ctx.connectors.get(connector_id).await else {
        return;
    };
    match connector.instance.reset_trigger(ticket).await {
        Ok(()) => {
            if let Err(e) = store::deliveries::release_latch(&ctx.db, connector_id, &ticket.0).await
            {
                tracing::warn!(error = %e, "could not release the trigger latch");
            }
        }
        // The latch stays until a delivery shows the trigger cleared, so nothing repeats.
        Err(e) => {
            tracing::warn!(request = %req.id, error = %e, "could not reset the PSA trigger field")
        }
    }
}

/// End the technician's open grant for this customer early (`jit.cancelled`).
async fn cancel(ctx: &JobContext, req: &RequestRow, who: &Resolved) -> Result<(), JobError> {
    // A request accepted before this cancellation and still being provisioned would start its
    // grant after we looked: let it finish first.
    if store::deliveries::earlier_request_pending(&ctx.db, req).await? {
        return Err(JobError::Wait {
            after: Duration::from_secs(1),
            reason: "an earlier request of this ticket is still being provisioned".into(),
        });
    }
    match store::accounts::find(&ctx.db, &who.customer.id, &who.technician.id).await? {
        // The provisioning job holds the account's lease from its Graph calls until its grant
        // is recorded, so under the lease the open grant (if any) is the whole truth.
        Some(account) => {
            super::with_account_lease(
                ctx,
                &account.id,
                cancel_open_grant(ctx, req, who, Some(&account)),
            )
            .await
        }
        None => cancel_open_grant(ctx, req, who, None).await,
    }
}

async fn cancel_open_grant(
    ctx: &JobContext,
    req: &RequestRow,
    who: &Resolved,
    account: Option<&accounts::Account>,
) -> Result<(), JobError> {
    let open = match account {
        Some(account) => store::grants::open_for_account(&ctx.db, &account.id).await?,
        None => None,
    };
    let mut tx = ctx.db.begin().await?;
    let detail = match &open {
        Some(g) => {
            super::end::request_end(&mut tx, &g.id, EndReason::Cancelled).await?;
            format!("grant {} ends now", g.id)
        }
        None => "no open grant".to_string(),
    };
    let audit = with_connector(AuditEntry::new(requester(req), "grant.cancel", "ok"), req)
        .customer(&who.customer.id)
        .technician(&who.technician.id)
        .detail(detail.clone());
    let close = store::grants::RequestClose {
        request_id: &req.id,
        status: RequestStatus::Done,
        detail: &detail,
        note: None,
        audit: &audit,
    };
    store::grants::close_request_with_note(&mut tx, &ctx.keyring, queue::OUTBOX, &close).await?;
    tx.commit().await?;
    Ok(())
}

/// Close a request that will not be provisioned, with a ticket note saying why.
async fn close(
    ctx: &JobContext,
    req: &RequestRow,
    status: RequestStatus,
    why: &str,
    (title, body): (String, String),
    customer: Option<&str>,
    technician: Option<&str>,
) -> Result<(), JobError> {
    let (note_kind, outcome) = match status {
        RequestStatus::Refused => (NoteKind::Refused, "refused"),
        _ => (NoteKind::Failed, "failed"),
    };
    // Only a request with a connector and a ticket has somewhere to say it.
    let note = req
        .ticket_of_connector()
        .map(|(connector_id, ticket)| NewNote {
            connector_id: connector_id.to_string(),
            ticket_ref: ticket.to_string(),
            kind: note_kind,
            title,
            body,
        });
    let audit = AuditEntry::new(requester(req), format!("request.{status}"), outcome);
    let mut audit = with_connector(audit, req).detail(why.to_string());
    if let Some(c) = customer {
        audit = audit.customer(c);
    }
    if let Some(t) = technician {
        audit = audit.technician(t);
    }
    if let Some(t) = &req.ticket_ref {
        audit = audit.ticket(t);
    }
    let mut tx = ctx.db.begin().await?;
    let close = store::grants::RequestClose {
        request_id: &req.id,
        status,
        detail: why,
        note: note.as_ref(),
        audit: &audit,
    };
    store::grants::close_request_with_note(&mut tx, &ctx.keyring, queue::OUTBOX, &close).await?;
    tx.commit().await?;
    Ok(())
}

/// Who made the request, as the audit trail names actors: the PSA for a webhook, the signed-in
/// technician for a portal request.
fn requester(req: &RequestRow) -> String {
    match (req.source, &req.requested_by, &req.connector_id) {
        (RequestSource::Portal, Some(technician), _) => format!("technician:{technician}"),
        (_, _, Some(connector)) => format!("psa:{connector}"),
        _ => "system".to_string(),
    }
}

/// The request's connector on an audit entry, when it has one.
fn with_connector(audit: AuditEntry, req: &RequestRow) -> AuditEntry {
    match &req.connector_id {
        Some(c) => audit.connector(c),
        None => audit,
    }
}

/// A request accepted before its trigger was known (a ConnectWise summarized payload): read
/// the ticket through the PSA and decide now, off the webhook's path. `false`: the ticket does
/// not request after all, and the request was closed quietly (no note: nobody asked).
async fn decide_undecided(ctx: &JobContext, req: &RequestRow) -> Result<bool, JobError> {
    if !store::delivery_log::request_undecided(&ctx.db, &req.id).await? {
        return Ok(true);
    }
    let Some(connector_id) = req.connector_id.as_deref() else {
        return Ok(true); // only webhook requests are ever undecided
    };
    let Ok(connector) = ctx.connectors.get(connector_id).await else {
        return Ok(true); // `resolve` refuses it with the reason
    };
    let ticket = req.ticket_ref.clone().map(TicketRef);
    let answer = match &ticket {
        Some(ticket) => connector.instance.ticket_trigger(ticket).await,
        None => Ok(jitgate_connectors::Trigger::None), // nothing to read: nothing asked
    };
    let trigger = match answer {
        Ok(trigger) => trigger,
        Err(e) => match psa_problem::<()>(e, "reading the ticket to decide the request")? {
            Ok(()) => unreachable!("psa_problem never answers Ok(Ok)"),
            Err(Refusal(why)) => {
                tracing::warn!(request = %req.id, reason = %why, "undecided JIT request could not be decided");
                jitgate_connectors::Trigger::None
            }
        },
    };
    let level = connector.instance.level_triggered();
    let mut tx = ctx.db.begin().await?;
    let go = store::delivery_log::decide(&mut tx, req, &trigger, level).await?;
    tx.commit().await?;
    tracing::info!(request = %req.id, ?trigger, go, "undecided JIT request decided from the ticket");
    Ok(go)
}
