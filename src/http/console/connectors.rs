//! `/console/connectors`: the PSA connectors with their webhook URLs, one form per kind with
//! every setting explained where it is typed, write-only secrets, enable/disable, and the PSA
//! company → customer mappings.
//!
//! The form's fields are described per kind ([`kind_form`]); the page builds the `settings`
//! JSON from them and calls the admin API, whose field errors (`settings.site`,
//! `secrets.private_key`) come back next to the matching input.

use super::customers::Done;
use super::ui::{self, Errors, Field, Frame};
use super::{Names, Outcome, console_user, invalid, outcome};
use crate::http::api::connectors::{
    ConnectorInput, ConnectorPatch, ConnectorView, MappingInput, MappingView, SecretInput,
    create_connector, get_connector, list_companies, list_connectors, map_company, unmap_company,
    update_connector,
};
use crate::http::extract::ApiJson;
use crate::http::pages::{PageError, base, csrf};
use crate::http::session::{SignedForm, SignedIn};
use crate::http::state::AppState;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jitgate_connectors::ConnectorKind;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/connectors", get(list).post(create))
        .route("/console/connectors/new", get(new_page))
        .route("/console/connectors/{id}", get(detail).post(save))
        .route("/console/connectors/{id}/enabled", post(set_enabled))
        .route("/console/connectors/{id}/companies", post(map))
        .route("/console/connectors/{id}/companies/remove", post(unmap))
}

// ---------------------------------------------------------------------------------------------
// What each kind's form asks for

/// How a setting is typed in the form and written into the settings JSON.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Input {
    Text,
    /// A number; anything else is sent as text so the API names the problem.
    Number,
    /// A number is sent as a number (an id), anything else as text (a name).
    IdOrText,
    /// Comma-separated values, sent as a list of texts.
    List,
    /// A checkbox; the value is the default when the setting is not stored.
    Bool(bool),
    /// One of fixed values (value, label).
    Choice(&'static [(&'static str, &'static str)]),
}

/// One setting: its path in the settings JSON (`trigger.custom_field`), label and explanation.
struct Setting {
    path: &'static str,
    label: &'static str,
    hint: &'static str,
    input: Input,
    required: bool,
}

/// A group of settings, under a JSON object (`trigger`) or at the top (`None`).
struct Section {
    object: Option<&'static str>,
    legend: &'static str,
    hint: &'static str,
    settings: Vec<Setting>,
}

/// One write-only secret of the kind, with what to paste.
struct SecretField {
    name: &'static str,
    label: &'static str,
    hint: &'static str,
}

struct KindForm {
    title: &'static str,
    intro: &'static str,
    webhook_hint: &'static str,
    sections: Vec<Section>,
    secrets: Vec<SecretField>,
}

fn s(path: &'static str, label: &'static str, hint: &'static str, input: Input) -> Setting {
    Setting {
        path,
        label,
        hint,
        input,
        required: false,
    }
}

fn required(mut setting: Setting) -> Setting {
    setting.required = true;
    setting
}

fn kind_label(kind: ConnectorKind) -> &'static str {
    kind.label()
}

/// The form of each kind: the settings of `connectors/src/<kind>/settings.rs`, explained as in
/// `config/examples/<kind>.jsonc`.
fn kind_form(kind: ConnectorKind) -> KindForm {
    match kind {
        ConnectorKind::Connectwise => connectwise_form(),
        ConnectorKind::Autotask => autotask_form(),
        ConnectorKind::Halopsa => halopsa_form(),
        ConnectorKind::StandardWebhooks => standard_webhooks_form(),
    }
}

fn connectwise_form() -> KindForm {
    use Input::*;
    KindForm {
        title: "ConnectWise PSA",
        intro: "A technician requests access by ticking a checkbox custom field on the ticket (jitgate unticks it again) or by moving the ticket to a status. jitgate learns who asked from the member who saved the ticket, by their primary email.",
        webhook_hint: "Create a ConnectWise callback (type ticket, level owner, objectId 1) whose url is this address followed by ?recordId= — ConnectWise appends the record id.",
        sections: vec![
            Section {
                object: None,
                legend: "Site and API member",
                hint: "From System > Members > API Members (a member with Service Tickets Inquire/Edit All, Member Maintenance and Table Setup Inquire).",
                settings: vec![
                    required(s(
                        "site",
                        "Site",
                        "The host technicians browse to: na.myconnectwise.net, eu.myconnectwise.net, au.myconnectwise.net, or an on-premises host (with :port if not 443). The only host a callback's signing-key URL may point at. A host, not a URL with a path.",
                        Text,
                    )),
                    required(s(
                        "company_id",
                        "Company id",
                        "The company id you log in with (the MSP's own, not a customer's): the first part of the API user name company+publicKey.",
                        Text,
                    )),
                    required(s(
                        "public_key",
                        "Public key",
                        "The API member's public key (API Keys tab). The private key goes in the secret below.",
                        Text,
                    )),
                    required(s(
                        "client_id",
                        "Client id",
                        "Your clientId from developer.connectwise.com (ClientID menu); sent on every API call.",
                        Text,
                    )),
                    s(
                        "codebase",
                        "Codebase",
                        "The codebase in your API URLs. Empty uses v4_6_release, which cloud sites accept.",
                        Text,
                    ),
                    s(
                        "api_url",
                        "API URL",
                        "Optional: the REST base. Empty derives it from site and codebase (https://api-{site}/{codebase}/apis/3.0 on cloud sites). Must be https.",
                        Text,
                    ),
                    s(
                        "api_version",
                        "API version",
                        "Optional: the version asked for in the Accept header. Empty uses 2025.1.",
                        Text,
                    ),
                ],
            },
            Section {
                object: Some("trigger"),
                legend: "What makes a ticket request access",
                hint: "Set at least one of the two.",
                settings: vec![
                    s(
                        "trigger.custom_field",
                        "Custom field",
                        "The ticket checkbox custom field, by caption (e.g. Request JIT, case-insensitive) or numeric id (survives renames). Ticked → request; unticked → the ticket can request again.",
                        IdOrText,
                    ),
                    s(
                        "trigger.status",
                        "Status",
                        "A status name, e.g. JIT Requested. Entering it → request; leaving it re-arms the ticket. jitgate never changes statuses.",
                        Text,
                    ),
                ],
            },
            Section {
                object: Some("notes"),
                legend: "Ticket notes",
                hint: "jitgate's notes are always Internal Analysis notes: they hold the credential link and never reach the customer.",
                settings: vec![s(
                    "notes.process_notifications",
                    "Let ConnectWise send its note notifications",
                    "Off by default: they may go to people other than the requesting technician.",
                    Bool(false),
                )],
            },
        ],
        secrets: vec![SecretField {
            name: "private_key",
            label: "Private key",
            hint: "The API member's private key (shown once by ConnectWise). Callbacks need no secret: ConnectWise signs them with a key jitgate fetches from your site.",
        }],
    }
}

