//! The two operations the job layer calls: [`GraphClient::ensure_access`] and
//! [`GraphClient::end_access`]. Both are idempotent step by step, so a job that crashed
//! half-way can simply run them again.

use crate::batch::MAX_BATCH;
use crate::client::GraphClient;
use crate::error::GraphError;
use crate::password;
use crate::retry::{through_replication_lag, until_settled};
use crate::roles::{AssignOutcome, RoleAssignment, assignments_answer, removal_answer};
use crate::secret::Password;
use crate::taps::{TapMethod, taps_answer};
use crate::tenant::Tenant;
use crate::transport::{Call, Reply};
use crate::users::{AccountSpec, CreateOutcome, User, user_answer};

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

/// One step of ending access, in the order [`GraphClient::end_access`] runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndStep {
    RemoveRoles,
    Disable,
    RevokeSessions,
    DeleteTaps,
    RotatePassword,
    DeleteAccount,
    ReadBack,
}

impl EndStep {
    pub fn as_str(self) -> &'static str {
        match self {
            EndStep::RemoveRoles => "remove_roles",
            EndStep::Disable => "disable",
            EndStep::RevokeSessions => "revoke_sessions",
            EndStep::DeleteTaps => "delete_taps",
            EndStep::RotatePassword => "rotate_password",
            EndStep::DeleteAccount => "delete_account",
            EndStep::ReadBack => "read_back",
        }
    }

    pub fn parse(text: &str) -> Option<EndStep> {
        [
            EndStep::RemoveRoles,
            EndStep::Disable,
            EndStep::RevokeSessions,
            EndStep::DeleteTaps,
            EndStep::RotatePassword,
            EndStep::DeleteAccount,
            EndStep::ReadBack,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Steps that still matter once the account reads back disabled with no roles: they are
    /// retried after the grant has ended instead of holding the end back.
    pub fn is_follow_up(self) -> bool {
        matches!(
            self,
            EndStep::RevokeSessions
                | EndStep::DeleteTaps
                | EndStep::RotatePassword
                | EndStep::DeleteAccount
        )
    }
}

/// What one step did: a short description, or why it failed.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub step: EndStep,
    pub result: Result<String, GraphError>,
}

/// Everything [`GraphClient::end_access`] did and read back.
#[derive(Debug, Clone)]
pub struct EndReport {
    pub user_id: String,
    pub action: EndAction,
    /// The account no longer existed when `end_access` started.
    pub already_gone: bool,
    pub steps: Vec<StepOutcome>,
    /// `None` when the account read back disabled with no role assignments (or gone): access
    /// has ended. Otherwise why not ([`GraphError::EndNotVerified`] or the failed read).
    pub unverified: Option<GraphError>,
}

impl EndReport {
    /// The account reads back disabled with no role assignments, or no longer exists.
    pub fn is_verified(&self) -> bool {
        self.unverified.is_none()
    }

    /// Follow-up steps that failed (to retry after the grant has ended).
    pub fn failed_follow_ups(&self) -> Vec<EndStep> {
        self.steps
            .iter()
            .filter(|s| s.step.is_follow_up() && s.result.is_err())
            .map(|s| s.step)
            .collect()
    }

    /// Every failed step with its error, most important first.
    pub fn failures(&self) -> impl Iterator<Item = (EndStep, &GraphError)> {
        self.steps
            .iter()
            .filter_map(|s| s.result.as_ref().err().map(|e| (s.step, e)))
            .chain(self.unverified.iter().map(|e| (EndStep::ReadBack, e)))
    }

    /// The longest wait a failed step asked for (throttling, replication lag).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.failures().filter_map(|(_, e)| e.retry_after()).max()
    }
}

