//! The tenant check: can jitgate work in this customer's tenant as it is configured? Run after
//! every change of the connection and on demand (`POST /api/v1/customers/{id}/entra/check`),
//! stored with its time; a request for a customer whose last check failed is refused at once
//! with the failed check named, instead of failing deep inside Graph calls.
//!
//! What it looks at, each from Microsoft's own answers:
//! - a token can be had (Entra's refusal translated, e.g. AADSTS7000215 wrong secret);
//! - the application permissions the token carries (its `roles` claim) against what jitgate
//!   uses;
//! - the app's own directory role in the tenant (its service principal is the token's `oid`):
//!   setting a password in app-only access needs at least User Administrator
//!   (https://learn.microsoft.com/graph/api/resources/user, property `passwordProfile`);
//!   Privileged Authentication Administrator also covers accounts holding other admin roles;
//! - the JIT domain exists in the tenant, is verified and cloud-managed (not federated);
//! - every configured role id is a role definition of the tenant;
//! - the UPN template yields a valid UPN on that domain.

use super::{JobContext, tenant_of};
use crate::domain::names::UpnTemplate;
use crate::domain::roles::role_name;
use crate::store::checks::{Check, CheckStatus, TenantCheck};
use crate::store::customers::EntraConnection;
use crate::store::{self, StoreError, audit::AuditEntry};
use jitgate_graph::{GraphError, Tenant, TokenClaims};

/// The Microsoft Graph application permissions jitgate uses, and what for.
pub const REQUIRED_PERMISSIONS: &[(&str, &str)] = &[
    (
        "User.ReadWrite.All",
        "create, find, enable, disable and delete JIT accounts and set their passwords",
    ),
    (
        "User.RevokeSessions.All",
        "revoke a JIT account's sign-in sessions when access ends",
    ),
    (
        "RoleManagement.ReadWrite.Directory",
        "assign and remove the configured directory roles",
    ),
    (
        "UserAuthenticationMethod.ReadWrite.All",
        "delete Temporary Access Passes when access ends",
    ),
];

const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
const PRIVILEGED_AUTHENTICATION_ADMINISTRATOR: &str = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13";
const USER_ADMINISTRATOR: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";

/// Run the check for the customer's connection, store it with its audit row, and return it.
/// `None` when the customer has no (complete) Entra connection.
pub async fn run(
    ctx: &JobContext,
    customer_id: &str,
    actor: &str,
) -> Result<Option<TenantCheck>, StoreError> {
    let Some((connection, tenant)) = tenant_of(ctx, customer_id).await? else {
        return Ok(None);
    };
    let role_ids = configured_roles(ctx, &connection).await?;
    let check = TenantCheck::new(checks(ctx, &connection, &tenant, &role_ids).await);
    let outcome = match check.status {
        CheckStatus::Fail => "failed",
        _ => "ok",
    };
    let detail = check
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Ok)
        .map(|c| format!("{} {}: {}", c.name, c.status.as_str(), c.detail))
        .collect::<Vec<_>>()
        .join("; ");
    let audit = AuditEntry::new(actor, "customer.entra.check", outcome)
        .customer(customer_id)
        .tenant(&connection.tenant_id)
        .detail(if detail.is_empty() {
            "every check passed".to_string()
        } else {
            detail
        });
    let mut tx = ctx.db.begin().await?;
    store::checks::save(&mut tx, customer_id, &check).await?;
    store::audit::record(&mut tx, &audit).await?;
    tx.commit().await?;
    Ok(Some(check))
}

/// Every role a JIT account in this tenant can get: the connection's and those the customer's
/// group mappings name (a mistyped id there would otherwise only show in a technician's ticket).
async fn configured_roles(
    ctx: &JobContext,
    connection: &EntraConnection,
) -> Result<Vec<String>, StoreError> {
    let own = connection.role_ids();
    let mapped = crate::store::groups::mappings(&ctx.db, &connection.customer_id, &own).await?;
    let mut all = own;
    for role in mapped.sources.into_iter().flat_map(|s| s.roles) {
        if !all.iter().any(|r| r.eq_ignore_ascii_case(&role)) {
            all.push(role);
        }
    }
    Ok(all)
}

