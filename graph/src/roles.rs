//! Directory role assignments through `roleManagement/directory/roleAssignments`.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::advice::Needs;
use crate::client::GraphClient;
use crate::error::GraphError;
use crate::tenant::Tenant;
use crate::transport::{Call, Collection, Reply, odata_string, with_query};

/// Tenant-wide scope; jitgate never scopes JIT roles to administrative units.
pub const TENANT_SCOPE: &str = "/";

/// One assignment of a directory role to a principal.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    pub id: String,
    pub principal_id: String,
    /// The role's template id (or definition id; the same for built-in roles).
    pub role_definition_id: String,
    #[serde(default)]
    pub directory_scope_id: String,
}

/// Result of [`GraphClient::assign_role`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignOutcome {
    Assigned(RoleAssignment),
    /// The principal already holds this role at this scope.
    AlreadyAssigned,
}

#[derive(Deserialize)]
struct Assignments {
    value: Vec<RoleAssignment>,
}

/// A directory role as the tenant defines it (Graph's `unifiedRoleDefinition`,
/// https://learn.microsoft.com/graph/api/resources/unifiedroledefinition).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinition {
    pub id: String,
    /// The id shared by every tenant for a built-in role; what role assignments name.
    #[serde(default)]
    pub template_id: String,
    pub display_name: String,
    #[serde(default)]
    pub is_built_in: bool,
    /// A disabled role cannot be assigned.
    #[serde(default = "enabled")]
    pub is_enabled: bool,
}

fn enabled() -> bool {
    true
}

impl GraphClient {
    /// The role assignments held by `principal_id`.
    pub async fn list_role_assignments(
        &self,
        tenant: &Tenant,
        principal_id: &str,
    ) -> Result<Vec<RoleAssignment>, GraphError> {
        let reply = self
            .send(tenant, &self.list_role_assignments_call(principal_id))
            .await?;
        assignments_answer(tenant, reply)
    }

    pub(crate) fn list_role_assignments_call(&self, principal_id: &str) -> Call {
        let filter = format!("principalId eq {}", odata_string(principal_id));
        Call {
            operation: "list role assignments",
            needs: Needs::RoleManagement,
            method: Method::GET,
            url: with_query(
                self.v1(&["roleManagement", "directory", "roleAssignments"]),
                &[("$filter", &filter)],
            ),
            body: None,
        }
    }

    /// The role definition with this template id, `None` if the tenant has no such role (a
    /// mistyped id, or a role of another cloud). Filtering on `templateId` finds built-in
    /// and custom roles alike (`$filter` on `templateId` is supported:
    /// https://learn.microsoft.com/graph/api/rbacapplication-list-roledefinitions).
    pub async fn role_definition(
        &self,
        tenant: &Tenant,
        template_id: &str,
    ) -> Result<Option<RoleDefinition>, GraphError> {
        let filter = format!("templateId eq {}", odata_string(template_id));
        let call = Call {
            operation: "read role definition",
            needs: Needs::RoleManagement,
            method: Method::GET,
            url: with_query(
                self.v1(&["roleManagement", "directory", "roleDefinitions"]),
                &[("$filter", &filter)],
            ),
            body: None,
        };
        let reply = self.send(tenant, &call).await?.success(tenant)?;
        Ok(reply
            .json::<Collection<RoleDefinition>>()?
            .value
            .into_iter()
            .next())
    }

    /// The directory roles held by jitgate's own app in the tenant: the assignments of its
    /// service principal, whose object id is the token's `oid` ([`GraphClient::token_claims`]).
    /// Admin consent grants no directory role, so an administrator must have assigned it.
    pub async fn app_role_assignments(
        &self,
        tenant: &Tenant,
        app_object_id: &str,
    ) -> Result<Vec<RoleAssignment>, GraphError> {
        self.list_role_assignments(tenant, app_object_id).await
    }

    /// Assigns the role `role_definition_id` (a template id) tenant-wide. A duplicate is
    /// reported as [`AssignOutcome::AlreadyAssigned`], so retries are harmless.
    pub async fn assign_role(
        &self,
        tenant: &Tenant,
        principal_id: &str,
        role_definition_id: &str,
    ) -> Result<AssignOutcome, GraphError> {
        let body = json!({
            "@odata.type": "#microsoft.graph.unifiedRoleAssignment",
            "roleDefinitionId": role_definition_id,
            "principalId": principal_id,
            "directoryScopeId": TENANT_SCOPE,
        });
        let call = Call {
            operation: "assign directory role",
            needs: Needs::RoleManagement,
            method: Method::POST,
            url: self.v1(&["roleManagement", "directory", "roleAssignments"]),
            body: Some(body),
        };
        let result = self.send(tenant, &call).await?.success(tenant);
        match result {
            Ok(reply) => Ok(AssignOutcome::Assigned(reply.json()?)),
            Err(error) if error.is_conflicting_object() => Ok(AssignOutcome::AlreadyAssigned),
            Err(error) => Err(error),
        }
    }

    /// Removes one role assignment. `false` if it was already gone (404).
    pub async fn remove_role_assignment(
        &self,
        tenant: &Tenant,
        assignment_id: &str,
    ) -> Result<bool, GraphError> {
        let reply = self
            .send(tenant, &self.remove_role_assignment_call(assignment_id))
            .await?;
        removal_answer(tenant, reply)
    }

    pub(crate) fn remove_role_assignment_call(&self, assignment_id: &str) -> Call {
        Call {
            operation: "remove role assignment",
            needs: Needs::RoleManagement,
            method: Method::DELETE,
            url: self.v1(&[
                "roleManagement",
                "directory",
                "roleAssignments",
                assignment_id,
            ]),
            body: None,
        }
    }
}

/// Whether a removal removed something: `false` if it was already gone (404).
pub(crate) fn removal_answer(tenant: &Tenant, reply: Reply) -> Result<bool, GraphError> {
    if reply.status == 404 {
        return Ok(false);
    }
    reply.done(tenant).map(|()| true)
}

pub(crate) fn assignments_answer(
    tenant: &Tenant,
    reply: Reply,
) -> Result<Vec<RoleAssignment>, GraphError> {
    Ok(reply.success(tenant)?.json::<Assignments>()?.value)
}