impl GraphClient {
    /// Makes sure the technician's JIT account exists, is enabled with a fresh password and
    /// holds `spec.roles`. `known_user_id` is the account id from an earlier grant or attempt.
    ///
    /// Steps, each safe to repeat:
    /// 1. with `known_user_id`, read that account; an account without jitgate's marker is
    ///    refused with [`GraphError::ForeignAccount`] (never adopted), one tagged for another
    ///    technician with [`GraphError::AnotherTechniciansAccount`];
    /// 2. otherwise (or if it is gone) create the account at once: a new account needs no
    ///    lookup first, and a UPN that exists answers the create with a conflict, after which
    ///    the account holding it is looked up and checked as in 1;
    /// 3. an existing account: remove every role assignment it still holds, set the new
    ///    password, and only then enable it, each in its own call: a refused password change
    ///    (the app lacks User Administrator) leaves the account disabled;
    /// 4. assign each configured role (the account holds none at this point, so its
    ///    assignments are not read first).
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
        let password = password::generate();
        let known = match known_user_id {
            Some(id) => self.known_account(tenant, spec, id).await?,
            None => None,
        };
        let (user, created) = match known {
            Some(user) => {
                self.reset_for_new_grant(tenant, &user.id, &password)
                    .await?;
                (user, false)
            }
            None => match self.create_user(tenant, spec, &password).await? {
                CreateOutcome::Created(user) => (user, true),
                CreateOutcome::UpnTaken => {
                    // Our own account from an attempt whose answer was lost or whose id was
                    // forgotten, or anyone's: look at who holds the UPN.
                    let user = self.find_after_conflict(tenant, &spec.upn).await?;
                    ensure_owned_by(&user, &spec.owner)?;
                    self.reset_for_new_grant(tenant, &user.id, &password)
                        .await?;
                    (user, false)
                }
            },
        };
        self.grant_roles(tenant, &user.id, &spec.roles, created)
            .await?;
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

    /// Ends access for the account `user_id` and reads the result back. The steps run in
    /// order of importance and a failed step never stops the ones after it: first remove
    /// role assignments (so the account is no longer an admin and the following changes are
    /// not sensitive actions); then, together in one JSON batch, disable (`accountEnabled`
    /// alone), revoke sign-in sessions, rotate the password to a value nobody keeps
    /// (`passwordProfile` alone: it needs the User Administrator role, which a tenant may
    /// lack) and list Temporary Access Passes, whose deletions follow; delete the account for
    /// [`EndAction::Delete`]; then read the account and its role assignments back in one
    /// batch. With one role, four round trips.
    ///
    /// Access has ended when the report [`EndReport::is_verified`]: the account is disabled
    /// with no role assignments, or gone. Failed follow-up steps are in the report for the
    /// caller to retry with [`GraphClient::retry_end_steps`]. `Err` only when nothing could be
    /// done at all (no token, the tenant throttled, Graph unavailable): the first call failed
    /// that way.
    ///
    /// The account's marker is not checked here: `user_id` is an immutable object id that
    /// jitgate recorded in this tenant when it created or verified the account.
    pub async fn end_access(
        &self,
        tenant: &Tenant,
        user_id: &str,
        action: EndAction,
    ) -> Result<EndReport, GraphError> {
        let mut plan = vec![
            EndStep::RemoveRoles,
            EndStep::Disable,
            EndStep::RevokeSessions,
            EndStep::DeleteTaps,
            EndStep::RotatePassword,
        ];
        if action == EndAction::Delete {
            plan.push(EndStep::DeleteAccount);
        }
        let first = self.run_end_steps(tenant, user_id, &plan[..1]).await;
        if let Some(Err(error)) = first.first().map(|s| &s.outcome.result)
            && nothing_could_be_done(error)
        {
            return Err(error.clone());
        }
        let mut steps = first;
        steps.extend(self.run_end_steps(tenant, user_id, &plan[1..]).await);
        // Listing a deleted principal's role assignments answers an empty list, not a 404:
        // only the steps that address the account itself tell whether it was gone.
        let gone_before = steps
            .iter()
            .filter(|s| s.outcome.step != EndStep::RemoveRoles)
            .all(|s| s.account_was_gone);
        // A read-back that disagrees after a failed step it checks (roles, disable, delete)
        // shows that failure, not replication lag: waiting for it to settle would only delay
        // the retry.
        let wait_to_settle = steps
            .iter()
            .filter(|s| {
                matches!(
                    s.outcome.step,
                    EndStep::RemoveRoles | EndStep::Disable | EndStep::DeleteAccount
                )
            })
            .all(|s| s.outcome.result.is_ok());
        let read_back = self
            .verify_end(tenant, user_id, action, gone_before, wait_to_settle)
            .await;
        let (already_gone, unverified) = match read_back {
            Ok(Ending::Gone) => (gone_before, None),
            Ok(Ending::Disabled) => (false, None),
            Err(error) => (false, Some(error)),
        };
        let report = EndReport {
            user_id: user_id.to_string(),
            action,
            already_gone,
            steps: steps.into_iter().map(|s| s.outcome).collect(),
            unverified,
        };
        for (step, error) in report.failures() {
            tracing::warn!(tenant_id = %tenant.tenant_id, %user_id, step = step.as_str(), %error, "a step of ending access failed");
        }
        tracing::info!(
            tenant_id = %tenant.tenant_id,
            %user_id,
            ?action,
            verified = report.is_verified(),
            failed_follow_ups = report.failed_follow_ups().len(),
            "end of access ran"
        );
        Ok(report)
    }