fn autotask_form() -> KindForm {
    use Input::*;
    KindForm {
        title: "Autotask",
        intro: "A technician requests access by setting a ticket user-defined field (jitgate resets it) or by moving the ticket to a status. jitgate learns who asked from the webhook's resource, by their email.",
        webhook_hint: "Use this address as both webhookUrl and deactivationUrl of the Autotask ticket webhook, and exclude the API user's own changes (ExcludedResources).",
        sections: vec![
            Section {
                object: None,
                legend: "API user",
                hint: "From Admin > Account Settings & Users > Resources/Users > New API User.",
                settings: vec![
                    required(s(
                        "username",
                        "User name",
                        "The API user's user name; also used to find your zone.",
                        Text,
                    )),
                    required(s(
                        "integration_code",
                        "Integration code",
                        "The API tracking identifier (Custom, Internal Integration), sent on every call.",
                        Text,
                    )),
                    s(
                        "zone_url",
                        "Zone URL",
                        "Optional: your zone's REST base, e.g. https://webservices5.autotask.net/ATServicesRest. Set at most one of this and the zone lookup URL.",
                        Text,
                    ),
                    s(
                        "zone_lookup_url",
                        "Zone lookup URL",
                        "Optional: where to ask for your zone (default https://webservices.autotask.net/atservicesrest).",
                        Text,
                    ),
                    s(
                        "accept_escaped_signature",
                        "Also accept signatures over .NET-escaped JSON",
                        "On by default: which bytes Autotask signs is not settled, and both forms are keyed with the webhook secret. Turn off once deliveries with accented text verify.",
                        Bool(true),
                    ),
                ],
            },
            Section {
                object: Some("trigger"),
                legend: "What makes a ticket request access",
                hint: "Set a user-defined field and/or a status.",
                settings: vec![
                    s(
                        "trigger.udf",
                        "User-defined field",
                        "The ticket UDF's name, e.g. Request JIT. A value in the texts below → request; any other value re-arms the ticket.",
                        Text,
                    ),
                    s(
                        "trigger.status",
                        "Status",
                        "The ticket status value id (the webhook carries the id, not the label).",
                        IdOrText,
                    ),
                    s(
                        "trigger.true_values",
                        "Texts meaning requested",
                        "Comma-separated, case-insensitive. Empty uses true, yes, y, 1, on.",
                        List,
                    ),
                    s(
                        "trigger.reset_value",
                        "Reset value",
                        "What jitgate writes into the UDF after taking a request (default false); not one of the texts above.",
                        Text,
                    ),
                ],
            },
            Section {
                object: Some("notes"),
                legend: "Ticket notes",
                hint: "Plain text notes; jitgate never uses a publish value a customer can see.",
                settings: vec![
                    s(
                        "notes.title",
                        "Title",
                        "Optional fixed note title (default: jitgate's own title per note).",
                        Text,
                    ),
                    s(
                        "notes.publish_label",
                        "Publish label",
                        "The publish picklist value by label (default Internal Only).",
                        Text,
                    ),
                    s(
                        "notes.note_type_label",
                        "Note type label",
                        "The note type picklist value by label (default: the picklist's default).",
                        Text,
                    ),
                ],
            },
        ],
        secrets: vec![
            SecretField {
                name: "webhook_secret",
                label: "Webhook secret",
                hint: "The webhook's secretKey (at most 64 characters). Saving a value here replaces every active one; to rotate without dropping deliveries, use the API with a list.",
            },
            SecretField {
                name: "api_secret",
                label: "API secret",
                hint: "The API user's secret.",
            },
        ],
    }
}

