//! Graph: users.

use super::*;

/// What Graph returns for a user when the caller did not `$select`.
pub(super) const DEFAULT_USER_PROPERTIES: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

pub(super) const SELECTABLE_USER_PROPERTIES: &[&str] = &[
    "id",
    "userPrincipalName",
    "displayName",
    "mailNickname",
    "accountEnabled",
    "employeeType",
    "employeeId",
    "givenName",
    "surname",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "businessPhones",
    "createdDateTime",
    "lastPasswordChangeDateTime",
    "passwordProfile",
];

pub(super) fn user_property(user: &SimUser, name: &str) -> Value {
    match name {
        "id" => json!(user.id),
        "userPrincipalName" => json!(user.user_principal_name),
        "displayName" => json!(user.display_name),
        "mailNickname" => json!(user.mail_nickname),
        "accountEnabled" => json!(user.account_enabled),
        "employeeType" => json!(user.employee_type),
        "employeeId" => json!(user.employee_id),
        "businessPhones" => json!([]),
        "createdDateTime" => json!(rfc3339(user.created)),
        "lastPasswordChangeDateTime" => json!(user.password_last_set.map(rfc3339)),
        // Graph never returns passwords; passwordProfile reads back as null.
        _ => Value::Null,
    }
}

/// Renders a user with `$select` semantics, or reports the first unknown property.
pub(super) fn render_user(user: &SimUser, select: Option<&String>) -> Result<Value, String> {
    let names: Vec<&str> = match select {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect(),
        None => DEFAULT_USER_PROPERTIES.to_vec(),
    };
    let mut object = Map::new();
    for name in names {
        if !SELECTABLE_USER_PROPERTIES.contains(&name) {
            return Err(name.to_string());
        }
        object.insert(name.to_string(), user_property(user, name));
    }
    Ok(Value::Object(object))
}

pub(super) fn unknown_property(name: &str, ids: &RequestIds) -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("Could not find a property named '{name}' on type 'microsoft.graph.user'."),
        ids,
    )
}

pub(super) async fn create_user(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    Extension(ticket): Extension<CallTicket>,
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
    let lag = st.replication_lag_for(&tenant_key, ticket);
    let t = st
        .tenants
        .get_mut(&tenant_key)
        .expect("authenticated tenant");

    const ALLOWED: &[&str] = &[
        "accountEnabled",
        "displayName",
        "mailNickname",
        "userPrincipalName",
        "passwordProfile",
        "employeeType",
        "employeeId",
        "givenName",
        "surname",
        "jobTitle",
        "usageLocation",
        "department",
        "passwordPolicies",
    ];
    if let Some(unknown) = body
        .keys()
        .find(|k| !ALLOWED.contains(&k.as_str()) && !k.starts_with('@'))
    {
        return bad_request(
            &format!(
                "Property '{unknown}' does not exist as a declared property or extension property."
            ),
            &ids,
        );
    }
    let account_enabled = match body.get("accountEnabled") {
        Some(Value::Bool(b)) => *b,
        _ => return missing_property("accountEnabled", &ids),
    };
    let Some(display_name) = non_empty_string(&body, "displayName") else {
        return missing_property("displayName", &ids);
    };
    let Some(mail_nickname) = non_empty_string(&body, "mailNickname") else {
        return missing_property("mailNickname", &ids);
    };
    let Some(upn) = non_empty_string(&body, "userPrincipalName") else {
        return missing_property("userPrincipalName", &ids);
    };
    let profile = body.get("passwordProfile").and_then(Value::as_object);
    let Some(password) = profile
        .and_then(|p| p.get("password"))
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return missing_property("passwordProfile", &ids);
    };
    let force_change = profile
        .and_then(|p| p.get("forceChangePasswordNextSignIn"))
        .and_then(Value::as_bool)
        .unwrap_or(true);

    if let Err(response) = check_upn(&upn, &t.spec.all_domains(), &ids) {
        return response;
    }
    if !valid_mail_nickname(&mail_nickname) {
        return graph_error_with_details(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid value specified for property 'mailNickname' of resource 'User'.",
            &ids,
            Some(json!([{ "target": "mailNickname", "code": "InvalidValue" }])),
        );
    }
    if !password_meets_entra_rules(&password) {
        return password_rejected(&ids);
    }
    let employee_id = match body.get("employeeId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if id.chars().count() <= 16 => Some(id.clone()),
        Some(_) => {
            return bad_request(
                "Invalid value specified for property 'employeeId' of resource 'User'.",
                &ids,
            );
        }
    };
    // Uniqueness is checked against every user, replicated or not: the write goes to the
    // directory's primary, which already knows the object.
    if t.users
        .iter()
        .any(|r| r.user.user_principal_name.eq_ignore_ascii_case(&upn))
    {
        return graph_error_with_details(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Another object with the same value for property userPrincipalName already exists.",
            &ids,
            Some(json!([{ "target": "userPrincipalName", "code": "ObjectConflict" }])),
        );
    }

    let now = OffsetDateTime::now_utc();
    let user = SimUser {
        id: new_guid(),
        user_principal_name: upn,
        display_name,
        mail_nickname,
        account_enabled,
        employee_type: body
            .get("employeeType")
            .and_then(Value::as_str)
            .map(str::to_string),
        employee_id,
        password: Some(password),
        password_changes: 0,
        password_last_set: Some(now),
        force_change_password_next_sign_in: force_change,
        sessions_revoked: 0,
        created: now,
    };
    let mut rendered = render_user(&user, None).expect("default properties are selectable");
    rendered["@odata.context"] = json!("https://graph.microsoft.com/v1.0/$metadata#users/$entity");
    t.users.push(UserRecord {
        user,
        visible_at: Instant::now() + lag,
    });
    json_response(StatusCode::CREATED, rendered)
}

