//! The portal's markup. Element ids are stable (the browser test finds elements by them):
//! `tenants`, `tenant-{customer id}`, `access-state`, `request-form`, `duration`, `reason`,
//! `ticket`, `request-submit`, `request-status` (with `data-status` and `data-poll`),
//! `request-refresh`, `request-ready`, `request-reason`, `reveal`, `upn`, `password`,
//! `signin-address`, `reveals-left`, `totp-code`, `show-code`, `totp-form`, `totp-key`,
//! `totp-confirm`, `totp-save`, `extend-form`, `extend-duration`, `extend-submit`, `end-form`,
//! `end-now`, `expires-at`, `time-left`.

use super::tenants::{Access, Tenant, sign_in_address};
use crate::domain::lifecycle::RequestStatus;
use crate::domain::totp::Code;
use crate::http::console::ui;
use crate::http::pages::{csrf, document};
use crate::http::session::SignedIn;
use crate::store::deliveries::RequestRow;
use maud::{Markup, html};
use std::time::Duration;

/// What every portal page needs to draw its frame.
pub struct Frame<'a> {
    pub base: &'a str,
    pub signed_in: &'a SignedIn,
}

/// A portal page: a slim top bar (brand, My tenants, the console for admins, sign out).
pub fn page(frame: &Frame, title: &str, content: Markup) -> Markup {
    let base = frame.base;
    let who = &frame.signed_in.session;
    document(
        base,
        title,
        "console portal",
        html! {
            header class="topbar" {
                a class="brand" href={ (base) "/portal" } {
                    img src={ (base) "/assets/icon.svg" } alt="" width="24" height="24";
                    span { "jitgate" }
                }
                nav aria-label="Portal" {
                    ul {
                        li { a href={ (base) "/portal" } { "My tenants" } }
                        @if frame.signed_in.is_console_user() {
                            li { a href={ (base) "/console" } { "Console" } }
                        }
                    }
                }
                div class="who" {
                    span class="who-name" { (who.display_name) }
                    span class="who-role" { "Technician" }
                    form method="post" action={ (base) "/auth/sign-out" } {
                        (csrf(frame.signed_in))
                        button type="submit" class="link-button" { "Sign out" }
                    }
                }
            }
            main id="main" class="content" { (content) }
        },
    )
}

/// "My tenants": every customer with its state; inactive ones greyed out.
pub fn tenants_page(frame: &Frame, tenants: &[Tenant], now: i64) -> Markup {
    let base = frame.base;
    page(
        frame,
        "My tenants",
        html! {
            (ui::heading("My tenants", Some("The customers you may work. Request access to one to get a JIT admin account in its tenant.")))
            @if tenants.is_empty() {
                (ui::empty("No customer is delegated to you yet. Ask an MSP admin to delegate the customers you work."))
            } @else {
                ul id="tenants" class="tenant-list" {
                    @for t in tenants {
                        li id={ "tenant-" (t.customer.id) } class={ "tenant " (state_class(&t.access)) } {
                            a class="tenant-name" href={ (base) "/portal/tenants/" (t.customer.id) } { (t.customer.name) }
                            span class="tenant-state" { (state_line(&t.access, now)) }
                        }
                    }
                }
            }
        },
    )
}

fn state_class(access: &Access) -> &'static str {
    match access {
        Access::None { .. } => "inactive",
        Access::Requested { .. } => "requested",
        Access::Active { .. } => "active",
        Access::Ending => "ending",
    }
}

/// "No access", "Active until 14:05 UTC · 1h 20m left", "Requested", "Ending".
fn state_line(access: &Access, now: i64) -> Markup {
    match access {
        Access::None { .. } => html! { (ui::badge("muted", "No access")) },
        Access::Requested { .. } => html! { (ui::badge("warn", "Requested")) " being prepared" },
        Access::Active { grant } => html! {
            (ui::badge("open", "Active")) " until " (hh_mm(grant.expires_at)) " UTC · "
            (ui::time_left(grant.expires_at, now))
        },
        Access::Ending => html! { (ui::badge("ended", "Ending")) " account being disabled" },
    }
}