fn halopsa_form() -> KindForm {
    use Input::*;
    KindForm {
        title: "HaloPSA",
        intro: "A technician requests access by adding an action with a dedicated outcome (e.g. Request JIT) or by ticking a ticket custom field (jitgate clears it). jitgate looks up the acting agent's email.",
        webhook_hint: "Use this address as the Payload URL of the Halo webhook (POST, Basic authentication, payload Full object with linked objects, batching off).",
        sections: vec![
            Section {
                object: None,
                legend: "Halo instance and API application",
                hint: "From Configuration > Integrations > HaloPSA API > View Applications (Client ID and Secret, agent login, all permissions).",
                settings: vec![
                    required(s(
                        "base_url",
                        "Base URL",
                        "The address you log in at, without /api, e.g. https://msp.halopsa.com. https required.",
                        Text,
                    )),
                    required(s(
                        "client_id",
                        "Client id",
                        "The API application's Client ID.",
                        Text,
                    )),
                    s(
                        "tenant",
                        "Tenant",
                        "Hosted Halo only: usually the first label of your halopsa.com address. Self-hosted instances leave it empty.",
                        Text,
                    ),
                    s(
                        "auth_url",
                        "Authorisation server",
                        "Optional: empty asks {base_url}/api/authinfo, falling back to {base_url}/auth.",
                        Text,
                    ),
                ],
            },
            Section {
                object: Some("delivery_auth"),
                legend: "How deliveries are checked",
                hint: "Halo documents Basic authentication for webhooks; HMAC is for a signing relay in front of jitgate.",
                settings: vec![
                    s(
                        "delivery_auth.mode",
                        "Mode",
                        "Basic uses the user name below and the webhook password secret; HMAC uses the header below and the HMAC secret.",
                        Choice(&[
                            ("basic", "Basic authentication (recommended)"),
                            ("hmac", "HMAC-SHA256 signature"),
                        ]),
                    ),
                    s(
                        "delivery_auth.username",
                        "Basic user name",
                        "For Basic: the webhook's user name, e.g. jitgate.",
                        Text,
                    ),
                    s(
                        "delivery_auth.header",
                        "HMAC header",
                        "For HMAC: the header carrying the signature (default x-halo-signature).",
                        Text,
                    ),
                ],
            },
            Section {
                object: Some("trigger"),
                legend: "What makes a delivery request access",
                hint: "Set an outcome (id or name, not both) and/or a custom field (id or name, not both).",
                settings: vec![
                    s(
                        "trigger.outcome_name",
                        "Outcome name",
                        "An action with this outcome is a request, e.g. Request JIT (case-insensitive).",
                        Text,
                    ),
                    s(
                        "trigger.outcome_id",
                        "Outcome id",
                        "Or the outcome's numeric id (GET /api/outcome).",
                        Number,
                    ),
                    s(
                        "trigger.custom_field_name",
                        "Custom field name",
                        "A ticket custom field that requests while true, e.g. CFRequestJIT; jitgate resets it to 0.",
                        Text,
                    ),
                    s(
                        "trigger.custom_field_id",
                        "Custom field id",
                        "Or the custom field's numeric id.",
                        Number,
                    ),
                ],
            },
            Section {
                object: Some("note"),
                legend: "Ticket notes",
                hint: "Notes are actions hidden from the end user, always.",
                settings: vec![s(
                    "note.outcome_id",
                    "Note outcome id",
                    "The outcome of jitgate's notes (default 7, the built-in internal note on many tenants). Never the request outcome.",
                    Number,
                )],
            },
        ],
        secrets: vec![
            SecretField {
                name: "client_secret",
                label: "Client secret",
                hint: "The API application's Client Secret.",
            },
            SecretField {
                name: "webhook_password",
                label: "Webhook password",
                hint: "For Basic: the webhook's password, at least 16 characters (openssl rand -base64 32). Saving replaces every active value.",
            },
            SecretField {
                name: "webhook_hmac_secret",
                label: "HMAC secret",
                hint: "For HMAC only: the signing key. Saving replaces every active value.",
            },
        ],
    }
}

fn standard_webhooks_form() -> KindForm {
    KindForm {
        title: "Standard Webhooks",
        intro: "For Rewst, n8n, Power Automate, home-grown tools or a PSA without a connector: the sender posts signed jit.requested / jit.cancelled events (see connectors/STANDARD_WEBHOOKS.md in the repository).",
        webhook_hint: "The sender POSTs its signed events to this address.",
        sections: vec![Section {
            object: None,
            legend: "Notes back to the sender",
            hint: "",
            settings: vec![s(
                "note_url",
                "Note URL",
                "Optional: where jitgate sends its ticket notes as signed jit.note events (https). Empty: no notes; the sender's flow tells the technician itself.",
                Input::Text,
            )],
        }],
        secrets: vec![SecretField {
            name: "webhook_secret",
            label: "Webhook secret",
            hint: "whsec_ followed by base64 of at least 24 random bytes (echo \"whsec_$(openssl rand -base64 32)\"). Saving replaces every active secret.",
        }],
    }
}

// ---------------------------------------------------------------------------------------------
// The form's values, from the stored settings or as sent, and the JSON built from them

/// What the connector form holds: the name and every setting as text, by JSON path.
#[derive(Default)]
struct FormValues {
    name: String,
    values: HashMap<String, String>,
}

impl FormValues {
    fn get(&self, path: &str) -> &str {
        self.values.get(path).map(String::as_str).unwrap_or("")
    }

    /// A new connector's form: defaults only.
    fn blank(form: &KindForm) -> FormValues {
        let mut values = HashMap::new();
        for setting in form.sections.iter().flat_map(|s| &s.settings) {
            if let Input::Bool(default) = setting.input {
                values.insert(setting.path.to_string(), default.to_string());
            }
        }
        FormValues {
            name: String::new(),
            values,
        }
    }