pub(super) fn non_empty_string(body: &Map<String, Value>, name: &str) -> Option<String> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
}

pub(super) fn missing_property(name: &str, ids: &RequestIds) -> Response {
    graph_error_with_details(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        &format!("Invalid value specified for property '{name}' of resource 'User'."),
        ids,
        Some(json!([{ "target": name, "code": "InvalidValue" }])),
    )
}

pub(super) fn password_rejected(ids: &RequestIds) -> Response {
    graph_error_with_details(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "The specified password does not comply with password complexity requirements. Please provide a different password.",
        ids,
        Some(json!([{ "target": "passwordProfile.password", "code": "InvalidValue" }])),
    )
}

/// Entra's cloud password rules (concept-sspr-policy.md): 8–256 characters, at least three of
/// lowercase / uppercase / digit / symbol, only the listed characters, no Unicode.
pub fn password_meets_entra_rules(password: &str) -> bool {
    const SYMBOLS: &str = "@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ";
    let length = password.chars().count();
    if !(8..=256).contains(&length) {
        return false;
    }
    if !password
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || SYMBOLS.contains(c))
    {
        return false;
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| SYMBOLS.contains(c)),
    ];
    classes.iter().filter(|present| **present).count() >= 3
}

/// UPN rules (concept-sspr-policy.md): local part of `A-Z a-z 0-9 ' . - _ ! # ^ ~`, no `.`
/// right before `@`, at most 64 + 48 characters (113 in total), domain verified in the tenant
/// and cloud-managed: a user on a federated domain needs `onPremisesImmutableId` (Graph's
/// create-user page, https://learn.microsoft.com/graph/api/user-post-users), which jitgate
/// never sends, so Graph refuses it ("SourceAnchor is a required property for creation of a
/// federated user.", https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/5070).
pub(super) fn check_upn(
    upn: &str,
    domains: &[DomainView],
    ids: &RequestIds,
) -> Result<(), Response> {
    let invalid = || {
        graph_error_with_details(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid value specified for property 'userPrincipalName' of resource 'User'.",
            ids,
            Some(json!([{ "target": "userPrincipalName", "code": "InvalidValue" }])),
        )
    };
    let Some((local, domain)) = upn.split_once('@') else {
        return Err(invalid());
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "'.-_!#^~".contains(c));
    if !local_ok
        || domain.is_empty()
        || domain.len() > 48
        || upn.len() > 113
        || domain.contains('@')
    {
        return Err(invalid());
    }
    let known = domains
        .iter()
        .find(|d| d.is_verified && d.id.eq_ignore_ascii_case(domain));
    if known.is_some_and(|d| d.authentication_type == DomainAuthentication::Federated) {
        return Err(bad_request(
            "SourceAnchor is a required property for creation of a federated user.",
            ids,
        ));
    }
    if known.is_none() {
        return Err(graph_error_with_details(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
            ids,
            Some(json!([{ "target": "userPrincipalName", "code": "InvalidValue" }])),
        ));
    }
    Ok(())
}

pub(super) fn valid_mail_nickname(nickname: &str) -> bool {
    nickname.len() <= 64
        && nickname
            .chars()
            .all(|c| c.is_ascii() && !c.is_ascii_control() && !"@()\\[]\";:<>, ".contains(c))
}

pub(super) async fn list_users(
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
    let params = query_params(raw.as_deref());
    let now = Instant::now();
    let wanted_upn = match params.get("$filter") {
        None => None,
        Some(filter) => match parse_eq_filter(filter) {
            Some((property, value)) if property == "userPrincipalName" => Some(value),
            _ => return unsupported_query(&ids),
        },
    };
    let mut values = Vec::new();
    for record in t.users.iter().filter(|r| r.visible_at <= now) {
        if let Some(upn) = &wanted_upn
            && !record.user.user_principal_name.eq_ignore_ascii_case(upn)
        {
            continue;
        }
        match render_user(&record.user, params.get("$select")) {
            Ok(value) => values.push(value),
            Err(name) => return unknown_property(&name, &ids),
        }
    }
    json_response(
        StatusCode::OK,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
            "value": values,
        }),
    )
}

