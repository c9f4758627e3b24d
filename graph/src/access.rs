//! The two operations the job layer calls: [`GraphClient::ensure_access`] and
//! [`GraphClient::end_access`]. Both are idempotent step by step, so a job that crashed
//! half-way can simply run them again.

use crate::client::GraphClient;
use crate::error::GraphError;
use crate::retry::{through_replication_lag, until_settled};
use crate::roles::TENANT_SCOPE;
use crate::secret::Password;
use crate::tenant::Tenant;
use crate::users::{CreateOutcome, User};

/// The JIT account a technician should have in a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSpec {
    pub upn: String,
    pub display_name: String,
    pub mail_nickname: String,
    /// Directory role template ids to hold while the grant is active.
    pub roles: Vec<String>,
}

/// The account after [`GraphClient::ensure_access`]: enabled, holding the configured roles,
/// with a password nobody else has seen.
#[derive(Debug, Clone)]
pub struct Access {
    pub user_id: String,
    pub upn: String,
    pub password: Password,
    /// Whether this call created the account (false when it re-enabled an existing one).
    pub created: bool,
}

/// What happens to the account when a grant ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndAction {
    /// Keep the account (disabled, unknown password) for the technician's next grant.
    Disable,
    /// Delete it (it stays in Entra's deleted items for 30 days).
    Delete,
}

/// Proof that a grant's end state was read back from Graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEnd {
    pub user_id: String,
    pub action: EndAction,
    /// The account no longer existed when `end_access` started (someone deleted it, or an
    /// earlier run already did).
    pub already_gone: bool,
    pub role_assignments_removed: usize,
    pub taps_removed: usize,
}

impl GraphClient {
    /// Makes sure the technician's JIT account exists, is enabled with a fresh password and
    /// holds `spec.roles`. `known_user_id` is the account id from an earlier grant or attempt.
    ///
    /// Steps, each safe to repeat:
    /// 1. find the account by `known_user_id`, else by UPN; an account without jitgate's
    ///    marker is refused with [`GraphError::ForeignAccount`] (never adopted);
    /// 2. create it if absent; otherwise remove every role assignment it still holds and
    ///    then enable it with the new password (changing the password of a role holder is a
    ///    sensitive action the app may not be allowed to perform);
    /// 3. assign each configured role it does not hold yet.
    ///
    /// Replication-lag answers are retried for the policy's short budget, then reported as
    /// [`GraphError::ReplicationLag`] (with the user id once known) for the job to retry.
    /// If an active grant is extended, its roles are briefly removed and re-added.
    pub async fn ensure_access(
        &self,
        tenant: &Tenant,
        spec: &AccountSpec,
        known_user_id: Option<&str>,
    ) -> Result<Access, GraphError> {
        let password = Password::generate();
        let (user, created) = match self.locate_account(tenant, spec, known_user_id).await? {
            Some(user) => {
                self.reset_for_new_grant(tenant, &user.id, &password)
                    .await?;
                (user, false)
            }
            None => match self.create_user(tenant, spec, &password).await? {
                CreateOutcome::Created(user) => (user, true),
                CreateOutcome::UpnTaken => {
                    // The UPN exists but reads did not show it: our own account from an
                    // attempt whose answer was lost, or anyone's, not yet replicated to the
                    // replica that answered the lookup.
                    let user = self.find_after_conflict(tenant, &spec.upn).await?;
                    ensure_created_by_jitgate(&user)?;
                    self.reset_for_new_grant(tenant, &user.id, &password)
                        .await?;
                    (user, false)
                }
            },
        };
        self.grant_roles(tenant, &user.id, &spec.roles).await?;
        tracing::info!(
            tenant_id = %tenant.tenant_id,
            user_id = %user.id,
            created,
            roles = spec.roles.len(),
            "JIT account ready"
        );
        Ok(Access {
            user_id: user.id,
            upn: user.user_principal_name,
            password,
            created,
        })
    }

