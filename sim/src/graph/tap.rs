//! Graph: Temporary Access Pass methods.

use super::*;

pub(super) fn render_tap(tap: &SimTap) -> Value {
    json!({
        "id": tap.id,
        // Only returned at creation
        // (https://learn.microsoft.com/graph/api/resources/temporaryaccesspassauthenticationmethod).
        "temporaryAccessPass": null,
        "lifetimeInMinutes": tap.lifetime_in_minutes,
        "isUsableOnce": tap.is_usable_once,
        "isUsable": true,
        "methodUsabilityReason": "EnabledByPolicy",
    })
}

pub(super) async fn list_taps(
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
    let Some(index) = t.visible_user(&id, Instant::now()) else {
        return not_found(&id, &ids);
    };
    let user_id = &t.users[index].user.id;
    let values: Vec<Value> = t
        .taps
        .iter()
        .filter(|tap| &tap.user_id == user_id)
        .map(render_tap)
        .collect();
    json_response(
        StatusCode::OK,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('id')/authentication/temporaryAccessPassMethods",
            "value": values,
        }),
    )
}

pub(super) async fn get_tap(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    Path((id, tap_id)): Path<(String, String)>,
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
    let user_id = &t.users[index].user.id;
    match t
        .taps
        .iter()
        .find(|tap| &tap.user_id == user_id && tap.id == tap_id)
    {
        Some(tap) => json_response(StatusCode::OK, render_tap(tap)),
        None => not_found(&tap_id, &ids),
    }
}

pub(super) async fn delete_tap(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    Path((id, tap_id)): Path<(String, String)>,
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
    let before = t.taps.len();
    t.taps
        .retain(|tap| !(tap.user_id == user_id && tap.id == tap_id));
    if t.taps.len() == before {
        return not_found(&tap_id, &ids);
    }
    no_content()
}