async fn checks(
    ctx: &JobContext,
    connection: &EntraConnection,
    tenant: &Tenant,
    role_ids: &[String],
) -> Vec<Check> {
    let claims = match ctx.graph.token_claims(tenant).await {
        Ok(claims) => claims,
        Err(e) => {
            return vec![check(
                "credentials",
                CheckStatus::Fail,
                e.to_string(),
                "Correct the tenant id, client id or client secret of this customer's Entra \
                 connection (for the MSP's app: its secret or certificate, as the message says), \
                 or have a Global Administrator of the customer grant admin consent; the other \
                 checks run once a token can be had.",
            )];
        }
    };
    let mut out = vec![check(
        "credentials",
        CheckStatus::Ok,
        format!(
            "a token for tenant {} through app {}",
            claims.tenant_id, claims.app_id
        ),
        "",
    )];
    out.push(permissions(&claims));
    out.push(directory_role(ctx, tenant, &claims).await);
    out.push(jit_domain(ctx, tenant, &connection.jit_domain).await);
    out.push(roles(ctx, tenant, role_ids).await);
    out.push(upn_template(connection));
    out
}

fn check(name: &str, status: CheckStatus, detail: impl Into<String>, fix: &str) -> Check {
    Check {
        name: name.to_string(),
        status,
        detail: detail.into(),
        fix: fix.to_string(),
    }
}

/// A Graph error while checking: a refusal fails the check (its message says what is missing);
/// anything transient only means it could not be checked now.
fn could_not_check(name: &str, e: &GraphError) -> Check {
    let status = if e.is_transient() {
        CheckStatus::Warn
    } else {
        CheckStatus::Fail
    };
    check(
        name,
        status,
        e.to_string(),
        "See the message; run the check again once it is fixed.",
    )
}

fn permissions(claims: &TokenClaims) -> Check {
    let missing: Vec<String> = REQUIRED_PERMISSIONS
        .iter()
        .filter(|(p, _)| !claims.roles.iter().any(|r| r.eq_ignore_ascii_case(p)))
        .map(|(p, why)| format!("{p} (to {why})"))
        .collect();
    if missing.is_empty() {
        return check(
            "permissions",
            CheckStatus::Ok,
            "every Microsoft Graph application permission jitgate uses is consented",
            "",
        );
    }
    check(
        "permissions",
        CheckStatus::Fail,
        format!("the app's token lacks {}", missing.join(", ")),
        "Add the missing Microsoft Graph application permissions to the app registration (App \
         registrations > API permissions > Add a permission > Microsoft Graph > Application \
         permissions) and have a Global Administrator of the customer grant admin consent again.",
    )
}

async fn directory_role(ctx: &JobContext, tenant: &Tenant, claims: &TokenClaims) -> Check {
    let name = "directory_role";
    let assignments = match ctx
        .graph
        .app_role_assignments(tenant, &claims.object_id)
        .await
    {
        Ok(a) => a,
        Err(e) => return could_not_check(name, &e),
    };
    let holds = |id: &str| {
        assignments
            .iter()
            .any(|a| a.role_definition_id.eq_ignore_ascii_case(id) && a.directory_scope_id == "/")
    };
    if holds(PRIVILEGED_AUTHENTICATION_ADMINISTRATOR) || holds(GLOBAL_ADMINISTRATOR) {
        let role = if holds(PRIVILEGED_AUTHENTICATION_ADMINISTRATOR) {
            "Privileged Authentication Administrator"
        } else {
            "Global Administrator"
        };
        return check(
            name,
            CheckStatus::Ok,
            format!("the app's service principal holds {role}"),
            "",
        );
    }
    if holds(USER_ADMINISTRATOR) {
        return check(
            name,
            CheckStatus::Warn,
            "the app's service principal holds User Administrator: enough for the roles jitgate \
             assigns (it removes them before disabling and rotating the password), not for JIT \
             accounts that hold other admin roles",
            "To cover accounts holding roles jitgate did not give them, assign the app \
             Privileged Authentication Administrator (Entra admin center of the customer's \
             tenant > Roles & admins > Privileged Authentication Administrator > Add assignments \
             > the jitgate enterprise application).",
        );
    }
    check(
        name,
        CheckStatus::Fail,
        "the app's service principal holds no directory role: Microsoft Graph refuses app-only \
         password changes without at least User Administrator, so accounts could not be \
         re-enabled and passwords not rotated",
        "Assign the jitgate enterprise application the User Administrator role (or Privileged \
         Authentication Administrator) in the customer's tenant: Entra admin center > Roles & \
         admins > User Administrator > Add assignments.",
    )
}