/// `14:05` of a Unix-ms time, in UTC.
fn hh_mm(ms: i64) -> String {
    // `utc` writes `2026-11-26 14:05 UTC`: the time is characters 11 to 16.
    crate::domain::time::utc(ms)
        .get(11..16)
        .unwrap_or_default()
        .to_string()
}

/// What a tenant page shows besides the tenant itself.
#[derive(Default)]
pub struct Extras<'a> {
    pub notice: Option<&'static str>,
    pub problem: Option<&'a str>,
    /// Revealed secrets (one reveal's answer).
    pub revealed: Option<Revealed<'a>>,
    /// TOTP codes to show (after a save or "Show code").
    pub codes: Option<&'a [Code]>,
    pub totp_errors: TotpErrors,
}

#[derive(Default)]
pub struct TotpErrors {
    pub key: Option<String>,
    pub code: Option<String>,
}

pub struct Revealed<'a> {
    pub password: &'a str,
    pub reveals_left: i32,
}

/// The durations offered in a request form: common lengths up to the cap, and the default.
fn duration_choices(default: Duration, cap: Duration) -> Vec<u64> {
    let mut minutes: Vec<u64> = [15, 30, 60, 120, 240, 480, 720, 1440]
        .into_iter()
        .filter(|m| m * 60 <= cap.as_secs())
        .collect();
    minutes.push(default.as_secs() / 60);
    minutes.push(cap.as_secs() / 60);
    minutes.retain(|m| *m > 0);
    minutes.sort_unstable();
    minutes.dedup();
    minutes
}

fn minutes_label(m: u64) -> String {
    match (m / 60, m % 60) {
        (0, m) => format!("{m} minutes"),
        (1, 0) => "1 hour".into(),
        (h, 0) => format!("{h} hours"),
        (h, m) => format!("{h}h {m:02}m"),
    }
}

fn duration_select(id: &str, default: Duration, cap: Duration) -> Markup {
    let default_minutes = default.as_secs() / 60;
    html! {
        select id=(id) name="duration_minutes" {
            @for m in duration_choices(default, cap) {
                option value=(m) selected[m == default_minutes] { (minutes_label(m)) }
            }
        }
    }
}

/// One customer: its state and what the technician can do there.
pub fn tenant_page(
    frame: &Frame,
    tenant: &Tenant,
    upn: Option<&str>,
    totp_set: bool,
    cap: Duration,
    now: i64,
    extras: &Extras,
) -> Markup {
    let title = tenant.customer.name.as_str();
    page(
        frame,
        title,
        html! {
            (ui::heading(title, None))
            (ui::notice(extras.notice))
            (ui::problem(extras.problem))
            p id="access-state" class={ "tenant-state " (state_class(&tenant.access)) } { (state_line(&tenant.access, now)) }
            @match &tenant.access {
                Access::None { last_problem } => {
                    @if let Some(r) = last_problem {
                        p class="banner stop" role="alert" {
                            "Your last request was " (status_word(r.status)) ": "
                            (r.status_detail.as_deref().unwrap_or("no reason recorded"))
                        }
                    }
                    (request_form(frame, tenant, cap))
                }
                Access::Requested { request } => {
                    p { a class="button" href={ (frame.base) "/portal/requests/" (request.id) } { "Follow the request" } }
                }
                Access::Active { grant } => {
                    (active_panel(frame, tenant, upn.unwrap_or(""), grant.expires_at, now, extras))
                    (totp_panel(frame, tenant, totp_set, extras))
                    (extend_and_end(frame, tenant, cap))
                }
                Access::Ending => {
                    p { "jitgate is removing the roles and disabling the account. Request access again once it has ended." }
                }
            }
            p { a href={ (frame.base) "/portal" } { "Back to my tenants" } }
        },
    )
}

fn status_word(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Refused => "refused",
        RequestStatus::Failed => "not carried out",
        _ => "closed",
    }
}

