//! Autotask: webhooks signed over the raw bytes and over the .NET-escaped form (with `&`, `+`
//! and accented text), rotated secrets, `Deactivated`, the trigger rule, and the API client
//! against the fake over real HTTP (zone discovery, headers, picklists read by label, the
//! 3-thread limit, 429, readable errors). Property tests at the end.

use jitgate_connectors::autotask::{payload, settings::TriggerRule, signature};
use jitgate_connectors::{
    Actor, CompanyRef, Connector, ConnectorKind, Delivery, Event, Note, PsaError, ReceiveError,
    Secret, SecretValues, TicketRef, Trigger, build,
};
use jitgate_sim::autotask::{AutotaskSim, SeedTicket, SignatureForm, SignedDelivery, sign_with};
use jitgate_sim::tls::{TestCa, install_crypto_provider};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const TICKET: u64 = 351181;
const COMPANY: u64 = 29683501;
const TECH: u64 = 29682885;
const UDF: &str = "Request JIT";

fn http(ca: Option<&TestCa>) -> reqwest::Client {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5));
    if let Some(ca) = ca {
        builder = builder
            .tls_certs_only([reqwest::Certificate::from_pem(ca.ca_pem().as_bytes()).unwrap()]);
    }
    builder.build().expect("client")
}

fn secrets(api_secret: &str, webhook_secrets: &[&str]) -> SecretValues {
    let mut s = SecretValues::default();
    s.0.insert("api_secret".into(), vec![Secret::from(api_secret)]);
    s.0.insert(
        "webhook_secret".into(),
        webhook_secrets.iter().map(|w| Secret::from(*w)).collect(),
    );
    s
}

fn connector_with(
    settings: Value,
    secrets: SecretValues,
    ca: Option<&TestCa>,
) -> Arc<dyn Connector> {
    build(ConnectorKind::Autotask, &settings, secrets, http(ca)).expect("valid settings")
}

fn connector(sim: &AutotaskSim) -> Arc<dyn Connector> {
    let settings = sim.connector_settings(json!({"udf": UDF}));
    connector_with(
        settings,
        secrets(&sim.config().secret, &[&sim.config().webhook_secret]),
        None,
    )
}

async fn seeded(tls: Option<&TestCa>) -> AutotaskSim {
    let sim = AutotaskSim::start(tls).await;
    sim.add_ticket(
        SeedTicket::new(TICKET, COMPANY)
            .with_udf(UDF, Some("false"))
            .with_udf("Asset", Some("A-1")),
    );
    sim.add_resource(TECH, "jsmith@contoso.example");
    sim
}

async fn receive(c: &dyn Connector, d: &SignedDelivery) -> Result<Event, ReceiveError> {
    let headers = d.header_map();
    c.receive(Delivery {
        headers: &headers,
        body: &d.body,
        received_at: time::OffsetDateTime::now_utc(),
    })
    .await
}

fn note() -> Note {
    Note {
        title: "JIT access granted".into(),
        body: "Open https://jitgate.example/c/abc within 4 hours.".into(),
    }
}

#[test]
fn reference_vector_matches_the_simulator() {
    let body = br#"{"Action":"Update","EntityType":"Ticket","Id":351181}"#;
    assert_eq!(
        signature::sign("at-secret-key-123", body),
        "sha1=SxORfYwaFI/FcPlrSareVU1eYD8="
    );
    assert_eq!(
        jitgate_sim::autotask::signature("at-secret-key-123", body),
        "sha1=SxORfYwaFI/FcPlrSareVU1eYD8="
    );
    // The two independent .NET escapers agree.
    let text = r#"{"Title":"Accès R&D: 1+1 <b> 'x' `y` \"z\" 😀"}"#;
    assert_eq!(
        signature::dotnet_escape(text),
        jitgate_sim::autotask::dotnet_escape(text)
    );
}