    /// Ends access for the account `user_id` and verifies it: removes its role assignments
    /// (first, so the following sensitive changes are allowed without Privileged
    /// Authentication Administrator), disables it and rotates its password to a value
    /// nobody keeps, revokes its sessions, deletes any Temporary Access Pass, deletes the
    /// account for [`EndAction::Delete`], then reads the account back. Returns
    /// [`GraphError::EndNotVerified`] unless the end state holds. An account that is
    /// already gone counts as ended.
    ///
    /// The account's marker is not checked here: `user_id` is an immutable object id that
    /// jitgate recorded when it created or verified the account.
    pub async fn end_access(
        &self,
        tenant: &Tenant,
        user_id: &str,
        action: EndAction,
    ) -> Result<VerifiedEnd, GraphError> {
        if self.get_user(tenant, user_id).await?.is_none() {
            return self.confirm_gone(tenant, user_id, action).await;
        }
        let role_assignments_removed = self.remove_all_roles(tenant, user_id).await?;

        // A fresh random password nobody will ever see: even if disabling were undone, the
        // technician's credential no longer works.
        let unknown_password = Password::generate();
        match self
            .disable_with_password(tenant, user_id, &unknown_password)
            .await
        {
            Err(error) if error.is_not_found() => {
                return self.confirm_gone(tenant, user_id, action).await;
            }
            other => other?,
        }
        drop(unknown_password);

        match self.revoke_sessions(tenant, user_id).await {
            Err(error) if error.is_not_found() => {
                return self.confirm_gone(tenant, user_id, action).await;
            }
            other => other?,
        }
        let mut taps_removed = 0;
        for tap in self.list_taps(tenant, user_id).await? {
            if self.delete_tap(tenant, user_id, &tap.id).await? {
                taps_removed += 1;
            }
        }
        if action == EndAction::Delete {
            self.delete_user(tenant, user_id).await?;
        }

        self.verify_end(tenant, user_id, action).await?;
        tracing::info!(
            tenant_id = %tenant.tenant_id,
            %user_id,
            ?action,
            role_assignments_removed,
            taps_removed,
            "JIT access ended and verified"
        );
        Ok(VerifiedEnd {
            user_id: user_id.to_string(),
            action,
            already_gone: false,
            role_assignments_removed,
            taps_removed,
        })
    }

    async fn locate_account(
        &self,
        tenant: &Tenant,
        spec: &AccountSpec,
        known_user_id: Option<&str>,
    ) -> Result<Option<User>, GraphError> {
        // A 404 for a known id means deleted meanwhile, or not replicated yet; the UPN
        // lookup and the create's uniqueness check below tell which.
        if let Some(id) = known_user_id
            && let Some(user) = self.get_user(tenant, id).await?
        {
            ensure_created_by_jitgate(&user)?;
            return Ok(Some(user));
        }
        match self.find_user_by_upn(tenant, &spec.upn).await? {
            Some(user) => {
                ensure_created_by_jitgate(&user)?;
                Ok(Some(user))
            }
            None => Ok(None),
        }
    }

    async fn find_after_conflict(&self, tenant: &Tenant, upn: &str) -> Result<User, GraphError> {
        let policy = self.retry_policy();
        let found = until_settled(
            policy,
            || self.find_user_by_upn(tenant, upn),
            Option::is_some,
        )
        .await?;
        found.ok_or(GraphError::ReplicationLag {
            operation: "look up the account that holds the UPN",
            user_id: None,
            request_id: None,
        })
    }

    /// Leaves an existing account without roles, enabled, with `password`.
    async fn reset_for_new_grant(
        &self,
        tenant: &Tenant,
        user_id: &str,
        password: &Password,
    ) -> Result<(), GraphError> {
        let policy = self.retry_policy();
        through_replication_lag(
            policy,
            "remove leftover role assignments",
            Some(user_id),
            || self.remove_all_roles(tenant, user_id),
        )
        .await?;
        through_replication_lag(
            policy,
            "enable the account with a new password",
            Some(user_id),
            || self.enable_with_password(tenant, user_id, password),
        )
        .await
    }

