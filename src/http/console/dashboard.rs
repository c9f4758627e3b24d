//! `/console`: what needs attention first — ends that fail, tenants whose check fails,
//! connectors refusing deliveries — then the access open right now.

use super::grants::open_grants_table;
use super::ui::{self, Frame};
use super::{Names, console_user};
use crate::http::pages::{PageError, base};
use crate::http::session::SignedIn;
use crate::http::state::AppState;
use crate::store::checks::CheckStatus;
use crate::store::{self, grants::GrantFilter, now_ms};
use axum::extract::State;
use maud::html;

pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<maud::Markup, PageError> {
    let signed_in = console_user(signed_in)?;
    let caller = signed_in.caller();
    let base = base(&state);
    let names = Names::load(&state, &caller).await?;
    let recent = store::grants::list(
        &state.db,
        &GrantFilter {
            customers: (!caller.is_admin).then(|| caller.customers.clone()),
            limit: 500,
            ..Default::default()
        },
    )
    .await?;
    let now = now_ms();
    let open: Vec<_> = recent.iter().filter(|g| g.is_open()).cloned().collect();
    let failing: Vec<_> = recent
        .iter()
        .filter(|g| {
            (g.is_open() && (g.end_attempts > 0 || g.expires_at < now - 60_000))
                || !g.follow_ups().is_empty()
        })
        .cloned()
        .collect();
    let tenants = tenants_needing_attention(&state, &names).await?;
    let connectors = if caller.is_admin {
        refusing_connectors(&state).await?
    } else {
        Vec::new()
    };
    let frame = Frame {
        base: &base,
        signed_in: &signed_in,
        section: "/console",
    };
    let all_clear = failing.is_empty() && tenants.is_empty() && connectors.is_empty();
    Ok(ui::page(
        &frame,
        "Dashboard",
        html! {
            (ui::heading("Dashboard", Some("What needs attention first, then the access open right now.")))
            section class="panel" aria-labelledby="attention-h" {
                h2 id="attention-h" { "Needs attention" }
                @if all_clear {
                    p class="empty ok" { "Nothing needs attention: every end verified, every tenant check passing, no refused deliveries." }
                }
                @if !failing.is_empty() {
                    h3 { "Grants whose end is failing" }
                    ul class="attention" {
                        @for g in &failing {
                            li {
                                a href={ (base) "/console/grants/" (g.id) } {
                                    (names.technician(&g.technician_id)) " in " (names.customer(&g.customer_id))
                                }
                                " — "
                                @if g.is_open() {
                                    (g.end_attempts) " failed attempt(s)"
                                    @if let Some(e) = &g.last_end_error { ": " (e) }
                                } @else {
                                    "ended; still retrying: " (g.follow_ups().join(", "))
                                }
                            }
                        }
                    }
                }
                @if !tenants.is_empty() {
                    h3 { "Tenants whose check does not pass" }
                    ul class="attention" {
                        @for (id, name, what) in &tenants {
                            li { a href={ (base) "/console/customers/" (id) } { (name) } " — " (what) }
                        }
                    }
                }
                @if !connectors.is_empty() {
                    h3 { "Connectors refusing deliveries" }
                    ul class="attention" {
                        @for (id, name, refused) in &connectors {
                            li {
                                a href={ (base) "/console/connectors/" (id) } { (name) }
                                " — " (refused) " delivery(ies) refused (bad signature or unreadable) since this jitgate instance started"
                            }
                        }
                    }
                }
            }
            section class="panel" aria-labelledby="open-h" {
                h2 id="open-h" { "Open grants (" (open.len()) ")" }
                (open_grants_table(&base, &signed_in, &names, &open, now))
            }
        },
    ))
}

/// (customer id, name, what is wrong) for connected customers whose last check did not pass
/// and customers not connected at all.
async fn tenants_needing_attention(
    state: &AppState,
    names: &Names,
) -> Result<Vec<(String, String, String)>, PageError> {
    let mut out = Vec::new();
    for (id, name) in names.customers_sorted() {
        let what = match store::customers::entra(&state.db, &id).await? {
            None => Some("not connected to a tenant yet".to_string()),
            Some(_) => match store::checks::last(&state.db, &id).await? {
                None => Some("never checked".to_string()),
                Some(check) if check.status == CheckStatus::Fail => Some(format!(
                    "check failed: {}",
                    check.failed().map(|c| c.name.as_str()).unwrap_or("")
                )),
                Some(_) => None,
            },
        };
        if let Some(what) = what {
            out.push((id, name, what));
        }
    }
    Ok(out)
}

async fn refusing_connectors(state: &AppState) -> Result<Vec<(String, String, u64)>, PageError> {
    Ok(store::connectors::list(&state.db)
        .await?
        .into_iter()
        .filter_map(|c| {
            let refused = state.metrics.refused_deliveries(&c.id);
            (refused > 0).then_some((c.id, c.name, refused))
        })
        .collect())
}