fn request_form(frame: &Frame, tenant: &Tenant, cap: Duration) -> Markup {
    let base = frame.base;
    html! {
        section class="panel" aria-labelledby="request-h" {
            h2 id="request-h" { "Request access" }
            @if tenant.tenant_id.is_none() {
                p class="hint" { "This customer's tenant is not connected to jitgate yet: a request will be refused until an admin connects it." }
            }
            form id="request-form" method="post" action={ (base) "/portal/tenants/" (tenant.customer.id) "/request" } {
                (csrf(frame.signed_in))
                div class="form-row" {
                    label for="duration" { "For how long" }
                    (duration_select("duration", tenant.default_duration, cap))
                    p class="hint" { "At most " (minutes_label(cap.as_secs() / 60)) "." }
                }
                div class="form-row" {
                    label for="reason" { "Reason (optional)" }
                    input type="text" id="reason" name="reason" maxlength="500";
                }
                div class="form-row" {
                    label for="ticket" { "Ticket reference (optional)" }
                    input type="text" id="ticket" name="ticket" maxlength="100";
                }
                button type="submit" id="request-submit" class="primary" { "Request access" }
            }
        }
    }
}

fn active_panel(
    frame: &Frame,
    tenant: &Tenant,
    upn: &str,
    expires_at: i64,
    now: i64,
    extras: &Extras,
) -> Markup {
    let base = frame.base;
    html! {
        section class="panel" aria-labelledby="credentials-h" {
            h2 id="credentials-h" { "Credentials" }
            dl class="facts" {
                dt { "Account" }
                dd { code id="upn" class="value" { (upn) } " " button type="button" class="copy" data-copy="upn" hidden { "Copy" } }
                @if let Some(r) = &extras.revealed {
                    dt { "Password" }
                    dd { code id="password" class="value secret" { (r.password) } " " button type="button" class="copy" data-copy="password" hidden { "Copy" } }
                }
                @if let Some(codes) = extras.codes {
                    (code_fact(codes))
                }
                dt { "Sign in at" }
                dd {
                    @if let Some(tid) = &tenant.tenant_id {
                        a id="signin-address" href=(sign_in_address(tid)) rel="noreferrer" { (sign_in_address(tid)) }
                    } @else { "—" }
                }
                dt { "Ends" }
                dd { span id="expires-at" { (ui::time(expires_at)) } " · " span id="time-left" { (ui::time_left(expires_at, now)) } }
            }
            @if let Some(r) = &extras.revealed {
                p id="reveals-left" class="hint" { (r.reveals_left) " reveal(s) left for this access. Close this page when you are done." }
            } @else {
                form method="post" action={ (base) "/portal/tenants/" (tenant.customer.id) "/reveal" } {
                    (csrf(frame.signed_in))
                    button type="submit" id="reveal" class="primary" { "View credentials" }
                    p class="hint" { "Each view is counted and recorded in the audit trail." }
                }
            }
        }
    }
}

/// The current code, with the next ones in `data-next` so app.js can roll over.
fn code_fact(codes: &[Code]) -> Markup {
    let Some(first) = codes.first() else {
        return html! {};
    };
    let next: Vec<&str> = codes[1..].iter().map(|c| c.code.as_str()).collect();
    html! {
        dt { "Authenticator code" }
        dd {
            code id="totp-code" class="value code" data-seconds=(first.seconds_left) data-next=(next.join(" ")) { (first.code) }
            " " button type="button" class="copy" data-copy="totp-code" hidden { "Copy" }
            p class="hint" { "Valid for " span id="totp-seconds" { (first.seconds_left) } " more seconds." }
        }
    }
}