#[tokio::test]
async fn a_udf_set_to_true_is_a_request_in_both_signed_forms() {
    let sim = seeded(None).await;
    let c = connector(&sim);
    sim.set_udf(TICKET, UDF, Some("true"));
    for form in [SignatureForm::RawBytes, SignatureForm::DotNetEscaped] {
        let mut body = sim.ticket_event_body(TICKET, TECH, "Update");
        // Text that .NET escapes: ampersand, plus, accents, quotes.
        body["Fields"]["Title"] =
            json!("Accès admin pour R&D + \"Société Générale\" <urgent> l'équipe");
        let d = sim.sign(&body, form);
        assert!(
            String::from_utf8_lossy(&d.body).contains("R&D +"),
            "the wire body is unescaped"
        );
        let event = receive(&*c, &d)
            .await
            .unwrap_or_else(|e| panic!("{form:?}: {e:?}"));
        assert_eq!(
            event.trigger,
            Trigger::Requested {
                duration_secs: None
            },
            "{form:?}"
        );
        assert_eq!(event.ticket, Some(TicketRef(TICKET.to_string())));
        assert_eq!(event.company, Some(CompanyRef(COMPANY.to_string())));
        assert_eq!(event.actor, Some(Actor::PsaUser(TECH.to_string())));
        assert_eq!(event.kind, "Ticket/Update");
    }
    sim.set_udf(TICKET, UDF, Some("false"));
    let event = receive(
        &*c,
        &sim.ticket_delivery(TICKET, TECH, "Update", SignatureForm::RawBytes),
    )
    .await
    .unwrap();
    assert_eq!(event.trigger, Trigger::Cleared);
}

#[tokio::test]
async fn an_already_escaped_wire_body_verifies_over_its_raw_bytes() {
    let sim = seeded(None).await;
    let c = connector(&sim);
    // If Autotask's wire JSON is itself .NET-escaped, the raw-bytes HMAC is the one that matches.
    let wire = jitgate_sim::autotask::dotnet_escape(
        &serde_json::to_string(&json!({"Action": "Update", "EntityType": "Ticket", "Id": TICKET,
            "Fields": {"CompanyID": COMPANY, UDF: "Yes", "Title": "Café & crème + sucre"},
            "Guid": "g", "SequenceNumber": 1, "EventTime": "2026-01-15T14:57:50Z", "PersonID": TECH}))
        .unwrap(),
    );
    assert!(wire.contains("Caf\\u00E9 \\u0026 cr\\u00E8me \\u002B sucre"));
    let d = sign_with(
        &sim.config().webhook_secret,
        wire.into_bytes(),
        SignatureForm::RawBytes,
    );
    let event = receive(&*c, &d).await.unwrap();
    assert_eq!(
        event.trigger,
        Trigger::Requested {
            duration_secs: None
        }
    );
}

#[tokio::test]
async fn the_escaped_form_can_be_switched_off_and_secrets_rotate() {
    let sim = seeded(None).await;
    let mut settings = sim.connector_settings(json!({"udf": UDF}));
    settings["accept_escaped_signature"] = json!(false);
    let strict = connector_with(
        settings,
        secrets("x", &[&sim.config().webhook_secret]),
        None,
    );
    let mut body = sim.ticket_event_body(TICKET, TECH, "Update");
    body["Fields"]["Title"] = json!("Crème & +");
    assert!(matches!(
        receive(&*strict, &sim.sign(&body, SignatureForm::DotNetEscaped)).await,
        Err(ReceiveError::Unauthorized(_))
    ));
    assert!(
        receive(&*strict, &sim.sign(&body, SignatureForm::RawBytes))
            .await
            .is_ok()
    );

    // Two active secrets while rotating: the old one still verifies, a third does not.
    let rotating = connector_with(
        sim.connector_settings(json!({"udf": UDF})),
        secrets("x", &["new-webhook-secret-2", "old-webhook-secret-1"]),
        None,
    );
    let bytes = serde_json::to_vec(&body).unwrap();
    assert!(
        receive(
            &*rotating,
            &sign_with(
                "old-webhook-secret-1",
                bytes.clone(),
                SignatureForm::RawBytes
            )
        )
        .await
        .is_ok()
    );
    assert!(
        receive(
            &*rotating,
            &sign_with(
                "new-webhook-secret-2",
                bytes.clone(),
                SignatureForm::DotNetEscaped
            )
        )
        .await
        .is_ok()
    );
    let err = receive(
        &*rotating,
        &sign_with("retired-secret-0", bytes, SignatureForm::RawBytes),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ReceiveError::Unauthorized(_)));
}