    /// The form of a stored connector.
    fn stored(form: &KindForm, view: &ConnectorView) -> FormValues {
        let mut values = FormValues::blank(form).values;
        for setting in form.sections.iter().flat_map(|s| &s.settings) {
            if let Some(v) = value_at(&view.settings, setting.path) {
                values.insert(setting.path.to_string(), as_text(v));
            }
        }
        FormValues {
            name: view.name.clone(),
            values,
        }
    }

    /// The form as sent (`s:<path>` fields; an unticked checkbox is not sent at all).
    fn sent(form: &KindForm, pairs: &[(String, String)]) -> FormValues {
        let field = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_string())
        };
        let mut values = HashMap::new();
        for setting in form.sections.iter().flat_map(|s| &s.settings) {
            let sent = field(&format!("s:{}", setting.path));
            let value = match setting.input {
                Input::Bool(_) => (sent.as_deref() == Some("true")).to_string(),
                _ => sent.unwrap_or_default(),
            };
            values.insert(setting.path.to_string(), value);
        }
        FormValues {
            name: field("name").unwrap_or_default(),
            values,
        }
    }

    /// The settings JSON: `base` (the stored settings, so ones this form does not show are
    /// kept) with every field of the form written in, and empty ones taken out.
    fn settings(&self, kind: ConnectorKind, form: &KindForm, base: &Value) -> Value {
        let mut settings = match base {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        for setting in form.sections.iter().flat_map(|s| &s.settings) {
            let text = self.get(setting.path);
            let value = json_value(setting.input, text);
            set_at(&mut settings, setting.path, value);
        }
        drop_empty_objects(&mut settings);
        let mut settings = Value::Object(settings);
        fit_to_kind(kind, &mut settings);
        settings
    }
}

/// The JSON a field's text becomes; `None` for an empty field (the setting is left out).
fn json_value(input: Input, text: &str) -> Option<Value> {
    match input {
        Input::Bool(_) => Some(Value::Bool(text == "true")),
        _ if text.is_empty() => None,
        Input::Number | Input::IdOrText => Some(
            text.parse::<u64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(text)),
        ),
        Input::List => Some(Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(Value::from)
                .collect(),
        )),
        Input::Text | Input::Choice(_) => Some(Value::from(text)),
    }
}

/// A HaloPSA `delivery_auth` takes only its mode's own field (the API refuses the other), so the
/// field of the mode not chosen is dropped rather than refused.
fn fit_to_kind(kind: ConnectorKind, settings: &mut Value) {
    if kind != ConnectorKind::Halopsa {
        return;
    }
    if let Some(auth) = settings
        .get_mut("delivery_auth")
        .and_then(Value::as_object_mut)
    {
        let unused = match auth.get("mode").and_then(Value::as_str) {
            Some("hmac") => "username",
            _ => "header",
        };
        auth.remove(unused);
    }
}