    /// Runs `steps` again (follow-ups that failed earlier), each on its own. An account that
    /// is gone counts as done for every step.
    pub async fn retry_end_steps(
        &self,
        tenant: &Tenant,
        user_id: &str,
        steps: &[EndStep],
    ) -> Vec<StepOutcome> {
        self.run_end_steps(tenant, user_id, steps)
            .await
            .into_iter()
            .map(|s| s.outcome)
            .collect()
    }

    /// Runs `steps` in their order, those that may run together ([`batches_with_others`]) in
    /// one batch.
    async fn run_end_steps(
        &self,
        tenant: &Tenant,
        user_id: &str,
        steps: &[EndStep],
    ) -> Vec<RanStep> {
        let together: Vec<EndStep> = steps
            .iter()
            .copied()
            .filter(|s| batches_with_others(*s))
            .collect();
        let batched = together.len() >= 2;
        let mut ran = Vec::with_capacity(steps.len());
        for &step in steps {
            if batched && batches_with_others(step) {
                // The batch runs where its first step stands in the order.
                if step == together[0] {
                    ran.extend(self.run_together(tenant, user_id, &together).await);
                }
                continue;
            }
            let result = self.run_end_step(tenant, user_id, step).await;
            ran.push(RanStep::new(step, result));
        }
        ran
    }

    /// Steps that do not depend on each other, in one round trip; the Temporary Access Passes
    /// listed in it are deleted after.
    async fn run_together(
        &self,
        tenant: &Tenant,
        user_id: &str,
        steps: &[EndStep],
    ) -> Vec<RanStep> {
        let mut password = None;
        let calls: Vec<Call> = steps
            .iter()
            .map(|step| match step {
                EndStep::Disable => self.disable_call(user_id),
                EndStep::RevokeSessions => self.revoke_sessions_call(user_id),
                EndStep::DeleteTaps => self.list_taps_call(user_id),
                EndStep::RotatePassword => {
                    // A fresh random password nobody will ever see: even if the account were
                    // enabled again, the technician's credential no longer works.
                    self.set_password_call(user_id, password.insert(password::generate()))
                }
                other => unreachable!("{other:?} is not batched"),
            })
            .collect();
        let answers = match self.send_batch(tenant, &calls).await {
            Ok(answers) => answers,
            Err(error) => steps.iter().map(|_| Err(error.clone())).collect(),
        };
        let mut ran = Vec::with_capacity(steps.len());
        for (&step, answer) in steps.iter().zip(answers) {
            let result = match (
                step,
                answer.and_then(|reply| step_reply(tenant, step, reply)),
            ) {
                (EndStep::DeleteTaps, Ok(listed)) => {
                    self.delete_taps(tenant, user_id, &listed).await
                }
                (_, other) => other.map(|_| step_done_text(step)),
            };
            ran.push(RanStep::new(step, result));
        }
        ran
    }

    async fn run_end_step(
        &self,
        tenant: &Tenant,
        user_id: &str,
        step: EndStep,
    ) -> Result<String, GraphError> {
        match step {
            EndStep::RemoveRoles => {
                let removed = self.remove_all_roles(tenant, user_id).await?;
                Ok(format!("{removed} role assignment(s) removed"))
            }
            EndStep::Disable => {
                self.disable(tenant, user_id).await?;
                Ok(step_done_text(step))
            }
            EndStep::RevokeSessions => {
                self.revoke_sessions(tenant, user_id).await?;
                Ok(step_done_text(step))
            }
            EndStep::DeleteTaps => {
                let listed = self.list_taps(tenant, user_id).await?;
                self.delete_taps(tenant, user_id, &listed).await
            }
            EndStep::RotatePassword => {
                self.set_password(tenant, user_id, &password::generate())
                    .await?;
                Ok(step_done_text(step))
            }
            EndStep::DeleteAccount => {
                if self.delete_user(tenant, user_id).await? {
                    Ok(step_done_text(step))
                } else {
                    // Counted like every other step that found the account gone.
                    Err(GraphError::Rejected {
                        operation: "delete user",
                        status: 404,
                        code: "Request_ResourceNotFound".into(),
                        message: "the account no longer exists".into(),
                        request_id: None,
                    })
                }
            }
            EndStep::ReadBack => self
                .verify_end(tenant, user_id, EndAction::Disable, false, true)
                .await
                .map(|_| step_done_text(step)),
        }
    }

