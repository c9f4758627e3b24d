//! Graph: directory role assignments.

use super::*;

/// Creating or removing role assignments needs RoleManagement.ReadWrite.Directory
/// (https://learn.microsoft.com/graph/api/rbacapplication-post-roleassignments).
const ROLE_WRITERS: &[&str] = &["RoleManagement.ReadWrite.Directory"];

pub(super) fn render_assignment(a: &SimRoleAssignment) -> Value {
    json!({
        "id": a.id,
        "principalId": a.principal_id,
        "roleDefinitionId": a.role_definition_id,
        "directoryScopeId": a.directory_scope_id,
    })
}

pub(super) async fn list_assignments(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let t = &st.tenants[&tenant_key];
    if !t.has_any_permission(ROLE_READERS) {
        return insufficient_privileges(&ids);
    }
    let params = query_params(raw.as_deref());
    let filter = match params.get("$filter") {
        None => None,
        Some(filter) => match parse_eq_filter(filter) {
            Some((property, value))
                if property == "principalId" || property == "roleDefinitionId" =>
            {
                Some((property, value))
            }
            _ => return unsupported_query(&ids),
        },
    };
    let now = Instant::now();
    // Assignments of a principal that has not replicated yet are not visible either.
    let principal_visible = |principal: &str| {
        t.users
            .iter()
            .find(|r| r.user.id == principal)
            .is_none_or(|r| r.visible_at <= now)
    };
    let values: Vec<Value> = t
        .all_assignments()
        .iter()
        .filter(|a| principal_visible(&a.principal_id))
        .filter(|a| match &filter {
            None => true,
            Some((property, value)) if property == "principalId" => {
                a.principal_id.eq_ignore_ascii_case(value)
            }
            Some((_, value)) => a.role_definition_id.eq_ignore_ascii_case(value),
        })
        .map(render_assignment)
        .collect();
    json_response(
        StatusCode::OK,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleAssignments",
            "value": values,
        }),
    )
}

pub(super) async fn get_assignment(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let t = &st.tenants[&tenant_key];
    if !t.has_any_permission(ROLE_READERS) {
        return insufficient_privileges(&ids);
    }
    match t.all_assignments().iter().find(|a| a.id == id) {
        Some(a) => json_response(StatusCode::OK, render_assignment(a)),
        None => not_found(&id, &ids),
    }
}

pub(super) async fn create_assignment(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let body = match json_object(&body, &ids) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let lag_answer = st.lag_role_answer;
    let t = st
        .tenants
        .get_mut(&tenant_key)
        .expect("authenticated tenant");
    if !t.has_any_permission(ROLE_WRITERS) {
        return insufficient_privileges(&ids);
    }

    let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
    let (Some(role), Some(principal), Some(scope)) = (
        field("roleDefinitionId"),
        field("principalId"),
        field("directoryScopeId"),
    ) else {
        return bad_request(
            "Required properties roleDefinitionId, principalId and directoryScopeId must be specified.",
            &ids,
        );
    };
    if !is_guid(&role) {
        return bad_request(&format!("Invalid object identifier '{role}'."), &ids);
    }
    if !is_guid(&principal) {
        return bad_request(&format!("Invalid object identifier '{principal}'."), &ids);
    }
    if scope != "/" && !scope.starts_with("/administrativeUnits/") {
        return bad_request(&format!("Invalid directoryScopeId '{scope}'."), &ids);
    }
    let Some(record) = t
        .users
        .iter()
        .find(|r| r.user.id.eq_ignore_ascii_case(&principal))
    else {
        return not_found(&principal, &ids);
    };
    if record.visible_at > Instant::now() {
        return match lag_answer {
            LagRoleAnswer::BadReference => bad_request(
                "Invalid request: the principal does not exist yet. Not a valid reference update.",
                &ids,
            ),
            LagRoleAnswer::NotFound => not_found(&principal, &ids),
        };
    }
    let principal = record.user.id.clone();
    if t.role_assignments.iter().any(|a| {
        a.principal_id == principal
            && a.role_definition_id.eq_ignore_ascii_case(&role)
            && a.directory_scope_id == scope
    }) {
        return bad_request(
            "A conflicting object with one or more of the specified property values is present in the directory.",
            &ids,
        );
    }
    let assignment = SimRoleAssignment {
        id: new_assignment_id(),
        principal_id: principal,
        role_definition_id: role,
        directory_scope_id: scope,
    };
    let mut rendered = render_assignment(&assignment);
    rendered["@odata.context"] = json!(
        "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleAssignments/$entity"
    );
    t.role_assignments.push(assignment);
    json_response(StatusCode::CREATED, rendered)
}

pub(super) async fn delete_assignment(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let t = st
        .tenants
        .get_mut(&tenant_key)
        .expect("authenticated tenant");
    if !t.has_any_permission(ROLE_WRITERS) {
        return insufficient_privileges(&ids);
    }
    let before = t.role_assignments.len();
    t.role_assignments.retain(|a| a.id != id);
    if t.role_assignments.len() == before {
        return not_found(&id, &ids);
    }
    no_content()
}
