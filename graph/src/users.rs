//! Low-level user calls: find, get, create, enable/disable, password, sessions, delete.
//!
//! Each is one Graph request (plus transient retries). They report 404 as `None`/`false`
//! where absence is a normal answer, and otherwise leave interpretation (gone vs. not yet
//! replicated) to [`crate::access`].

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::advice::Needs;
use crate::client::GraphClient;
use crate::error::GraphError;
use crate::marker::{JITGATE_MARKER, is_marked};
use crate::secret::{ExposeSecret as _, Password};
use crate::tenant::Tenant;
use crate::transport::{Call, Collection, Reply, odata_string, with_query};

/// Properties jitgate reads. `accountEnabled`, `employeeType` and `employeeId` are not in
/// Graph's default set, so every read names what it needs.
const USER_SELECT: &str = "id,userPrincipalName,displayName,accountEnabled,employeeType,employeeId";

/// The JIT account a technician should have in a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSpec {
    pub upn: String,
    pub display_name: String,
    pub mail_nickname: String,
    /// The tag of the technician the account belongs to, written to `employeeId` (at most 16
    /// characters). An account tagged for another technician is never taken over.
    pub owner: String,
    /// Directory role template ids to hold while the grant is active.
    pub roles: Vec<String>,
}

/// A user as jitgate reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub user_principal_name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub account_enabled: Option<bool>,
    #[serde(default)]
    pub employee_type: Option<String>,
    /// The owner tag of the technician the account belongs to (see [`crate::marker`]).
    #[serde(default)]
    pub employee_id: Option<String>,
}

impl User {
    /// Whether jitgate created this account (see [`crate::marker`]).
    pub fn is_jitgate_account(&self) -> bool {
        is_marked(self.employee_type.as_deref())
    }

    /// Whether the account may serve the technician tagged `owner`: jitgate's marker, and
    /// either that technician's tag or no tag at all (accounts created before tags existed,
    /// which the job layer's own records tie to one technician).
    pub fn belongs_to(&self, owner: &str) -> bool {
        self.is_jitgate_account()
            && match self.employee_id.as_deref() {
                None | Some("") => true,
                Some(tag) => tag == owner,
            }
    }
}

/// Result of [`GraphClient::create_user`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created(User),
    /// Another object already has this UPN (400 `ObjectConflict`). It may be jitgate's own
    /// account from an earlier attempt, or someone else's: look it up and check the marker.
    UpnTaken,
}

impl GraphClient {
    /// Finds a user by UPN (case-insensitive in Entra). `None` if there is none.
    pub async fn find_user_by_upn(
        &self,
        tenant: &Tenant,
        upn: &str,
    ) -> Result<Option<User>, GraphError> {
        let filter = format!("userPrincipalName eq {}", odata_string(upn));
        let call = Call {
            operation: "look up user by UPN",
            needs: Needs::ReadUsers,
            method: Method::GET,
            url: with_query(
                self.v1(&["users"]),
                &[("$filter", &filter), ("$select", USER_SELECT)],
            ),
            body: None,
        };
        let reply = self.send(tenant, &call).await?.success(tenant)?;
        let found: Collection<User> = reply.json()?;
        Ok(found
            .value
            .into_iter()
            .find(|u| u.user_principal_name.eq_ignore_ascii_case(upn)))
    }

    /// Reads a user by object id. `None` on 404 (deleted, or not replicated yet).
    pub async fn get_user(
        &self,
        tenant: &Tenant,
        user_id: &str,
    ) -> Result<Option<User>, GraphError> {
        let reply = self.send(tenant, &self.get_user_call(user_id)).await?;
        user_answer(tenant, reply)
    }

    pub(crate) fn get_user_call(&self, user_id: &str) -> Call {
        Call {
            operation: "read user",
            needs: Needs::ReadUsers,
            method: Method::GET,
            url: with_query(self.v1(&["users", user_id]), &[("$select", USER_SELECT)]),
            body: None,
        }
    }