    async fn delete_taps(
        &self,
        tenant: &Tenant,
        user_id: &str,
        listed: &[TapMethod],
    ) -> Result<String, GraphError> {
        let mut removed = 0;
        for tap in listed {
            if self.delete_tap(tenant, user_id, &tap.id).await? {
                removed += 1;
            }
        }
        Ok(format!("{removed} Temporary Access Pass(es) deleted"))
    }

    /// The account jitgate recorded, if it still exists. A 404 means deleted meanwhile, or not
    /// replicated yet: the create's uniqueness check that follows tells which.
    async fn known_account(
        &self,
        tenant: &Tenant,
        spec: &AccountSpec,
        user_id: &str,
    ) -> Result<Option<User>, GraphError> {
        let Some(user) = self.get_user(tenant, user_id).await? else {
            return Ok(None);
        };
        ensure_owned_by(&user, &spec.owner)?;
        Ok(Some(user))
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

    /// Leaves an existing account without roles, with `password`, enabled: in that order, so
    /// that a refused step never leaves it enabled with an old password.
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
        through_replication_lag(policy, "set a new password", Some(user_id), || {
            self.set_password(tenant, user_id, password)
        })
        .await?;
        through_replication_lag(policy, "enable the account", Some(user_id), || {
            self.enable(tenant, user_id)
        })
        .await
    }