pub(super) async fn get_user(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let t = &st.tenants[&tenant_key];
    let Some(index) = t.visible_user(&id, Instant::now()) else {
        return not_found(&id, &ids);
    };
    let params = query_params(raw.as_deref());
    match render_user(&t.users[index].user, params.get("$select")) {
        Ok(mut value) => {
            value["@odata.context"] =
                json!("https://graph.microsoft.com/v1.0/$metadata#users/$entity");
            json_response(StatusCode::OK, value)
        }
        Err(name) => unknown_property(&name, &ids),
    }
}

pub(super) async fn update_user(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    Path(id): Path<String>,
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
    let t = st
        .tenants
        .get_mut(&tenant_key)
        .expect("authenticated tenant");
    let Some(index) = t.visible_user(&id, Instant::now()) else {
        return not_found(&id, &ids);
    };
    const ALLOWED: &[&str] = &[
        "accountEnabled",
        "passwordProfile",
        "displayName",
        "employeeType",
        "givenName",
        "surname",
        "jobTitle",
        "usageLocation",
        "department",
        "officeLocation",
        "mailNickname",
    ];
    if let Some(unknown) = body
        .keys()
        .find(|k| !ALLOWED.contains(&k.as_str()) && !k.starts_with('@'))
    {
        return bad_request(
            &format!(
                "Property '{unknown}' does not exist as a declared property or extension property."
            ),
            &ids,
        );
    }

    let enabled = match body.get("accountEnabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return bad_request(
                "Invalid value specified for property 'accountEnabled' of resource 'User'.",
                &ids,
            );
        }
    };
    let profile = match body.get("passwordProfile") {
        None => None,
        Some(Value::Object(p)) => Some(p.clone()),
        Some(_) => return password_rejected(&ids),
    };
    let new_password = match &profile {
        None => None,
        Some(p) => match p.get("password") {
            None => None,
            Some(Value::String(pw)) if password_meets_entra_rules(pw) => Some(pw.clone()),
            Some(_) => return password_rejected(&ids),
        },
    };

    let user_id = t.users[index].user.id.clone();
    let sensitive = enabled.is_some() || profile.is_some();
    if sensitive && t.holds_any_role(&user_id) && !t.app_may_act_on_admins() {
        return insufficient_privileges(&ids);
    }
    if profile.is_some() && t.spec.app_role < AppRole::UserAdministrator {
        return insufficient_privileges(&ids);
    }

    let keep_enabled = t.keep_accounts_enabled;
    let user = &mut t.users[index].user;
    if let Some(enabled) = enabled
        && (enabled || !keep_enabled)
    {
        user.account_enabled = enabled;
    }
    if let Some(p) = &profile {
        if let Some(password) = new_password {
            user.password = Some(password);
            user.password_changes += 1;
            user.password_last_set = Some(OffsetDateTime::now_utc());
        }
        if let Some(force) = p
            .get("forceChangePasswordNextSignIn")
            .and_then(Value::as_bool)
        {
            user.force_change_password_next_sign_in = force;
        }
    }
    if let Some(name) = non_empty_string(&body, "displayName") {
        user.display_name = name;
    }
    if let Some(value) = body.get("employeeType") {
        user.employee_type = value.as_str().map(str::to_string);
    }
    if let Some(nickname) = non_empty_string(&body, "mailNickname") {
        user.mail_nickname = nickname;
    }
    no_content()
}

pub(super) async fn delete_user(
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
    let Some(index) = t.visible_user(&id, Instant::now()) else {
        return not_found(&id, &ids);
    };
    let user_id = t.users[index].user.id.clone();
    if t.holds_any_role(&user_id) && !t.app_may_act_on_admins() {
        return insufficient_privileges(&ids);
    }
    let record = t.users.remove(index);
    t.role_assignments.retain(|a| a.principal_id != user_id);
    t.taps.retain(|tap| tap.user_id != user_id);
    t.deleted_users.push(record.user);
    no_content()
}

pub(super) async fn revoke_sessions(
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
    // Directory.ReadWrite.All would also do, but jitgate's app never asks for it.
    if !t.has_permission("User.RevokeSessions.All") {
        return insufficient_privileges(&ids);
    }
    let Some(index) = t.visible_user(&id, Instant::now()) else {
        return not_found(&id, &ids);
    };
    t.users[index].user.sessions_revoked += 1;
    json_response(
        StatusCode::OK,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean",
            "value": true,
        }),
    )
}