    async fn remove_all_roles(&self, tenant: &Tenant, user_id: &str) -> Result<usize, GraphError> {
        let mut removed = 0;
        for assignment in self.list_role_assignments(tenant, user_id).await? {
            if self.remove_role_assignment(tenant, &assignment.id).await? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Assigns each role in `roles` the account does not hold tenant-wide yet.
    async fn grant_roles(
        &self,
        tenant: &Tenant,
        user_id: &str,
        roles: &[String],
    ) -> Result<(), GraphError> {
        if roles.is_empty() {
            return Ok(());
        }
        let policy = self.retry_policy();
        let held = through_replication_lag(policy, "read role assignments", Some(user_id), || {
            self.list_role_assignments(tenant, user_id)
        })
        .await?;
        let mut wanted: Vec<&String> = Vec::new();
        for role in roles {
            if !wanted.iter().any(|w| w.eq_ignore_ascii_case(role)) {
                wanted.push(role);
            }
        }
        for role in wanted {
            let present = held.iter().any(|a| {
                a.role_definition_id.eq_ignore_ascii_case(role)
                    && a.directory_scope_id == TENANT_SCOPE
            });
            if present {
                continue;
            }
            through_replication_lag(policy, "assign directory role", Some(user_id), || {
                self.assign_role(tenant, user_id, role)
            })
            .await?;
        }
        Ok(())
    }

    /// A 404 for the account: make sure it is gone rather than not replicated yet.
    async fn confirm_gone(
        &self,
        tenant: &Tenant,
        user_id: &str,
        action: EndAction,
    ) -> Result<VerifiedEnd, GraphError> {
        let policy = self.retry_policy();
        let reappeared =
            until_settled(policy, || self.get_user(tenant, user_id), Option::is_some).await?;
        if reappeared.is_some() {
            return Err(GraphError::ReplicationLag {
                operation: "end access (the account was briefly invisible)",
                user_id: Some(user_id.to_string()),
                request_id: None,
            });
        }
        Ok(VerifiedEnd {
            user_id: user_id.to_string(),
            action,
            already_gone: true,
            role_assignments_removed: 0,
            taps_removed: 0,
        })
    }

    /// Reads the account back; an end that does not hold is an error, never a success.
    async fn verify_end(
        &self,
        tenant: &Tenant,
        user_id: &str,
        action: EndAction,
    ) -> Result<(), GraphError> {
        let policy = self.retry_policy();
        let not_verified = |problem: String| GraphError::EndNotVerified {
            user_id: user_id.to_string(),
            problem,
        };
        let user = until_settled(
            policy,
            || self.get_user(tenant, user_id),
            |user| match (action, user) {
                (_, None) => true,
                (EndAction::Disable, Some(user)) => user.account_enabled == Some(false),
                (EndAction::Delete, Some(_)) => false,
            },
        )
        .await?;
        let Some(user) = user else {
            return Ok(());
        };
        if action == EndAction::Delete {
            return Err(not_verified(
                "the account still exists after it was deleted".into(),
            ));
        }
        if user.account_enabled != Some(false) {
            return Err(not_verified(format!(
                "the account {} is still enabled (accountEnabled = {})",
                user.user_principal_name,
                user.account_enabled
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "not returned".into())
            )));
        }
        let roles = until_settled(
            policy,
            || self.list_role_assignments(tenant, user_id),
            Vec::is_empty,
        )
        .await?;
        if !roles.is_empty() {
            let ids: Vec<&str> = roles
                .iter()
                .map(|a| a.role_definition_id.as_str())
                .collect();
            return Err(not_verified(format!(
                "the account still holds {} role assignment(s) (roles {})",
                roles.len(),
                ids.join(", ")
            )));
        }
        let taps = self.list_taps(tenant, user_id).await?;
        if !taps.is_empty() {
            return Err(not_verified(format!(
                "the account still has {} Temporary Access Pass(es)",
                taps.len()
            )));
        }
        Ok(())
    }
}

fn ensure_created_by_jitgate(user: &User) -> Result<(), GraphError> {
    if user.is_jitgate_account() {
        Ok(())
    } else {
        Err(GraphError::ForeignAccount {
            upn: user.user_principal_name.clone(),
            user_id: user.id.clone(),
        })
    }
}