    /// Removes every role assignment the account holds, all in one batch (in chunks of
    /// Graph's 20) after listing them.
    async fn remove_all_roles(&self, tenant: &Tenant, user_id: &str) -> Result<usize, GraphError> {
        let held = self.list_role_assignments(tenant, user_id).await?;
        let mut removed = 0;
        for chunk in held.chunks(MAX_BATCH) {
            let calls: Vec<Call> = chunk
                .iter()
                .map(|a| self.remove_role_assignment_call(&a.id))
                .collect();
            for answer in self.send_batch(tenant, &calls).await? {
                if removal_answer(tenant, answer?)? {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Assigns each role in `roles`. The account holds none at this point (it is new, or
    /// [`Self::reset_for_new_grant`] just removed them all), so its assignments are not read
    /// first; a read right after the removals could even lag and show them still there. An
    /// existing account gets its roles all at once. A new one may not have replicated yet:
    /// only its first role's assignment is tried until it is visible, then the others go at
    /// once, so each look through the lag costs one call, not one per role.
    async fn grant_roles(
        &self,
        tenant: &Tenant,
        user_id: &str,
        roles: &[String],
        new_account: bool,
    ) -> Result<(), GraphError> {
        let mut wanted: Vec<&String> = Vec::new();
        for role in roles {
            if !wanted.iter().any(|w| w.eq_ignore_ascii_case(role)) {
                wanted.push(role);
            }
        }
        let rest = match wanted.split_first() {
            Some((first, rest)) if new_account => {
                self.assign_through_lag(tenant, user_id, first).await?;
                rest
            }
            _ => &wanted[..],
        };
        let assignments = rest
            .iter()
            .map(|role| self.assign_through_lag(tenant, user_id, role));
        futures::future::try_join_all(assignments).await?;
        Ok(())
    }

    async fn assign_through_lag(
        &self,
        tenant: &Tenant,
        user_id: &str,
        role: &str,
    ) -> Result<AssignOutcome, GraphError> {
        through_replication_lag(
            self.retry_policy(),
            "assign directory role",
            Some(user_id),
            || self.assign_role(tenant, user_id, role),
        )
        .await
    }

    /// The account and its role assignments, in one round trip.
    async fn read_back(&self, tenant: &Tenant, user_id: &str) -> Result<ReadBack, GraphError> {
        let calls = [
            self.get_user_call(user_id),
            self.list_role_assignments_call(user_id),
        ];
        let mut answers = self.send_batch(tenant, &calls).await?.into_iter();
        let mut next = || answers.next().expect("one answer per call");
        let user = user_answer(tenant, next()?)?;
        let roles = assignments_answer(tenant, next()?)?;
        Ok(ReadBack { user, roles })
    }

    /// Reads the account back: gone, or disabled with no role assignments. An end that does
    /// not hold is an error, never a success. (Sessions, passes and the password cannot be
    /// read back; their steps' own answers are the evidence.) A 404 is believed at once when
    /// the account was meant to be deleted or every step already found it gone; otherwise it
    /// existed moments ago, so it is read again until it stays gone (an account briefly
    /// invisible on one replica must not pass for an ended one). Without `wait_to_settle` an
    /// account that reads back not ended is reported at once.
    async fn verify_end(
        &self,
        tenant: &Tenant,
        user_id: &str,
        action: EndAction,
        gone_before: bool,
        wait_to_settle: bool,
    ) -> Result<Ending, GraphError> {
        let policy = self.retry_policy();
        let mut seen = if wait_to_settle {
            until_settled(policy, || self.read_back(tenant, user_id), ReadBack::ended).await?
        } else {
            self.read_back(tenant, user_id).await?
        };
        if seen.user.is_none() && action != EndAction::Delete && !gone_before {
            seen = until_settled(
                policy,
                || self.read_back(tenant, user_id),
                |r| r.user.is_some(),
            )
            .await?;
            if seen.user.is_some() && !seen.ended() {
                seen = until_settled(policy, || self.read_back(tenant, user_id), ReadBack::ended)
                    .await?;
            }
        }
        let not_verified = |problem: String| GraphError::EndNotVerified {
            user_id: user_id.to_string(),
            problem,
        };
        let Some(user) = seen.user else {
            return Ok(Ending::Gone);
        };
        if user.account_enabled != Some(false) {
            return Err(not_verified(format!(
                "the account {} is still enabled (accountEnabled = {})",
                user.user_principal_name,
                user.account_enabled
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "not returned".into())
            )));
        }
        if !seen.roles.is_empty() {
            let ids: Vec<&str> = seen
                .roles
                .iter()
                .map(|a| a.role_definition_id.as_str())
                .collect();
            return Err(not_verified(format!(
                "the account still holds {} role assignment(s) (roles {})",
                seen.roles.len(),
                ids.join(", ")
            )));
        }
        Ok(Ending::Disabled)
    }
}

/// How a verified end left the account.
enum Ending {
    Gone,
    Disabled,
}

/// What [`GraphClient::read_back`] saw.
struct ReadBack {
    user: Option<User>,
    roles: Vec<RoleAssignment>,
}

impl ReadBack {
    /// Gone, or disabled with no role assignments.
    fn ended(&self) -> bool {
        match &self.user {
            None => true,
            Some(user) => user.account_enabled == Some(false) && self.roles.is_empty(),
        }
    }
}

/// One step's outcome, and whether it found the account gone.
struct RanStep {
    outcome: StepOutcome,
    account_was_gone: bool,
}

impl RanStep {
    fn new(step: EndStep, result: Result<String, GraphError>) -> RanStep {
        let account_was_gone = matches!(&result, Err(e) if e.is_not_found());
        let result = match result {
            Err(error) if error.is_not_found() => Ok("the account no longer exists".into()),
            other => other,
        };
        RanStep {
            outcome: StepOutcome { step, result },
            account_was_gone,
        }
    }
}

/// Steps independent of each other once the roles are gone: they share one batch.
fn batches_with_others(step: EndStep) -> bool {
    matches!(
        step,
        EndStep::Disable | EndStep::RevokeSessions | EndStep::DeleteTaps | EndStep::RotatePassword
    )
}

/// A batched step's answer; for [`EndStep::DeleteTaps`] the passes to delete.
fn step_reply(tenant: &Tenant, step: EndStep, reply: Reply) -> Result<Vec<TapMethod>, GraphError> {
    match step {
        EndStep::DeleteTaps => taps_answer(tenant, reply),
        _ => reply.done(tenant).map(|()| Vec::new()),
    }
}

fn step_done_text(step: EndStep) -> String {
    match step {
        EndStep::Disable => "disabled",
        EndStep::RevokeSessions => "sign-in sessions revoked",
        EndStep::RotatePassword => "password rotated",
        EndStep::DeleteAccount => "account deleted",
        EndStep::ReadBack => "verified",
        EndStep::RemoveRoles | EndStep::DeleteTaps => "done",
    }
    .to_string()
}

/// The first call of an end failed in a way no later step could avoid.
fn nothing_could_be_done(error: &GraphError) -> bool {
    matches!(
        error,
        GraphError::Throttled { .. }
            | GraphError::Transient { .. }
            | GraphError::TokenRefused { .. }
    )
}

/// Refuses an account jitgate did not create, or created for another technician: jitgate never
/// takes over or shares an account.
fn ensure_owned_by(user: &User, owner: &str) -> Result<(), GraphError> {
    ensure_created_by_jitgate(user)?;
    if user.belongs_to(owner) {
        Ok(())
    } else {
        Err(GraphError::AnotherTechniciansAccount {
            upn: user.user_principal_name.clone(),
            user_id: user.id.clone(),
        })
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