#[tokio::test]
async fn deactivated_is_verified_and_never_turns_verification_off() {
    let sim = seeded(None).await;
    let c = connector(&sim);
    let deactivated = sim.ticket_event_body(TICKET, TECH, "Deactivated");
    // Forged (unsigned / wrongly signed) Deactivated: refused.
    let forged = sign_with(
        "attacker-guess",
        serde_json::to_vec(&deactivated).unwrap(),
        SignatureForm::RawBytes,
    );
    assert!(matches!(
        receive(&*c, &forged).await,
        Err(ReceiveError::Unauthorized(_))
    ));
    // Genuine Deactivated: accepted, nothing to do.
    let event = receive(&*c, &sim.sign(&deactivated, SignatureForm::RawBytes))
        .await
        .unwrap();
    assert_eq!(event.trigger, Trigger::None);
    // And afterwards a forged request is still refused.
    sim.set_udf(TICKET, UDF, Some("true"));
    let request = sim.ticket_event_body(TICKET, TECH, "Update");
    let forged = sign_with(
        "attacker-guess",
        serde_json::to_vec(&request).unwrap(),
        SignatureForm::RawBytes,
    );
    assert!(matches!(
        receive(&*c, &forged).await,
        Err(ReceiveError::Unauthorized(_))
    ));
    let mut unsigned = sim.sign(&request, SignatureForm::RawBytes);
    unsigned.headers.retain(|(n, _)| n != "x-hook-signature");
    assert!(matches!(
        receive(&*c, &unsigned).await,
        Err(ReceiveError::Unauthorized(_))
    ));
}

#[tokio::test]
async fn notes_use_the_internal_picklist_values_over_tls() {
    let ca = TestCa::generate();
    let sim = seeded(Some(&ca)).await;
    let c = connector_with(
        sim.connector_settings(json!({"udf": UDF})),
        secrets(&sim.config().secret, &[&sim.config().webhook_secret]),
        Some(&ca),
    );
    let ticket = TicketRef(TICKET.to_string());
    c.post_note(&ticket, &note()).await.unwrap();
    c.post_note(&ticket, &note()).await.unwrap();
    let notes = sim.notes(TICKET);
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[0].publish_label, "Internal Only");
    assert_eq!(notes[0].publish, 2);
    assert_eq!(notes[0].note_type, 3, "the picklist's default note type");
    assert_eq!(notes[0].title.as_deref(), Some("JIT access granted"));
    assert!(notes[0].description.contains("/c/abc"));
    assert_eq!(sim.zone_lookups(), 1, "the zone is discovered once");
    assert_eq!(sim.picklist_reads(), 1, "picklists are cached");

    let mut settings = sim.connector_settings(json!({"udf": UDF}));
    settings["notes"] = json!({"title": "jitgate", "note_type_label": "Task Detail"});
    let titled = connector_with(settings, secrets(&sim.config().secret, &["w"]), Some(&ca));
    titled.post_note(&ticket, &note()).await.unwrap();
    let last = sim.notes(TICKET).pop().unwrap();
    assert_eq!(
        (last.title.as_deref(), last.note_type, last.publish),
        (Some("jitgate"), 2, 2)
    );

    // A publish label the tenant does not have: a clear configuration error, no note.
    let mut settings = sim.connector_settings(json!({"udf": UDF}));
    settings["notes"] = json!({"publish_label": "Private"});
    let wrong = connector_with(settings, secrets(&sim.config().secret, &["w"]), Some(&ca));
    let err = wrong.post_note(&ticket, &note()).await.unwrap_err();
    assert!(
        matches!(err, PsaError::NotConfigured(ref m) if m.contains("Internal Only")),
        "{err:?}"
    );
    assert_eq!(sim.notes(TICKET).len(), 3);
}