async fn jit_domain(ctx: &JobContext, tenant: &Tenant, jit_domain: &str) -> Check {
    let name = "jit_domain";
    let domains = match ctx.graph.list_domains(tenant).await {
        Ok(d) => d,
        // Reading domains needs Domain.Read.All, which installs set up before this check did
        // not grant: the domain goes unchecked, which is no reason to refuse requests.
        Err(e @ GraphError::PermissionDenied { .. }) => {
            return check(
                name,
                CheckStatus::Warn,
                format!("the JIT domain {jit_domain} could not be checked: {e}"),
                "Grant the app the Microsoft Graph application permission Domain.Read.All and \
                 admin consent, then run the check again.",
            );
        }
        Err(e) => return could_not_check(name, &e),
    };
    let Some(domain) = domains
        .iter()
        .find(|d| d.id.eq_ignore_ascii_case(jit_domain))
    else {
        let initial = domains
            .iter()
            .find(|d| d.is_initial)
            .map(|d| format!(" (its initial domain {} always works)", d.id))
            .unwrap_or_default();
        return check(
            name,
            CheckStatus::Fail,
            format!("the tenant has no domain {jit_domain}"),
            &format!("Set the JIT domain to one of the tenant's verified domains{initial}."),
        );
    };
    if !domain.is_verified {
        return check(
            name,
            CheckStatus::Fail,
            format!("{jit_domain} is not verified in the tenant"),
            "Verify the domain (Entra admin center > Domain names) or pick a verified one, such \
             as the tenant's initial *.onmicrosoft.com domain.",
        );
    }
    if !domain.is_managed() {
        return check(
            name,
            CheckStatus::Fail,
            format!(
                "{jit_domain} is federated ({}): Entra does not sign its users in, so a JIT \
                 account's password would not work",
                domain.authentication_type
            ),
            "Pick a cloud-managed domain, such as the tenant's initial *.onmicrosoft.com domain.",
        );
    }
    check(
        name,
        CheckStatus::Ok,
        format!("{jit_domain} is verified and cloud-managed"),
        "",
    )
}

async fn roles(ctx: &JobContext, tenant: &Tenant, role_ids: &[String]) -> Check {
    let name = "roles";
    let mut missing = Vec::new();
    for id in role_ids {
        match ctx.graph.role_definition(tenant, id).await {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(match role_name(id) {
                Some(n) => format!("{n} ({id})"),
                None => id.clone(),
            }),
            Err(e) => return could_not_check(name, &e),
        }
    }
    if missing.is_empty() {
        return check(
            name,
            CheckStatus::Ok,
            format!(
                "all {} configured role(s) exist in the tenant",
                role_ids.len()
            ),
            "",
        );
    }
    check(
        name,
        CheckStatus::Fail,
        format!("the tenant has no role {}", missing.join(", ")),
        "Correct the role in this customer's Entra connection (names or template ids as listed \
         in Microsoft Entra built-in roles).",
    )
}

fn upn_template(connection: &EntraConnection) -> Check {
    let name = "upn_template";
    let rendered = UpnTemplate::parse(&connection.upn_template)
        .and_then(|t| t.render("technician", &connection.jit_domain));
    match rendered {
        Ok(upn) => check(
            name,
            CheckStatus::Ok,
            format!("technician@… becomes {upn}"),
            "",
        ),
        Err(e) => check(
            name,
            CheckStatus::Fail,
            e,
            "Change the UPN template, e.g. to {local}-jit@{domain}.",
        ),
    }
}
