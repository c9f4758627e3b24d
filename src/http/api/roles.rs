//! `GET /entra/roles`: the directory roles jitgate knows by name, for pickers. The Entra
//! connection and role mappings accept these names or any role template id.

use crate::domain::roles::KNOWN_ROLES;
use crate::http::extract::Caller;
use crate::http::state::AppState;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_roles))
}

#[derive(Serialize, ToSchema)]
pub struct RoleView {
    pub name: String,
    /// The role's template id, the same in every tenant.
    pub template_id: String,
}

/// Built-in Entra directory roles jitgate knows by name.
#[utoipa::path(get, path = "/entra/roles", tag = "customers",
    responses((status = 200, body = Vec<RoleView>)), security(("bearer" = [])))]
pub(crate) async fn list_roles(_caller: Caller) -> Json<Vec<RoleView>> {
    Json(
        KNOWN_ROLES
            .iter()
            .map(|(name, id)| RoleView {
                name: name.to_string(),
                template_id: id.to_string(),
            })
            .collect(),
    )
}