#[tokio::test]
async fn credentials_are_checked_and_errors_are_readable() {
    let sim = seeded(None).await;
    let c = connector_with(
        sim.connector_settings(json!({"udf": UDF})),
        secrets("wrong-api-secret", &["w"]),
        None,
    );
    let err = c
        .post_note(&TicketRef(TICKET.to_string()), &note())
        .await
        .unwrap_err();
    assert!(
        matches!(err, PsaError::Rejected { status: 401, ref message } if message == "User credentials are invalid."),
        "{err:?}"
    );
    assert!(!err.to_string().contains("wrong-api-secret"));

    let mut settings = sim.connector_settings(json!({"udf": UDF}));
    settings["username"] = json!("someone-else@contoso.com");
    let unknown_user = connector_with(settings, secrets(&sim.config().secret, &["w"]), None);
    let err = unknown_user
        .ticket_company(&TicketRef(TICKET.to_string()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PsaError::NotFound(ref m) if m.contains("Zone information")),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_fake_validates_notes_strictly() {
    let sim = seeded(None).await;
    let c = sim.config();
    let post = |body: Value| {
        http(None)
            .post(format!("{}/V1.0/Tickets/{TICKET}/Notes", sim.zone_url()))
            .header("ApiIntegrationCode", &c.integration_code)
            .header("UserName", &c.username)
            .header("Secret", &c.secret)
            .json(&body)
            .send()
    };
    let r = post(json!({"ticketID": TICKET, "description": "d", "noteType": 1, "publish": 99}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    let readable = jitgate_connectors::autotask::api::readable_error(&text).unwrap();
    assert!(
        readable.contains("title") && readable.contains("publish"),
        "{readable}"
    );
    let r = post(
        json!({"ticketID": TICKET, "title": "t", "description": "d", "noteType": 13, "publish": 2}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400, "inactive picklist value");
    let r = http(None)
        .get(format!("{}/V1.0/Tickets/{TICKET}", sim.zone_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(sim.notes(TICKET).is_empty());
}

#[tokio::test]
async fn lookups_reset_and_429() {
    let sim = seeded(None).await;
    let c = connector(&sim);
    let ticket = TicketRef(TICKET.to_string());
    assert_eq!(
        c.ticket_company(&ticket).await.unwrap(),
        CompanyRef(COMPANY.to_string())
    );
    assert_eq!(
        c.actor_email(&TECH.to_string()).await.unwrap(),
        "jsmith@contoso.example"
    );
    assert!(matches!(
        c.actor_email("42").await,
        Err(PsaError::NotFound(_))
    ));
    assert!(matches!(
        c.actor_email("../Resources").await,
        Err(PsaError::NotFound(_))
    ));
    assert!(matches!(
        c.ticket_company(&TicketRef("77".into())).await,
        Err(PsaError::NotFound(_))
    ));

    sim.set_udf(TICKET, UDF, Some("true"));
    c.reset_trigger(&ticket).await.unwrap();
    assert_eq!(sim.udf(TICKET, UDF), Some(Some("false".into())));
    assert_eq!(sim.udf(TICKET, "Asset"), Some(Some("A-1".into())));

    sim.throttle_next(1, 11);
    let err = c.ticket_company(&ticket).await.unwrap_err();
    assert!(
        matches!(err, PsaError::RateLimited(d) if d == Duration::from_secs(11)),
        "{err:?}"
    );
    assert!(c.ticket_company(&ticket).await.is_ok());
}

#[tokio::test]
async fn company_names_come_from_the_companies_entity() {
    let sim = seeded(None).await;
    let c = connector(&sim);
    sim.add_company(COMPANY, "Fabrikam, Inc.");
    assert_eq!(
        c.company_name(&CompanyRef(COMPANY.to_string()))
            .await
            .unwrap(),
        "Fabrikam, Inc."
    );
    // Autotask answers an unknown id with `{"item": null}`.
    let err = c.company_name(&CompanyRef("77".into())).await.unwrap_err();
    assert!(
        matches!(&err, PsaError::NotFound(m) if m.contains("company 77")),
        "{err:?}"
    );
    assert!(matches!(
        c.company_name(&CompanyRef("../Resources".into())).await,
        Err(PsaError::NotFound(_))
    ));
}

#[tokio::test]
async fn at_most_three_calls_per_endpoint_are_in_flight() {
    let sim = seeded(None).await;
    let c = connector(&sim);
    c.ticket_company(&TicketRef(TICKET.to_string()))
        .await
        .unwrap(); // discover the zone first
    sim.set_call_delay(Duration::from_millis(120));
    let calls = (0..10).map(|i| {
        let c = c.clone();
        async move {
            if i % 2 == 0 {
                c.post_note(&TicketRef(TICKET.to_string()), &note()).await
            } else {
                c.ticket_company(&TicketRef(TICKET.to_string()))
                    .await
                    .map(|_| ())
            }
        }
    });
    let results = futures_join_all(calls).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(sim.thread_limit_errors(), 0);
    assert_eq!(sim.max_concurrency("Tickets"), 3);
    assert_eq!(sim.notes(TICKET).len(), 5);
}

#[tokio::test]
async fn the_thread_threshold_error_is_rate_limiting() {
    let sim = seeded(None).await;
    // Two connector instances (say, two jitgate processes) share the integration code: their
    // own limits add up to 6, Autotask refuses the calls beyond 3.
    let (a, b) = (connector(&sim), connector(&sim));
    a.ticket_company(&TicketRef(TICKET.to_string()))
        .await
        .unwrap();
    b.ticket_company(&TicketRef(TICKET.to_string()))
        .await
        .unwrap();
    sim.set_call_delay(Duration::from_millis(200));
    let calls = (0..6).map(|i| {
        let c = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move { c.ticket_company(&TicketRef(TICKET.to_string())).await }
    });
    let results = futures_join_all(calls).await;
    let limited = results
        .iter()
        .filter(|r| matches!(r, Err(PsaError::RateLimited(_))))
        .count();
    assert!(limited > 0, "{results:?}");
    assert_eq!(limited, sim.thread_limit_errors());
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(PsaError::RateLimited(_)))),
        "{results:?}"
    );
}

/// `futures::future::join_all` without the dependency: spawn and await each.
async fn futures_join_all<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Property tests: nothing panics, and every refusal is Unauthorized or Malformed.

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn rule() -> TriggerRule {
    TriggerRule {
        udf: Some(UDF.into()),
        status: Some("17".into()),
        true_values: vec!["true".into(), "yes".into()],
        reset_value: "false".into(),
    }
}

fn sample_body() -> Value {
    json!({"Action": "Update", "Guid": "g", "EntityType": "Ticket", "Id": TICKET,
        "Fields": {"CompanyID": COMPANY, "Status": "8", UDF: "true", "UserDefinedFields": [{"name": "x", "value": "y"}]},
        "EventTime": "2026-01-15T14:57:50Z", "SequenceNumber": 17, "PersonID": TECH})
}

const SECRET: &str = "prop-webhook-secret";

fn prop_connector() -> Arc<dyn Connector> {
    static CONNECTOR: std::sync::OnceLock<Arc<dyn Connector>> = std::sync::OnceLock::new();
    CONNECTOR.get_or_init(new_prop_connector).clone()
}

fn new_prop_connector() -> Arc<dyn Connector> {
    let settings = json!({"username": "u@x", "integration_code": "C0DE", "zone_url": "https://127.0.0.1:1/ATServicesRest",
        "trigger": {"udf": UDF, "status": 17}});
    connector_with(settings, secrets("api", &[SECRET]), None)
}

fn deliver(c: &dyn Connector, d: &SignedDelivery) -> Result<Event, ReceiveError> {
    let headers = d.header_map();
    // Autotask's receive does no I/O; a current-thread runtime is enough.
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(c.receive(Delivery {
            headers: &headers,
            body: &d.body,
            received_at: time::OffsetDateTime::now_utc(),
        }))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = payload::parse(&bytes, &rule());
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = signature::dotnet_escape(text);
        }
    }

    #[test]
    fn escaping_is_idempotent_on_json_text(v in any_json()) {
        let once = signature::dotnet_escape(&v.to_string());
        prop_assert_eq!(signature::dotnet_escape(&once), once.clone());
        // And it is still the same JSON value (compared as parsed from the same number texts:
        // serde_json's float parsing is not exactly round-trip).
        let plain: Value = serde_json::from_str(&v.to_string()).unwrap();
        prop_assert_eq!(serde_json::from_str::<Value>(&once).unwrap(), plain);
    }

    #[test]
    fn signed_bodies_with_wrong_types_parse_or_are_malformed(
        key in prop::sample::select(vec!["Action", "Guid", "EntityType", "Id", "Fields", "EventTime", "SequenceNumber", "PersonID", "PersonId"]),
        field in prop::sample::select(vec!["CompanyID", "Status", UDF, "UserDefinedFields"]),
        value in any_json(),
        nested in any::<bool>(),
        escaped in any::<bool>(),
    ) {
        let mut body = sample_body();
        if nested { body["Fields"][field] = value; } else { body[key] = value; }
        let form = if escaped { SignatureForm::DotNetEscaped } else { SignatureForm::RawBytes };
        let d = sign_with(SECRET, serde_json::to_vec(&body).unwrap(), form);
        let result = deliver(&*prop_connector(), &d);
        prop_assert!(matches!(result, Ok(_) | Err(ReceiveError::Malformed(_))), "{:?}", result);
    }

    #[test]
    fn mutated_or_truncated_deliveries_are_refused(
        cut in 0usize..400,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        header in ".{0,40}",
    ) {
        let c = prop_connector();
        let valid = sign_with(SECRET, serde_json::to_vec(&sample_body()).unwrap(), SignatureForm::RawBytes);
        prop_assert!(deliver(&*c, &valid).is_ok());
        let mut truncated = valid.clone();
        if cut < truncated.body.len() {
            truncated.body.truncate(cut);
            prop_assert!(matches!(deliver(&*c, &truncated), Err(ReceiveError::Unauthorized(_))));
        }
        let mut mutated = valid.clone();
        for (i, b) in &flips {
            let at = i.index(mutated.body.len());
            mutated.body[at] ^= b | 1;
        }
        let result = deliver(&*c, &mutated);
        prop_assert!(matches!(result, Err(ReceiveError::Unauthorized(_))), "{:?}", result);
        if http::HeaderValue::from_str(&header).is_ok() {
            let forged = SignedDelivery { headers: vec![("x-hook-signature".into(), header)], body: valid.body.clone() };
            prop_assert!(matches!(deliver(&*c, &forged), Err(ReceiveError::Unauthorized(_))));
        }
    }
}

/// `reset_trigger` answers `Ok` only when the ticket no longer requests (the app re-arms the
/// ticket on `Ok`).
#[tokio::test]
async fn a_status_trigger_is_reset_only_once_the_ticket_leaves_the_status() {
    let sim = seeded(None).await;
    let c = connector_with(
        sim.connector_settings(json!({"status": 17})),
        secrets(&sim.config().secret, &["w"]),
        None,
    );
    let ticket = TicketRef(TICKET.to_string());
    sim.set_status(TICKET, 17);
    let event = receive(
        &*connector_with(
            sim.connector_settings(json!({"status": "17"})),
            secrets("x", &[&sim.config().webhook_secret]),
            None,
        ),
        &sim.ticket_delivery(TICKET, TECH, "Update", SignatureForm::RawBytes),
    )
    .await
    .unwrap();
    assert_eq!(
        event.trigger,
        Trigger::Requested {
            duration_secs: None
        }
    );
    assert!(matches!(
        c.reset_trigger(&ticket).await,
        Err(PsaError::NotConfigured(_))
    ));
    sim.set_status(TICKET, 5);
    c.reset_trigger(&ticket).await.unwrap();
}

#[test]
fn the_documented_example_is_a_valid_connector() {
    use super::halopsa::{example_body, example_secrets};
    install_crypto_provider();
    let body = example_body(include_str!("../../../config/examples/autotask.jsonc"));
    assert_eq!(body["kind"], "autotask");
    let c = build(
        ConnectorKind::Autotask,
        &body["settings"],
        example_secrets(&body),
        reqwest::Client::new(),
    )
    .unwrap_or_else(|e| panic!("{:?}", e.fields));
    assert_eq!(c.kind(), ConnectorKind::Autotask);
}
