//! Graph: the tenant's domains and its built-in directory role definitions.

use super::*;

/// `GET /domains` needs Domain.Read.All or a higher-privileged permission
/// (https://learn.microsoft.com/graph/api/domain-list).
const DOMAIN_READERS: &[&str] = &[
    "Domain.Read.All",
    "Domain.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// Role definitions and assignments are readable with RoleManagement.Read.Directory or a
/// higher-privileged permission (https://learn.microsoft.com/graph/api/rbacapplication-list-roledefinitions).
pub(super) const ROLE_READERS: &[&str] = &[
    "RoleManagement.Read.Directory",
    "RoleManagement.ReadWrite.Directory",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// Built-in roles (display name, template id) from Microsoft's list
/// (https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference).
/// For built-in roles the definition id is the template id.
pub const BUILT_IN_ROLES: &[(&str, &str)] = &[
    (
        "Global Administrator",
        "62e90394-69f5-4237-9190-012177145e10",
    ),
    (
        "Privileged Role Administrator",
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
    ),
    (
        "Privileged Authentication Administrator",
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    ),
    ("User Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1"),
    (
        "Exchange Administrator",
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
    ),
    (
        "Security Administrator",
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
    ),
    (
        "Intune Administrator",
        "3a2c62db-5318-420d-8d74-23affee5d9d5",
    ),
    (
        "Helpdesk Administrator",
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    ),
    (
        "SharePoint Administrator",
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
    ),
    (
        "Teams Administrator",
        "69091246-20e8-4a56-aa4d-066075b2a7a8",
    ),
    (
        "Authentication Administrator",
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
    ),
    (
        "Conditional Access Administrator",
        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
    ),
    (
        "Application Administrator",
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    ),
    (
        "Cloud Application Administrator",
        "158c047a-c907-4556-b7ef-446551a6b5f7",
    ),
    ("Global Reader", "f2ef992c-3afb-46b9-b7cf-a126ee74c451"),
    (
        "License Administrator",
        "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
    ),
    (
        "Groups Administrator",
        "fdd7a751-b60b-444a-984c-02652fe8fa1c",
    ),
    (
        "Password Administrator",
        "966707d0-3269-4727-9be2-8c3a10f19b9d",
    ),
    (
        "Compliance Administrator",
        "17315797-102d-40b4-93e0-432062caca18",
    ),
    (
        "Cloud Device Administrator",
        "7698a772-787b-4ac8-901f-60d6b08affd2",
    ),
];

fn render_domain(d: &DomainView) -> Value {
    json!({
        "id": d.id,
        "authenticationType": d.authentication_type.as_str(),
        "isAdminManaged": true,
        "isDefault": d.is_default,
        "isInitial": d.is_initial,
        "isRoot": true,
        "isVerified": d.is_verified,
        "supportedServices": if d.is_verified { json!(["Email"]) } else { json!([]) },
    })
}

pub(super) async fn list_domains(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
) -> Response {
    let st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let t = &st.tenants[&tenant_key];
    if !t.has_any_permission(DOMAIN_READERS) {
        return insufficient_privileges(&ids);
    }
    let values: Vec<Value> = t.spec.all_domains().iter().map(render_domain).collect();
    json_response(
        StatusCode::OK,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#domains",
            "value": values,
        }),
    )
}

fn render_role_definition(name: &str, template_id: &str) -> Value {
    json!({
        "id": template_id,
        "templateId": template_id,
        "displayName": name,
        "description": format!("Built-in role {name}."),
        "isBuiltIn": true,
        "isEnabled": true,
        "resourceScopes": ["/"],
        "version": "1",
        "rolePermissions": [],
    })
}

pub(super) async fn list_role_definitions(
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
    if !st.tenants[&tenant_key].has_any_permission(ROLE_READERS) {
        return insufficient_privileges(&ids);
    }
    let params = query_params(raw.as_deref());
    let filter = match params.get("$filter") {
        None => None,
        Some(filter) => match parse_eq_filter(filter) {
            Some((property, value))
                if ["templateId", "id", "displayName"].contains(&property.as_str()) =>
            {
                Some((property, value))
            }
            _ => return unsupported_query(&ids),
        },
    };
    let values: Vec<Value> = BUILT_IN_ROLES
        .iter()
        .filter(|(name, template_id)| match &filter {
            None => true,
            Some((property, value)) if property == "displayName" => name == value,
            Some((_, value)) => template_id.eq_ignore_ascii_case(value),
        })
        .map(|(name, template_id)| render_role_definition(name, template_id))
        .collect();
    json_response(
        StatusCode::OK,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleDefinitions",
            "value": values,
        }),
    )
}

pub(super) async fn get_role_definition(
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
    if !st.tenants[&tenant_key].has_any_permission(ROLE_READERS) {
        return insufficient_privileges(&ids);
    }
    match BUILT_IN_ROLES
        .iter()
        .find(|(_, template_id)| template_id.eq_ignore_ascii_case(&id))
    {
        Some((name, template_id)) => {
            json_response(StatusCode::OK, render_role_definition(name, template_id))
        }
        None => not_found(&id, &ids),
    }
}
