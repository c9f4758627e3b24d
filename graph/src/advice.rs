//! Turning Entra and Graph refusals into text an MSP admin can act on: what is wrong, where
//! to look (in Microsoft's terms), and Microsoft's own code for searching.

use serde::Deserialize;

use crate::credential::ClientCredential;
use crate::error::GraphError;
use crate::tenant::Tenant;

/// Entra's token error body: `{error, error_description, error_codes, trace_id, …}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenErrorBody {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_description: String,
    #[serde(default)]
    pub error_codes: Vec<u32>,
    #[serde(default)]
    pub trace_id: Option<String>,
}

/// AADSTS codes that mean "try again" (Microsoft's list of Entra authentication error codes,
/// https://learn.microsoft.com/entra/identity-platform/reference-error-codes): RetryableError,
/// RequestBudgetExceededError, and a transient STS failure.
pub(crate) const RETRYABLE_AADSTS: &[u32] = &[50033, 90024, 90006];

/// The actionable message for a refused token request.
pub(crate) fn token_refusal(
    tenant: &Tenant,
    body: &TokenErrorBody,
    http_status: u16,
) -> GraphError {
    let code = body.error_codes.first().copied();
    let t = &tenant.tenant_id;
    let app = &tenant.client_id;
    let advice = match code {
        Some(90002) => format!(
            "Entra ID does not know the tenant '{t}' (AADSTS90002). Check the Directory (tenant) \
             ID in this customer's Entra connection (Entra admin center > Overview > Tenant ID), \
             and that jitgate's login URL is the customer's cloud (global vs. national cloud)."
        ),
        Some(700016) => format!(
            "The application (client) ID '{app}' is not present in tenant '{t}' (AADSTS700016). \
             Either the client ID is wrong (Entra admin center > App registrations > Overview > \
             Application (client) ID), the tenant ID belongs to another customer, or no Global \
             Administrator / Privileged Role Administrator of this tenant has granted admin \
             consent yet, so the app has no enterprise application (service principal) there."
        ),
        Some(7000215) => format!(
            "The client secret stored for app '{app}' in tenant '{t}' is wrong (AADSTS7000215). \
             Enter the secret's Value, not its Secret ID (App registrations > Certificates & \
             secrets), and update it in jitgate."
        ),
        Some(7000222) => format!(
            "The client secret of app '{app}' has expired (AADSTS7000222). Create a new client \
             secret under App registrations > Certificates & secrets and update this customer's \
             Entra connection in jitgate."
        ),
        Some(65001) => format!(
            "Admin consent for app '{app}' is missing in tenant '{t}' (AADSTS65001). A Global \
             Administrator or Privileged Role Administrator of the customer must grant admin \
             consent for the app's Microsoft Graph application permissions (Enterprise \
             applications > the app > Permissions > Grant admin consent)."
        ),
        Some(650056) => format!(
            "App '{app}' is misconfigured or not consented in tenant '{t}' (AADSTS650056). Check \
             that the app registration lists the Microsoft Graph *application* permissions \
             User.ReadWrite.All, User.RevokeSessions.All, RoleManagement.ReadWrite.Directory, \
             UserAuthenticationMethod.ReadWrite.All and Domain.Read.All (App registrations > API \
             permissions) and that a Global Administrator has granted admin consent for them."
        ),
        Some(53003) => format!(
            "A Conditional Access policy in tenant '{t}' blocks sign-ins of app '{app}' \
             (AADSTS53003). Check Entra admin center > Protection > Conditional Access \
             (policies for workload identities, e.g. location conditions) and the service \
             principal sign-in logs; allow jitgate's outbound IP addresses."
        ),
        Some(7000112) => format!(
            "App '{app}' is disabled in tenant '{t}' (AADSTS7000112). Enable it under Enterprise \
             applications > the app > Properties > Enabled for users to sign-in."
        ),
        Some(90099) | Some(90094) => format!(
            "App '{app}' has not been authorized in tenant '{t}' (AADSTS{}). A Global \
             Administrator of the customer must grant admin consent to the app.",
            code.unwrap_or_default()
        ),
        Some(500011) | Some(1002012) => format!(
            "Entra ID does not accept the Microsoft Graph resource jitgate asked for in tenant \
             '{t}' (AADSTS{}). Check that jitgate's Graph URL and login URL belong to the same \
             Microsoft cloud as the customer's tenant.",
            code.unwrap_or_default()
        ),
        Some(7000218) => format!(
            "Entra ID did not accept jitgate's client credentials for app '{app}' in tenant \
             '{t}' (AADSTS7000218). Re-enter the client secret in this customer's Entra \
             connection."
        ),
        // Certificate credential codes, as Azure's SDK troubleshooting page lists them
        // (https://learn.microsoft.com/azure/developer/java/sdk/troubleshooting-authentication-service-principal):
        // 700027 the assertion's signature is invalid (the certificate is not uploaded to the
        // app), 700024 the assertion is outside its time range, 700023 its audience does not
        // match the token endpoint.
        Some(700027) => format!(
            "Entra ID did not accept the certificate jitgate signs with for app '{app}' in \
             tenant '{t}' (AADSTS700027: the client assertion's signature is invalid or the \
             certificate is not registered on the app). Upload the certificate (.cer/.pem, \
             public part){} to the app registration under Certificates & secrets > \
             Certificates, or set the certificate that is registered there in jitgate.",
            certificate_named(tenant)
        ),
        Some(700024) => format!(
            "Entra ID refused jitgate's client assertion for app '{app}' in tenant '{t}' because \
             it is not within its valid time range (AADSTS700024). Check the clock of the \
             server jitgate runs on (NTP): it must be within a few minutes of the real time."
        ),
        Some(700023) => format!(
            "Entra ID refused jitgate's client assertion for app '{app}' in tenant '{t}' \
             (AADSTS700023: invalid audience). Check that jitgate's login URL is the customer's \
             Microsoft cloud."
        ),
        _ => format!(
            "Entra ID refused a token for app '{app}' in tenant '{t}' (HTTP {http_status}, {}{}): {}",
            if body.error.is_empty() {
                "no error code"
            } else {
                &body.error
            },
            code.map(|c| format!(", AADSTS{c}")).unwrap_or_default(),
            first_sentence(&body.error_description),
        ),
    };
    GraphError::TokenRefused {
        tenant_id: tenant.tenant_id.clone(),
        error: body.error.clone(),
        aadsts: code,
        message: advice,
        trace_id: body.trace_id.clone(),
    }
}