fn totp_panel(frame: &Frame, tenant: &Tenant, totp_set: bool, extras: &Extras) -> Markup {
    let base = frame.base;
    let action = |what: &str| format!("{base}/portal/tenants/{}/{what}", tenant.customer.id);
    let errors = &extras.totp_errors;
    html! {
        section class="panel" aria-labelledby="totp-h" {
            h2 id="totp-h" { "Authenticator (TOTP)" }
            @if totp_set {
                form method="post" action=(action("code")) {
                    (csrf(frame.signed_in))
                    button type="submit" id="show-code" { "Show the current code" }
                }
            } @else {
                p class="hint" { "When Microsoft asks this account to set up an authenticator, choose a different authenticator app, then \"Can't scan image?\", and paste the secret key here." }
            }
            form id="totp-form" method="post" action=(action("totp")) {
                (csrf(frame.signed_in))
                div class="form-row" {
                    label for="totp-key" { @if totp_set { "Replace the key" } @else { "Secret key" } }
                    input type="text" id="totp-key" name="key" autocomplete="off" spellcheck="false"
                        aria-invalid=[errors.key.as_ref().map(|_| "true")];
                    @if let Some(e) = &errors.key { p class="error" id="totp-key-error" { (e) } }
                }
                div class="form-row" {
                    label for="totp-confirm" { "Code from your app now" }
                    input type="text" id="totp-confirm" name="code" inputmode="numeric" autocomplete="one-time-code"
                        aria-invalid=[errors.code.as_ref().map(|_| "true")];
                    @if let Some(e) = &errors.code { p class="error" id="totp-confirm-error" { (e) } }
                }
                button type="submit" id="totp-save" { "Save key" }
            }
        }
    }
}

fn extend_and_end(frame: &Frame, tenant: &Tenant, cap: Duration) -> Markup {
    let base = frame.base;
    let id = &tenant.customer.id;
    html! {
        section class="panel" aria-labelledby="extend-h" {
            h2 id="extend-h" { "Extend or end" }
            form id="extend-form" method="post" action={ (base) "/portal/tenants/" (id) "/extend" } {
                (csrf(frame.signed_in))
                div class="form-row" {
                    label for="extend-duration" { "Access until, from now" }
                    (duration_select("extend-duration", tenant.default_duration, cap))
                }
                button type="submit" id="extend-submit" { "Extend" }
            }
            form id="end-form" method="post" action={ (base) "/portal/tenants/" (id) "/end" }
                data-confirm="End your access now? The account's roles are removed and it is disabled." {
                (csrf(frame.signed_in))
                button type="submit" id="end-now" class="danger" { "End now" }
            }
        }
    }
}

/// The page that follows a request until it is carried out or refused. app.js polls
/// `data-poll` while `data-status` is pending and reloads when it changes; without script the
/// Refresh link does the same.
pub fn request_page(frame: &Frame, request: &RequestRow, customer_name: &str) -> Markup {
    let base = frame.base;
    let customer_id = request.customer_id.as_deref().unwrap_or("");
    let this = format!("{base}/portal/requests/{}", request.id);
    page(
        frame,
        "Your request",
        html! {
            (ui::heading(&format!("Access to {customer_name}"), None))
            div id="request-status" data-status=(request.status.as_str())
                data-poll=[(request.status == RequestStatus::Pending).then(|| format!("{this}/status"))] {
                @match request.status {
                    RequestStatus::Pending => {
                        p role="status" { (ui::badge("warn", "Preparing")) " jitgate is checking your delegation and preparing the account in the customer's tenant." }
                        p { a id="request-refresh" class="button" href=(this) { "Refresh" } }
                    }
                    RequestStatus::Provisioned | RequestStatus::Done => {
                        p role="status" { (ui::badge("ok", "Ready")) " Your account is ready." }
                        p { a id="request-ready" class="button primary" href={ (base) "/portal/tenants/" (customer_id) } { "View credentials" } }
                    }
                    RequestStatus::Refused | RequestStatus::Failed => {
                        p role="alert" {
                            (ui::badge("fail", if request.status == RequestStatus::Refused { "Refused" } else { "Failed" }))
                            " " span id="request-reason" { (request.status_detail.as_deref().unwrap_or("no reason recorded")) }
                        }
                        p { a class="button" href={ (base) "/portal/tenants/" (customer_id) } { "Back to the tenant" } }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_stop_at_the_cap_and_include_the_default() {
        let cap = Duration::from_secs(8 * 3600);
        let choices = duration_choices(Duration::from_secs(90 * 60), cap);
        assert!(choices.contains(&90) && choices.contains(&480));
        assert!(choices.iter().all(|m| *m <= 480));
        assert_eq!(minutes_label(90), "1h 30m");
        assert_eq!(minutes_label(60), "1 hour");
    }
}