fn value_at<'a>(settings: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(settings, |v, key| v.get(key))
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(as_text).collect::<Vec<_>>().join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn set_at(settings: &mut Map<String, Value>, path: &str, value: Option<Value>) {
    match path.split_once('.') {
        None => {
            match value {
                Some(v) => settings.insert(path.to_string(), v),
                None => settings.remove(path),
            };
        }
        Some((object, rest)) => {
            let entry = settings
                .entry(object.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(inner) = entry {
                set_at(inner, rest, value);
            }
        }
    }
}

/// An object left empty (no trigger typed) is left out, so the API says what is missing.
fn drop_empty_objects(settings: &mut Map<String, Value>) {
    settings.retain(|_, v| !matches!(v, Value::Object(m) if m.is_empty()));
}

/// The secrets typed in (`secret:<name>`); an empty input keeps the stored value.
fn secrets_sent(form: &KindForm, pairs: &[(String, String)]) -> BTreeMap<String, String> {
    form.secrets
        .iter()
        .filter_map(|secret| {
            let key = format!("secret:{}", secret.name);
            pairs
                .iter()
                .find(|(k, v)| *k == key && !v.trim().is_empty())
                .map(|(_, v)| (secret.name.to_string(), v.trim().to_string()))
        })
        .collect()
}

fn kind_of(pairs: &[(String, String)]) -> Option<ConnectorKind> {
    pairs
        .iter()
        .find(|(k, _)| k == "kind")
        .and_then(|(_, v)| ConnectorKind::parse(v))
}

// ---------------------------------------------------------------------------------------------
// Pages

fn frame<'a>(base: &'a str, signed_in: &'a SignedIn) -> Frame<'a> {
    Frame {
        base,
        signed_in,
        section: "/console/connectors",
    }
}

/// The webhook URL in large type with a copy button (shown once scripts run).
fn webhook_url(id: &str, url: &str) -> Markup {
    let element = format!("webhook-{id}");
    html! {
        span class="webhook-url" {
            code id=(element) { (url) }
            " "
            button type="button" class="copy" data-copy=(element) hidden { "Copy" }
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(q): Query<Done>,
) -> Result<Markup, PageError> {
    let signed_in = msp_admin(console_user(signed_in)?)?;
    let base = base(&state);
    let axum::Json(connectors) = list_connectors(State(state.clone()), signed_in.caller()).await?;
    Ok(ui::page(
        &frame(&base, &signed_in),
        "Connectors",
        html! {
            (ui::heading("Connectors", Some("The PSAs (and other senders) whose tickets request JIT access, each with its own webhook URL.")))
            (ui::notice(ui::done_text(q.done.as_deref())))
            @if connectors.is_empty() {
                (ui::empty("No connectors yet — add one below and give its webhook URL to the PSA."))
            } @else {
                div class="table-wrap" {
                    table {
                        thead { tr {
                            th scope="col" { "Name" }
                            th scope="col" { "Kind" }
                            th scope="col" { "State" }
                            th scope="col" { "Webhook URL" }
                        } }
                        tbody {
                            @for c in &connectors {
                                tr {
                                    td { a href={ (base) "/console/connectors/" (c.id) } { (c.name) } }
                                    td { (ConnectorKind::parse(&c.kind).map(kind_label).unwrap_or(&c.kind)) }
                                    td { (enabled_badge(c.enabled)) }
                                    td { (webhook_url(&c.id, &c.webhook_url)) }
                                }
                            }
                        }
                    }
                }
            }
            section class="panel" aria-labelledby="add-h" {
                h2 id="add-h" { "Add a connector" }
                (kind_links(&base))
            }
        },
    ))
}

/// Connectors are the MSP's, not a customer's: a customer admin gets a page saying so rather
/// than the API's bare refusal (which the API gives anyway, for every connector page).
fn msp_admin(signed_in: SignedIn) -> Result<SignedIn, PageError> {
    if signed_in.session.is_admin {
        Ok(signed_in)
    } else {
        Err(PageError::Forbidden(
            "Connectors are set up by MSP admins; ask one to map your PSA companies.".into(),
        ))
    }
}

fn enabled_badge(enabled: bool) -> Markup {
    if enabled {
        ui::badge("ok", "enabled")
    } else {
        ui::badge("muted", "disabled")
    }
}

fn kind_links(base: &str) -> Markup {
    html! {
        ul class="plain" {
            @for kind in ConnectorKind::ALL {
                li { a href={ (base) "/console/connectors/new?kind=" (kind.as_str()) } { (kind_label(kind)) } }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct NewQuery {
    kind: Option<String>,
}

pub async fn new_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(q): Query<NewQuery>,
) -> Result<Markup, PageError> {
    let signed_in = msp_admin(console_user(signed_in)?)?;
    let base = base(&state);
    let Some(kind) = q.kind.as_deref().and_then(ConnectorKind::parse) else {
        return Ok(ui::page(
            &frame(&base, &signed_in),
            "Add a connector",
            html! {
                (ui::heading("Add a connector", Some("Which PSA or sender?")))
                (kind_links(&base))
            },
        ));
    };
    let form = kind_form(kind);
    let values = FormValues::blank(&form);
    Ok(new_form_page(
        &base,
        &signed_in,
        kind,
        &form,
        &values,
        &Errors::new(),
    ))
}

fn new_form_page(
    base: &str,
    signed_in: &SignedIn,
    kind: ConnectorKind,
    form: &KindForm,
    values: &FormValues,
    errors: &Errors,
) -> Markup {
    let title = format!("Add a {} connector", form.title);
    ui::page(
        &frame(base, signed_in),
        &title,
        html! {
            p class="crumbs" { a href={ (base) "/console/connectors" } { "Connectors" } " / " }
            (ui::heading(&title, Some(form.intro)))
            @if !errors.is_empty() {
                (ui::problem(Some("The connector was not added: correct the fields marked below. Secrets are never shown again: type them once more.")))
            }
            form method="post" action={ (base) "/console/connectors" } {
                (csrf(signed_in))
                input type="hidden" name="kind" value=(kind.as_str());
                (settings_fields(form, values, None, errors))
                div class="form-row" {
                    label class="choice" {
                        input type="checkbox" name="enabled" value="true" checked;
                        " Enabled: take deliveries as soon as it is saved"
                    }
                }
                button type="submit" class="primary-inline" { "Add connector" }
            }
        },
    )
}

/// The name, every section of settings and the secrets, with errors next to their inputs and
/// any error the form has no input for listed first.
fn settings_fields(
    form: &KindForm,
    values: &FormValues,
    view: Option<&ConnectorView>,
    errors: &Errors,
) -> Markup {
    html! {
        (unplaced_errors(form, errors))
        (Field::text("name", "Name", &values.name).hint("How this connector is listed, e.g. ConnectWise (na.myconnectwise.net).").required().render(errors, "name"))
        @for section in &form.sections {
            fieldset class="form-row" {
                legend { (section.legend) }
                @if !section.hint.is_empty() { p class="hint" { (section.hint) } }
                @if let Some(e) = section.object.and_then(|o| errors.get(&format!("settings.{o}"))) {
                    p class="error" role="alert" { (section.legend) ": " (e) }
                }
                @for setting in &section.settings {
                    (setting_input(setting, values.get(setting.path), errors))
                }
            }
        }
        fieldset class="form-row" {
            legend { "Secrets" }
            p class="hint" { "Write-only: jitgate stores them sealed and never shows them. Leave an input empty to keep what is stored." }
            @for secret in &form.secrets {
                (secret_input(secret, view, errors))
            }
        }
    }
}

fn setting_input(setting: &Setting, value: &str, errors: &Errors) -> Markup {
    let name = format!("s:{}", setting.path);
    let error_key = format!("settings.{}", setting.path);
    match setting.input {
        Input::Bool(_) => html! {
            div class="form-row" {
                label class="choice" {
                    input type="checkbox" name=(name) value="true" checked[value == "true"];
                    " " (setting.label)
                }
                p class="hint" { (setting.hint) }
                @if let Some(e) = errors.get(&error_key) { p class="error" { (setting.label) " " (e) } }
            }
        },
        Input::Choice(options) => {
            let id = format!("f-{name}");
            html! {
                div class="form-row" {
                    label for=(id) { (setting.label) }
                    select id=(id) name=(name) {
                        @for (v, label) in options {
                            option value=(v) selected[value == *v] { (label) }
                        }
                    }
                    p class="hint" { (setting.hint) }
                    @if let Some(e) = errors.get(&error_key) { p class="error" { (setting.label) " " (e) } }
                }
            }
        }
        _ => {
            let mut field = Field::text(&name, setting.label, value).hint(setting.hint);
            if setting.required {
                field = field.required();
            }
            field.render(errors, &error_key)
        }
    }
}

fn secret_input(secret: &SecretField, view: Option<&ConnectorView>, errors: &Errors) -> Markup {
    let name = format!("secret:{}", secret.name);
    let status = view.and_then(|v| v.secrets.get(secret.name));
    let state = match status {
        Some(s) if s.count > 1 => format!("Set ({} active values).", s.count),
        Some(s) if s.set => "Set.".to_string(),
        Some(_) => "Not set.".to_string(),
        None => String::new(),
    };
    let hint = format!("{state} {}", secret.hint).trim().to_string();
    // Never filled in: the value typed is not sent back, not even after a refused form.
    Field::text(&name, secret.label, "")
        .kind("password")
        .hint(&hint)
        .render(errors, &format!("secrets.{}", secret.name))
}

/// Errors for paths the form has no input for (a setting stored through the API, a type the
/// API refused as a whole): listed so none is lost.
fn unplaced_errors(form: &KindForm, errors: &Errors) -> Markup {
    let placed = |key: &str| {
        key == "name"
            || form
                .secrets
                .iter()
                .any(|s| key == format!("secrets.{}", s.name))
            || form.sections.iter().any(|section| {
                section
                    .object
                    .is_some_and(|o| key == format!("settings.{o}"))
                    || section
                        .settings
                        .iter()
                        .any(|s| key == format!("settings.{}", s.path))
            })
    };
    let rest: Vec<(&String, &String)> = errors.iter().filter(|(k, _)| !placed(k)).collect();
    html! {
        @if !rest.is_empty() {
            ul class="banner stop" role="alert" {
                @for (key, message) in rest { li { code { (key) } " " (message) } }
            }
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    form: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    let kind =
        kind_of(&form.form).ok_or_else(|| PageError::BadRequest("no connector kind".into()))?;
    let kind_form = kind_form(kind);
    let values = FormValues::sent(&kind_form, &form.form);
    let input = ConnectorInput {
        kind: kind.as_str().to_string(),
        name: values.name.clone(),
        settings: values.settings(kind, &kind_form, &Value::Null),
        secrets: secrets_sent(&kind_form, &form.form)
            .into_iter()
            .map(|(k, v)| (k, SecretInput::One(v)))
            .collect(),
        enabled: form.form.iter().any(|(k, v)| k == "enabled" && v == "true"),
    };
    let result = create_connector(State(state.clone()), signed_in.caller(), ApiJson(input)).await;
    match outcome(result)? {
        Outcome::Done((_, axum::Json(c))) => Ok(redirect(&state, &c.id, "connector-created")),
        Outcome::Invalid(errors) => Ok(invalid(new_form_page(
            &base(&state),
            &signed_in,
            kind,
            &kind_form,
            &values,
            &errors,
        ))),
    }
}

fn redirect(state: &AppState, id: &str, done: &str) -> Response {
    Redirect::to(&format!(
        "{}/console/connectors/{id}?done={done}",
        base(state)
    ))
    .into_response()
}

/// The detail page's state: the connector, its mappings, and a form being corrected.
struct Detail {
    view: ConnectorView,
    mappings: Vec<MappingView>,
    /// The PSA's names of the mapped companies it could tell in time, by PSA company id.
    company_names: HashMap<String, String>,
    /// The company just mapped (`?company=` after "Map company"), for the notice.
    mapped_company: Option<String>,
    names: Names,
    edit: Option<(FormValues, Errors)>,
    map_form: Option<(String, String, Errors)>,
    deliveries: Markup,
}

async fn load(state: &AppState, signed_in: &SignedIn, id: &str) -> Result<Detail, PageError> {
    let caller = signed_in.caller();
    let axum::Json(view) =
        get_connector(State(state.clone()), caller.clone(), Path(id.to_string())).await?;
    let axum::Json(mappings) =
        list_companies(State(state.clone()), caller.clone(), Path(id.to_string())).await?;
    let company_names = company_names(state, id, &mappings).await;
    Ok(Detail {
        view,
        mappings,
        company_names,
        mapped_company: None,
        names: Names::load(state, &caller).await?,
        edit: None,
        map_form: None,
        deliveries: super::deliveries::panel(state, signed_in, id).await?,
    })
}

/// At most this many mappings get their company name looked up per page view.
const NAMED_MAPPINGS: usize = 50;
/// The page waits this long for the PSA at most: a slow or unreachable PSA costs a name, not
/// the page.
const NAME_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// The PSA's names of the first [`NAMED_MAPPINGS`] mapped companies, asked concurrently with
/// one overall deadline. Companies the PSA cannot name (no company API, unknown id, an error,
/// too slow) are left out; the page then shows the id alone.
async fn company_names(
    state: &AppState,
    connector_id: &str,
    mappings: &[MappingView],
) -> HashMap<String, String> {
    if mappings.is_empty() {
        return HashMap::new();
    }
    let connector = match state.connectors.get(connector_id).await {
        Ok(live) => live.instance,
        Err(e) => {
            tracing::debug!(connector_id, error = %e, "no live connector to name companies");
            return HashMap::new();
        }
    };
    let deadline = tokio::time::Instant::now() + NAME_DEADLINE;
    let lookups = mappings.iter().take(NAMED_MAPPINGS).map(|m| {
        let connector = connector.clone();
        let company = jitgate_connectors::CompanyRef(m.psa_company_id.clone());
        async move {
            let name = tokio::time::timeout_at(deadline, connector.company_name(&company)).await;
            match name {
                Ok(Ok(name)) => Some((company.0, name)),
                Ok(Err(e)) => {
                    tracing::debug!(company = %company.0, error = %e, "PSA company name unavailable");
                    None
                }
                Err(_) => None,
            }
        }
    });
    futures::future::join_all(lookups)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// The detail page's query: the finished action, and the company a mapping was added for.
#[derive(Deserialize)]
pub struct DetailQuery {
    done: Option<String>,
    company: Option<String>,
}

pub async fn detail(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Markup, PageError> {
    let signed_in = console_user(signed_in)?;
    let mut d = load(&state, &signed_in, &id).await?;
    d.mapped_company = q.company;
    detail_page(&state, &signed_in, d, q.done.as_deref())
}

/// The notice for `done`; a new mapping names its company when the PSA could.
fn done_notice(d: &Detail, done: Option<&str>) -> Markup {
    let named = match (done, &d.mapped_company) {
        (Some("company-mapped"), Some(company)) => d
            .company_names
            .get(company)
            .map(|name| format!("Company {name} ({company}) mapped.")),
        _ => None,
    };
    ui::notice(named.as_deref().or(ui::done_text(done)))
}

fn detail_page(
    state: &AppState,
    signed_in: &SignedIn,
    d: Detail,
    done: Option<&str>,
) -> Result<Markup, PageError> {
    let base = base(state);
    let kind = ConnectorKind::parse(&d.view.kind)
        .ok_or_else(|| PageError::BadRequest(format!("unknown kind {}", d.view.kind)))?;
    let form = kind_form(kind);
    let c = &d.view;
    Ok(ui::page(
        &frame(&base, signed_in),
        &c.name,
        html! {
            p class="crumbs" { a href={ (base) "/console/connectors" } { "Connectors" } " / " }
            (ui::heading(&c.name, Some(kind_label(kind))))
            (done_notice(&d, done))
            section class="panel" aria-labelledby="webhook-h" {
                h2 id="webhook-h" { "Webhook URL" }
                p class="big" { (webhook_url(&c.id, &c.webhook_url)) }
                p class="hint" { (form.webhook_hint) }
                p { (enabled_badge(c.enabled)) " "
                    @if c.enabled { "Deliveries are taken." } @else { "Deliveries are refused until it is enabled." }
                }
                form method="post" action={ (base) "/console/connectors/" (c.id) "/enabled" } class="inline"
                    data-confirm=[c.enabled.then_some("Disable this connector? Its tickets can no longer request access until it is enabled again.")] {
                    (csrf(signed_in))
                    input type="hidden" name="on" value=(if c.enabled { "0" } else { "1" });
                    @if c.enabled {
                        button type="submit" class="danger" { "Disable" }
                    } @else {
                        button type="submit" class="primary-inline" { "Enable" }
                    }
                }
            }
            (super::connector_setup::panel(&base, signed_in, &c.id))
            (crate::http::portal::request_link_panel(&state.config.public_url, &c.id, kind))
            (mappings_panel(&base, signed_in, &d))
            (d.deliveries)
            (edit_panel(&base, signed_in, &d, &form))
        },
    ))
}

fn edit_panel(base: &str, signed_in: &SignedIn, d: &Detail, form: &KindForm) -> Markup {
    let stored;
    let (values, errors) = match &d.edit {
        Some((values, errors)) => (values, errors.clone()),
        None => {
            stored = FormValues::stored(form, &d.view);
            (&stored, Errors::new())
        }
    };
    html! {
        section class="panel" aria-labelledby="settings-h" {
            h2 id="settings-h" { "Settings" }
            p class="hint" { (form.intro) }
            @if !errors.is_empty() {
                (ui::problem(Some("Not saved: correct the fields marked below. Secrets are never shown again: type them once more.")))
            }
            form method="post" action={ (base) "/console/connectors/" (d.view.id) } {
                (csrf(signed_in))
                (settings_fields(form, values, Some(&d.view), &errors))
                button type="submit" class="primary-inline" { "Save" }
            }
        }
    }
}

/// "Name (id)" when the PSA named the company, else the id with a muted "name unavailable".
fn company_label(id: &str, name: Option<&String>) -> Markup {
    html! {
        @match name {
            Some(name) => { (name) " (" code { (id) } ")" }
            None => { code { (id) } " " span class="muted" { "name unavailable" } }
        }
    }
}

fn mappings_panel(base: &str, signed_in: &SignedIn, d: &Detail) -> Markup {
    let (company, customer, errors) = d
        .map_form
        .clone()
        .unwrap_or_else(|| (String::new(), String::new(), Errors::new()));
    let id = &d.view.id;
    html! {
        section class="panel" aria-labelledby="companies-h" {
            h2 id="companies-h" { "Companies" }
            p class="hint" { "Which jitgate customer each PSA company is. A ticket of an unmapped company is refused (and the ticket told)." }
            @if d.mappings.is_empty() {
                (ui::empty("No company mapped yet."))
            } @else {
                div class="table-wrap" {
                    table {
                        thead { tr {
                            th scope="col" { "PSA company" }
                            th scope="col" { "Customer" }
                            th scope="col" { span class="visually-hidden" { "Actions" } }
                        } }
                        tbody {
                            @for m in &d.mappings {
                                tr {
                                    td { (company_label(&m.psa_company_id, d.company_names.get(&m.psa_company_id))) }
                                    td { (d.names.customer(&m.customer_id)) }
                                    td class="actions" {
                                        form method="post" action={ (base) "/console/connectors/" (id) "/companies/remove" } class="inline"
                                            data-confirm="Remove this mapping? Tickets of this company can no longer request access." {
                                            (csrf(signed_in))
                                            input type="hidden" name="company" value=(m.psa_company_id);
                                            button type="submit" class="danger" { "Remove" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action={ (base) "/console/connectors/" (id) "/companies" } class="filters" {
                (csrf(signed_in))
                (Field::text("company", "PSA company id", &company).hint("As the PSA identifies it in its webhooks: ConnectWise's company RecId, Autotask's CompanyID, Halo's client id, or the sender's company id.").required().render(&errors, "psa_company_id"))
                div class="form-row" {
                    label for="f-customer" { "Customer" }
                    select id="f-customer" name="customer" aria-invalid=[errors.get("customer_id").map(|_| "true")] {
                        @for (cid, name) in d.names.customers_sorted() {
                            option value=(cid) selected[cid == customer] { (name) }
                        }
                    }
                    @if let Some(e) = errors.get("customer_id") { p class="error" { "Customer " (e) } }
                }
                button type="submit" { "Map company" }
            }
        }
    }
}

pub async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    let mut d = load(&state, &signed_in, &id).await?;
    let kind = ConnectorKind::parse(&d.view.kind)
        .ok_or_else(|| PageError::BadRequest(format!("unknown kind {}", d.view.kind)))?;
    let kind_form = kind_form(kind);
    let values = FormValues::sent(&kind_form, &form.form);
    let patch = ConnectorPatch {
        name: Some(values.name.clone()),
        settings: Some(values.settings(kind, &kind_form, &d.view.settings)),
        secrets: secrets_sent(&kind_form, &form.form)
            .into_iter()
            .map(|(k, v)| (k, Some(SecretInput::One(v))))
            .collect(),
        enabled: None,
    };
    let result = update_connector(
        State(state.clone()),
        signed_in.caller(),
        Path(id.clone()),
        ApiJson(patch),
    )
    .await;
    match outcome(result)? {
        Outcome::Done(_) => Ok(redirect(&state, &id, "connector-saved")),
        Outcome::Invalid(errors) => {
            d.edit = Some((values, errors));
            Ok(invalid(detail_page(&state, &signed_in, d, None)?))
        }
    }
}

#[derive(Deserialize)]
pub struct Switch {
    on: String,
}

pub async fn set_enabled(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<Switch>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    let on = form.form.on == "1";
    let patch = ConnectorPatch {
        name: None,
        settings: None,
        secrets: BTreeMap::new(),
        enabled: Some(on),
    };
    let _saved = update_connector(
        State(state.clone()),
        signed_in.caller(),
        Path(id.clone()),
        ApiJson(patch),
    )
    .await?;
    let done = if on {
        "connector-enabled"
    } else {
        "connector-disabled"
    };
    Ok(redirect(&state, &id, done))
}

#[derive(Deserialize)]
pub struct MapForm {
    company: String,
    #[serde(default)]
    customer: String,
}

pub async fn map(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<MapForm>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    let MapForm { company, customer } = form.form;
    let result = map_company(
        State(state.clone()),
        signed_in.caller(),
        Path((id.clone(), company.trim().to_string())),
        ApiJson(MappingInput {
            customer_id: customer.clone(),
        }),
    )
    .await;
    match outcome(result)? {
        Outcome::Done(_) => Ok(mapped_redirect(&state, &id, company.trim())),
        Outcome::Invalid(errors) => {
            let mut d = load(&state, &signed_in, &id).await?;
            d.map_form = Some((company, customer, errors));
            Ok(invalid(detail_page(&state, &signed_in, d, None)?))
        }
    }
}

/// Back to the detail page, whose notice names the company just mapped.
fn mapped_redirect(state: &AppState, id: &str, company: &str) -> Response {
    match serde_urlencoded::to_string([("done", "company-mapped"), ("company", company)]) {
        Ok(query) => Redirect::to(&format!("{}/console/connectors/{id}?{query}", base(state)))
            .into_response(),
        Err(_) => redirect(state, id, "company-mapped"),
    }
}

#[derive(Deserialize)]
pub struct UnmapForm {
    company: String,
}

pub async fn unmap(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<UnmapForm>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    unmap_company(
        State(state.clone()),
        signed_in.caller(),
        Path((id.clone(), form.form.company)),
    )
    .await?;
    Ok(redirect(&state, &id, "company-unmapped"))
}