/// `" with thumbprint …"` when the tenant authenticates with a certificate.
fn certificate_named(tenant: &Tenant) -> String {
    match &tenant.credential {
        ClientCredential::Certificate(c) => format!(" with thumbprint {}", c.thumbprint()),
        ClientCredential::Secret(_) => String::new(),
    }
}

/// Entra's description without the trailing trace/correlation/timestamp lines.
fn first_sentence(description: &str) -> String {
    let line = description.lines().next().unwrap_or("").trim();
    let line = line.split_once(": ").map(|(_, rest)| rest).unwrap_or(line);
    line.chars().take(300).collect()
}

/// Which kind of Graph permission (or directory role of the app) an operation needs, for 403
/// advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    ReadUsers,
    WriteUsers,
    /// `passwordProfile`: in app-only access always a directory role on the app, at least User
    /// Administrator (Graph's `user` resource, property `passwordProfile`:
    /// https://learn.microsoft.com/graph/api/resources/user).
    PasswordWrite,
    /// `accountEnabled` or delete: sensitive only when the target holds an admin role
    /// (https://learn.microsoft.com/entra/identity/role-based-access-control/privileged-roles-permissions,
    /// "Who can perform sensitive actions").
    SensitiveUserWrite,
    /// `revokeSignInSessions`: least-privileged application permission User.RevokeSessions.All
    /// (https://learn.microsoft.com/graph/api/user-revokesigninsessions).
    RevokeSessions,
    RoleManagement,
    AuthenticationMethods,
    /// `GET /domains`: least-privileged application permission Domain.Read.All
    /// (https://learn.microsoft.com/graph/api/domain-list).
    ReadDomains,
}

/// The actionable message for a 403 from Graph.
pub(crate) fn permission_denied(
    operation: &'static str,
    needs: Needs,
    tenant_id: &str,
    code: &str,
) -> String {
    let code = if code.is_empty() { "Forbidden" } else { code };
    let head = format!("Microsoft Graph refused to {operation} in tenant '{tenant_id}' ({code}).");
    let advice = match needs {
        Needs::ReadUsers => {
            "Give the jitgate app registration the Microsoft Graph application permission \
             User.ReadWrite.All (App registrations > API permissions) and have a Global \
             Administrator grant admin consent."
        }
        Needs::WriteUsers => {
            "Give the jitgate app registration the Microsoft Graph application permission \
             User.ReadWrite.All and have a Global Administrator grant admin consent \
             (App registrations > API permissions)."
        }
        Needs::PasswordWrite => {
            "Setting a user's password in app-only access needs a directory role on the jitgate \
             app itself, not only a Graph permission: assign its service principal at least the \
             User Administrator role (Privileged Authentication Administrator if JIT accounts may \
             hold admin roles that jitgate did not give them) in the customer's tenant (Entra \
             admin center > Roles & admins > User Administrator > Add assignments > select the \
             jitgate enterprise application). Also check User.ReadWrite.All is consented."
        }
        Needs::SensitiveUserWrite => {
            "Disabling or deleting an account that holds an admin role (or belongs to a \
             role-assignable group) is a sensitive action that app-only callers may perform only \
             when the app's service principal holds the Privileged Authentication Administrator \
             role. jitgate removes the JIT account's role assignments first, so check whether \
             the account still holds a role or is a member of a role-assignable group; \
             otherwise assign the jitgate enterprise application the Privileged Authentication \
             Administrator role (Entra admin center > Roles & admins). Also check \
             User.ReadWrite.All is consented."
        }
        Needs::RevokeSessions => {
            "Give the jitgate app registration the Microsoft Graph application permission \
             User.RevokeSessions.All (Microsoft's least-privileged permission for \
             revokeSignInSessions; Directory.ReadWrite.All also works) and have a Global \
             Administrator grant admin consent (App registrations > API permissions)."
        }
        Needs::RoleManagement => {
            "Give the jitgate app registration the Microsoft Graph application permission \
             RoleManagement.ReadWrite.Directory and have a Global Administrator grant admin \
             consent (App registrations > API permissions)."
        }
        Needs::AuthenticationMethods => {
            "Give the jitgate app registration the Microsoft Graph application permission \
             UserAuthenticationMethod.ReadWrite.All and have a Global Administrator grant admin \
             consent (App registrations > API permissions)."
        }
        Needs::ReadDomains => {
            "Give the jitgate app registration the Microsoft Graph application permission \
             Domain.Read.All (Microsoft's least-privileged permission for listing a tenant's \
             domains) and have a Global Administrator grant admin consent (App registrations > \
             API permissions)."
        }
    };
    format!("{head} {advice}")
}