    /// Creates an enabled, marked account with `password` (no forced change at next sign-in:
    /// the technician receives exactly this password through the credential link, and
    /// jitgate rotates it on every grant anyway).
    pub async fn create_user(
        &self,
        tenant: &Tenant,
        spec: &AccountSpec,
        password: &Password,
    ) -> Result<CreateOutcome, GraphError> {
        let body = json!({
            "accountEnabled": true,
            "displayName": spec.display_name,
            "mailNickname": spec.mail_nickname,
            "userPrincipalName": spec.upn,
            "employeeType": JITGATE_MARKER,
            "employeeId": spec.owner,
            "passwordProfile": {
                "password": password.expose_secret(),
                "forceChangePasswordNextSignIn": false,
            },
        });
        let call = Call {
            operation: "create user",
            needs: Needs::WriteUsers,
            method: Method::POST,
            url: self.v1(&["users"]),
            body: Some(body),
        };
        let reply = self.send(tenant, &call).await?;
        if reply.status == 400 {
            let detail = reply.error_body();
            let conflict = detail.details.iter().any(|d| {
                d.code == "ObjectConflict"
                    && (d.target.is_empty() || d.target.eq_ignore_ascii_case("userPrincipalName"))
            });
            if conflict {
                return Ok(CreateOutcome::UpnTaken);
            }
        }
        let user: User = reply.success(tenant)?.json()?;
        Ok(CreateOutcome::Created(User {
            employee_type: Some(JITGATE_MARKER.to_string()),
            employee_id: Some(spec.owner.clone()),
            account_enabled: Some(true),
            ..user
        }))
    }

    /// Enables the account (its own update: a refused password change must never leave an
    /// account enabled, so `accountEnabled` and `passwordProfile` never share a PATCH).
    pub async fn enable(&self, tenant: &Tenant, user_id: &str) -> Result<(), GraphError> {
        let call = self.patch_user_call(
            user_id,
            "enable user",
            Needs::SensitiveUserWrite,
            json!({ "accountEnabled": true }),
        );
        self.send(tenant, &call).await?.done(tenant)
    }

    /// Disables the account.
    pub async fn disable(&self, tenant: &Tenant, user_id: &str) -> Result<(), GraphError> {
        self.send(tenant, &self.disable_call(user_id))
            .await?
            .done(tenant)
    }

    pub(crate) fn disable_call(&self, user_id: &str) -> Call {
        self.patch_user_call(
            user_id,
            "disable user",
            Needs::SensitiveUserWrite,
            json!({ "accountEnabled": false }),
        )
    }

    /// Sets the password (no forced change at next sign-in). App-only callers need a
    /// directory role for this on any user ([`Needs::PasswordWrite`]).
    pub async fn set_password(
        &self,
        tenant: &Tenant,
        user_id: &str,
        password: &Password,
    ) -> Result<(), GraphError> {
        self.send(tenant, &self.set_password_call(user_id, password))
            .await?
            .done(tenant)
    }

    pub(crate) fn set_password_call(&self, user_id: &str, password: &Password) -> Call {
        let body = json!({
            "passwordProfile": {
                "password": password.expose_secret(),
                "forceChangePasswordNextSignIn": false,
            },
        });
        self.patch_user_call(user_id, "set user password", Needs::PasswordWrite, body)
    }

    fn patch_user_call(
        &self,
        user_id: &str,
        operation: &'static str,
        needs: Needs,
        body: Value,
    ) -> Call {
        Call {
            operation,
            needs,
            method: Method::PATCH,
            url: self.v1(&["users", user_id]),
            body: Some(body),
        }
    }

    /// Invalidates the user's refresh tokens and session cookies.
    pub async fn revoke_sessions(&self, tenant: &Tenant, user_id: &str) -> Result<(), GraphError> {
        self.send(tenant, &self.revoke_sessions_call(user_id))
            .await?
            .done(tenant)
    }

    pub(crate) fn revoke_sessions_call(&self, user_id: &str) -> Call {
        Call {
            operation: "revoke sign-in sessions",
            needs: Needs::RevokeSessions,
            method: Method::POST,
            url: self.v1(&["users", user_id, "revokeSignInSessions"]),
            body: None,
        }
    }

    /// Deletes the user (to Entra's deleted items for 30 days). `false` if already gone.
    pub async fn delete_user(&self, tenant: &Tenant, user_id: &str) -> Result<bool, GraphError> {
        let call = Call {
            operation: "delete user",
            needs: Needs::SensitiveUserWrite,
            method: Method::DELETE,
            url: self.v1(&["users", user_id]),
            body: None,
        };
        let reply = self.send(tenant, &call).await?;
        if reply.status == 404 {
            return Ok(false);
        }
        reply.success(tenant)?;
        Ok(true)
    }
}

/// A read user, `None` on 404 (deleted, or not replicated yet).
pub(crate) fn user_answer(tenant: &Tenant, reply: Reply) -> Result<Option<User>, GraphError> {
    if reply.status == 404 {
        return Ok(None);
    }
    Ok(Some(reply.success(tenant)?.json()?))
}
