//! The console's frame and the pieces every page uses: navigation, notices, form fields with
//! their errors, times, badges and empty states.

use crate::domain::time::utc;
use crate::http::pages::{csrf, document};
use crate::http::session::SignedIn;
use maud::{Markup, html};
use std::collections::BTreeMap;

/// The sections of the console, in the navigation's order: (path, label).
const SECTIONS: &[(&str, &str)] = &[
    ("/console", "Dashboard"),
    ("/console/customers", "Customers"),
    ("/console/technicians", "Technicians"),
    ("/console/connectors", "Connectors"),
    ("/console/grants", "Grants"),
    ("/console/audit", "Audit"),
];

/// What a page needs to draw its frame.
pub struct Frame<'a> {
    pub base: &'a str,
    pub signed_in: &'a SignedIn,
    /// The section this page belongs to (one of `SECTIONS`' paths).
    pub section: &'static str,
}

/// A console page: top bar with navigation and the signed-in person, then the content.
pub fn page(frame: &Frame, title: &str, content: Markup) -> Markup {
    let who = &frame.signed_in.session;
    let role = if who.is_admin {
        "MSP admin"
    } else {
        "Customer admin"
    };
    document(
        frame.base,
        title,
        "console",
        html! {
            header class="topbar" {
                a class="brand" href={ (frame.base) "/console" } {
                    img src={ (frame.base) "/assets/icon.svg" } alt="" width="24" height="24";
                    span { "jitgate" }
                }
                nav aria-label="Console" {
                    ul {
                        @for (path, label) in SECTIONS {
                            li {
                                @if *path == frame.section {
                                    a href={ (frame.base) (path) } aria-current="page" { (label) }
                                } @else {
                                    a href={ (frame.base) (path) } { (label) }
                                }
                            }
                        }
                    }
                }
                div class="who" {
                    span class="who-name" { (who.display_name) }
                    span class="who-role" { (role) }
                    form method="post" action={ (frame.base) "/auth/sign-out" } {
                        (csrf(frame.signed_in))
                        button type="submit" class="link-button" { "Sign out" }
                    }
                }
            }
            main id="main" class="content" {
                (content)
            }
        },
    )
}

/// A page heading with an optional line under it.
pub fn heading(title: &str, sub: Option<&str>) -> Markup {
    html! {
        div class="page-head" {
            h1 { (title) }
            @if let Some(sub) = sub { p class="sub" { (sub) } }
        }
    }
}

/// A success notice after a change (post, redirect, get).
pub fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p class="banner ok" role="status" { (text) }
        }
    }
}

/// A problem to show above a form that the API refused as a whole (not one field).
pub fn problem(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p class="banner stop" role="alert" { (text) }
        }
    }
}

/// Field errors of a refused form, by the API's field path.
pub type Errors = BTreeMap<String, String>;

/// A labelled text input with its hint and, if the API refused it, its error.
pub struct Field<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub value: &'a str,
    pub hint: Option<&'a str>,
    pub kind: &'a str,
    pub required: bool,
}

impl<'a> Field<'a> {
    pub fn text(name: &'a str, label: &'a str, value: &'a str) -> Self {
        Field {
            name,
            label,
            value,
            hint: None,
            kind: "text",
            required: false,
        }
    }
    pub fn hint(mut self, hint: &'a str) -> Self {
        self.hint = Some(hint);
        self
    }
    pub fn kind(mut self, kind: &'a str) -> Self {
        self.kind = kind;
        self
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// `error_key` is the API's field path for this input (often its name).
    pub fn render(&self, errors: &Errors, error_key: &str) -> Markup {
        let id = format!("f-{}", self.name);
        let error = errors.get(error_key);
        let described = match (self.hint.is_some(), error.is_some()) {
            (_, true) => Some(format!("{id}-error")),
            (true, false) => Some(format!("{id}-hint")),
            _ => None,
        };
        html! {
            div class="form-row" {
                label for=(id) { (self.label) }
                input type=(self.kind) id=(id) name=(self.name) value=(self.value)
                    required[self.required]
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby=[described];
                @if let Some(hint) = self.hint {
                    p class="hint" id={ (id) "-hint" } { (hint) }
                }
                @if let Some(error) = error {
                    p class="error" id={ (id) "-error" } { (self.label) " " (error) }
                }
            }
        }
    }
}

/// A time as jitgate writes it everywhere (`2026-11-26 18:30 UTC`).
pub fn time(ms: i64) -> Markup {
    html! { time { (utc(ms)) } }
}

/// "2h 05m left", "12m left", "ended".
pub fn time_left(until_ms: i64, now_ms: i64) -> String {
    let left = (until_ms - now_ms) / 1000;
    if left <= 0 {
        return "due now".into();
    }
    let (h, m) = (left / 3600, (left % 3600) / 60);
    match (h, m) {
        (0, 0) => "under a minute left".into(),
        (0, m) => format!("{m}m left"),
        (h, m) => format!("{h}h {m:02}m left"),
    }
}

/// A small coloured label: `ok`, `warn`, `fail`, `open`, `ended`, …
pub fn badge(kind: &str, text: &str) -> Markup {
    html! { span class={ "badge badge-" (kind) } { (text) } }
}

/// What an empty list says, and what to do about it.
pub fn empty(text: &str) -> Markup {
    html! { p class="empty" { (text) } }
}

/// The success notice for a `?done=` code: fixed texts only, so a crafted link cannot make the
/// console say anything else.
pub fn done_text(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "customer-created" => "Customer added. Connect its tenant below.",
        "connection-saved" => "Connection saved and checked.",
        "checked" => "Tenant check finished.",
        "mappings-saved" => "Role mappings saved. They apply from the next request.",
        "end-requested" => {
            "Ending the grant: jitgate removes the roles, disables the account and tells the ticket."
        }
        "technician-created" => "Technician added. Delegate customers to them below.",
        "technician-removed" => {
            "Technician removed. Their open grants are ending: roles removed, accounts disabled."
        }
        "admin-granted" => "They are an MSP admin now.",
        "admin-revoked" => {
            "MSP admin taken away. Open grants outside their delegations are ending."
        }
        "delegated" => "Customer delegated: they may get JIT access in its tenant.",
        "undelegated" => "Delegation removed. An open grant in that customer is ending.",
        "customer-admin-granted" => "They administer that customer in the console now.",
        "customer-admin-revoked" => "Customer-admin right taken away.",
        "group-joined" => "Added to the group. Its roles apply from their next request.",
        "group-left" => "Removed from the group. This applies from their next request.",
        "connector-created" => {
            "Connector added. Give its webhook URL to the PSA and map its companies below."
        }
        "connector-saved" => "Connector saved. It applies from the next delivery.",
        "connector-enabled" => "Connector enabled: deliveries are taken.",
        "connector-disabled" => "Connector disabled: deliveries are refused.",
        "company-mapped" => "Company mapped.",
        "company-unmapped" => "Company mapping removed.",
        _ => return None,
    })
}
