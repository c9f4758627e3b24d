//! ConnectWise PSA: signed callbacks built by the HTTPS simulator (key fetched from the
//! delivery's own key_url, allow-listed to the configured site), the trigger rule, and the API
//! client against the fake over real HTTPS (auth, note flags, lookups, custom-field reset, 429,
//! readable errors). Property tests at the end.

use jitgate_connectors::connectwise::{key_url, payload, settings::SiteHost, signature};
use jitgate_connectors::{
    Actor, CompanyRef, Connector, ConnectorKind, Delivery, Event, Note, PsaError, ReceiveError,
    Secret, SecretValues, TicketRef, Trigger, build,
};
use jitgate_sim::connectwise::{ConnectWiseSim, SeedTicket, SignedDelivery};
use jitgate_sim::tls::{TestCa, install_crypto_provider};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const TICKET: u64 = 123456;
const COMPANY: u64 = 250;

fn http(ca: &TestCa) -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.ca_pem().as_bytes()).expect("CA PEM")])
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

fn secrets(private_key: &str) -> SecretValues {
    let mut s = SecretValues::default();
    s.0.insert("private_key".into(), vec![Secret::from(private_key)]);
    s
}

fn connector_with(ca: &TestCa, settings: Value, private_key: &str) -> Arc<dyn Connector> {
    build(
        ConnectorKind::Connectwise,
        &settings,
        secrets(private_key),
        http(ca),
    )
    .expect("valid settings")
}

fn connector(sim: &ConnectWiseSim, ca: &TestCa) -> Arc<dyn Connector> {
    let settings = sim.connector_settings(json!({"custom_field": "Request JIT"}));
    connector_with(ca, settings, &sim.config().private_key)
}

async fn seeded(ca: &TestCa) -> ConnectWiseSim {
    let sim = ConnectWiseSim::start(ca).await;
    sim.add_ticket(
        SeedTicket::new(TICKET, COMPANY)
            .with_text_field(3, "Asset tag", "A-1")
            .with_custom_field(12, "Request JIT", json!(false))
            .with_status("In Progress"),
    );
    sim.add_member("jsmith", "jsmith@contoso.example");
    sim.add_member("akumar", "akumar@contoso.example");
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

#[test]
fn reference_vector_matches_the_simulator() {
    let body = br#"{"Action":"updated","Type":"ticket","ID":123456}"#;
    let expected = "5NoFQqjsXITDCRmqWeIbAagk8uzRHjwhbZONQPiOS94=";
    assert_eq!(signature::sign("test-signing-key", body), expected);
    assert_eq!(
        jitgate_sim::connectwise::signature("test-signing-key", body),
        expected
    );
}

#[tokio::test]
async fn a_ticked_custom_field_is_a_request() {
    let ca = TestCa::generate();
    let sim = seeded(&ca).await;
    let c = connector(&sim, &ca);

    sim.set_custom_field(TICKET, "Request JIT", json!(true), "jsmith");
    let event = receive(&*c, &sim.ticket_delivery(TICKET, "jsmith", "updated"))
        .await
        .unwrap();
    assert_eq!(
        event.trigger,
        Trigger::Requested {
            duration_secs: None
        }
    );
    assert_eq!(event.ticket, Some(TicketRef(TICKET.to_string())));
    assert_eq!(event.company, Some(CompanyRef(COMPANY.to_string())));
    assert_eq!(event.actor, Some(Actor::PsaUser("jsmith".into())));
    assert_eq!(event.kind, "ticket/updated");
    assert_eq!(sim.key_fetches(), 1);

    sim.set_custom_field(TICKET, "Request JIT", json!(false), "jsmith");
    let event = receive(&*c, &sim.ticket_delivery(TICKET, "jsmith", "updated"))
        .await
        .unwrap();
    assert_eq!(event.trigger, Trigger::Cleared);
    // Each callback carries a new key_url: keys are cached per exact URL only.
    assert_eq!(sim.key_fetches(), 2);

    let event = receive(&*c, &sim.ticket_delivery(TICKET, "jsmith", "deleted"))
        .await
        .unwrap();
    assert_eq!(event.trigger, Trigger::None);
}

#[tokio::test]
async fn the_same_key_url_is_fetched_once_and_refetched_after_rotation() {
    let ca = TestCa::generate();
    let sim = seeded(&ca).await;
    let c = connector(&sim, &ca);
    let body = sim.ticket_callback_body(TICKET, "jsmith", "updated");
    let first = sim.sign(&body);
    receive(&*c, &first).await.unwrap();
    receive(&*c, &first).await.unwrap();
    assert_eq!(sim.key_fetches(), 1, "a redelivery reuses the cached key");

    sim.rotate_signing_key("rotated-signing-key");
    let resigned = sim.sign(&body);
    receive(&*c, &resigned).await.unwrap();
    assert_eq!(
        sim.key_fetches(),
        2,
        "a cached key that no longer verifies is fetched again"
    );
}

#[tokio::test]
async fn a_forgery_does_not_evict_the_good_cached_key() {
    let ca = TestCa::generate();
    let sim = seeded(&ca).await;
    let c = connector(&sim, &ca);
    let body = sim.ticket_callback_body(TICKET, "jsmith", "updated");
    let genuine = sim.sign(&body);
    receive(&*c, &genuine).await.unwrap();
    assert_eq!(sim.key_fetches(), 1);

    // The same key_url with a body signed under another key: the cached key does not verify
    // it, the key fetched again does not either, and the delivery is refused.
    let mut forged_body = body.clone();
    forged_body["ID"] = json!(999);
    let bytes = serde_json::to_vec(&forged_body).unwrap();
    let mut forged = sim.sign_bytes(bytes.clone());
    forged.headers.retain(|(n, _)| n != "x-content-signature");
    forged.headers.push((
        "x-content-signature".into(),
        signature::sign("not-the-signing-key", &bytes),
    ));
    let err = receive(&*c, &forged).await.unwrap_err();
    assert!(
        matches!(err, ReceiveError::Unauthorized(ref m) if m.contains("does not match")),
        "{err:?}"
    );
    assert_eq!(sim.key_fetches(), 2);

    // The good key is still cached: the genuine redelivery verifies without a fetch.
    receive(&*c, &genuine).await.unwrap();
    assert_eq!(sim.key_fetches(), 2);
}

/// A delivery signed with a key the site never issued, on a fresh (real) key URL.
fn forged_delivery(sim: &ConnectWiseSim) -> SignedDelivery {
    let body = serde_json::to_vec(&sim.ticket_callback_body(TICKET, "jsmith", "updated")).unwrap();
    let mut d = sim.sign_bytes(body);
    for (name, value) in &mut d.headers {
        if name == "x-content-signature" {
            *value = signature::sign("guessed-signing-key", &d.body);
        }
    }
    d
}

#[tokio::test]
async fn a_flood_of_forgeries_fetches_at_most_the_budget_and_genuine_keys_cost_nothing() {
    use jitgate_connectors::connectwise::fetch_budget::{BURST, REFILL_EVERY};
    let ca = TestCa::generate();
    let sim = seeded(&ca).await;
    let c = connector(&sim, &ca);

    // Genuine callbacks, each with its own key URL, well past the budget: none is refused.
    let cached = sim.ticket_delivery(TICKET, "jsmith", "updated");
    receive(&*c, &cached).await.unwrap();
    for _ in 0..(2 * BURST) {
        receive(&*c, &sim.ticket_delivery(TICKET, "jsmith", "updated"))
            .await
            .unwrap();
    }
    let genuine_fetches = sim.key_fetches();
    assert_eq!(genuine_fetches, 2 * BURST as usize + 1);

    // A concurrent flood of forgeries, each on a fresh key URL.
    let started = std::time::Instant::now();
    let flood = 3 * BURST as usize;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..flood {
        let (c, d) = (c.clone(), forged_delivery(&sim));
        tasks.spawn(async move { receive(&*c, &d).await });
    }
    let (mut refused, mut paused) = (0, 0);
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Err(ReceiveError::Unauthorized(_)) => refused += 1,
            Err(ReceiveError::Unavailable(m)) if m.contains("paused") => paused += 1,
            other => panic!("a forgery got {other:?}"),
        }
    }
    let refills = (started.elapsed().as_nanos() / REFILL_EVERY.as_nanos()) as usize;
    let forged_fetches = sim.key_fetches() - genuine_fetches;
    assert_eq!(forged_fetches, refused);
    assert!(
        forged_fetches >= BURST as usize && forged_fetches <= BURST as usize + refills,
        "{forged_fetches} fetches for {flood} forgeries"
    );
    assert_eq!(refused + paused, flood);

    // Meanwhile a callback whose key is cached still verifies without a fetch...
    let before = sim.key_fetches();
    receive(&*c, &cached).await.unwrap();
    assert_eq!(sim.key_fetches(), before);
    // ...and one on a new key URL is asked to come back (ConnectWise retries 429).
    if started.elapsed() < REFILL_EVERY {
        let err = receive(&*c, &sim.ticket_delivery(TICKET, "jsmith", "updated"))
            .await
            .unwrap_err();
        assert!(matches!(err, ReceiveError::Unavailable(_)), "{err:?}");
        assert_eq!(sim.key_fetches(), before);
    }
}

#[tokio::test]
async fn a_status_rule_requests_and_updated_by_names_the_actor() {
    let ca = TestCa::generate();
    let sim = seeded(&ca).await;
    let settings = sim.connector_settings(json!({"status": "JIT Requested"}));
    let c = connector_with(&ca, settings, &sim.config().private_key);
    sim.set_status(TICKET, "JIT Requested", "akumar");
    let mut body = sim.ticket_callback_body(TICKET, "akumar", "updated");
    // MemberId disagreeing with the record's _info.updatedBy: the record wins.
    body["MemberId"] = json!("someoneelse");
    let event = receive(&*c, &sim.sign(&body)).await.unwrap();
    assert_eq!(
        event.trigger,
        Trigger::Requested {
            duration_secs: None
        }
    );
    assert_eq!(event.actor, Some(Actor::PsaUser("akumar".into())));
}

#[tokio::test]
async fn a_foreign_key_url_is_refused_without_fetching() {
    let ca = TestCa::generate();
    let sim = seeded(&ca).await;
    let elsewhere = ConnectWiseSim::start(&ca).await;
    let c = connector(&sim, &ca);
    let port = sim.url().port().unwrap();
    let foreign = [
        // Another server that would happily hand out a key.
        elsewhere.key_url(),
        // The very same server under another host name (127.0.0.1 instead of localhost).
        sim.key_url()
            .replace("https://localhost:", "https://127.0.0.1:"),
        // Right host, wrong port.
        sim.key_url()
            .replace(&format!("localhost:{port}"), "localhost:1"),
        // Right host, plain http.
        sim.key_url().replace("https://", "http://"),
        // Right host, another company's key.
        sim.key_url()
            .replace("companyName=contosomsp", "companyName=othermsp"),
        // Right host, no company named at all.
        sim.key_url().replace("companyName=contosomsp&", ""),
        // Credentials smuggled into the URL.
        sim.key_url()
            .replace("https://localhost", "https://u:p@localhost"),
    ];
    for key_url in foreign {
        let mut body = sim.ticket_callback_body(TICKET, "jsmith", "updated");
        body["Metadata"]["key_url"] = json!(key_url);
        let err = receive(&*c, &sim.sign(&body)).await.unwrap_err();
        assert!(
            matches!(err, ReceiveError::Unauthorized(_)),
            "{key_url}: {err:?}"
        );
    }
    assert_eq!(sim.key_fetches(), 0);
    assert_eq!(elsewhere.key_fetches(), 0);

    // No signature header: refused before the key_url is even read.
    let mut unsigned = sim.ticket_delivery(TICKET, "jsmith", "updated");
    unsigned.headers.retain(|(n, _)| n != "x-content-signature");
    assert!(matches!(
        receive(&*c, &unsigned).await,
        Err(ReceiveError::Unauthorized(_))
    ));
    assert_eq!(sim.key_fetches(), 0);
}

#[tokio::test]
async fn a_wrong_signature_or_a_tampered_body_is_refused() {
    let ca = TestCa::generate();
    let sim = seeded(&ca).await;
    let c = connector(&sim, &ca);
    let mut d = sim.ticket_delivery(TICKET, "jsmith", "updated");
    let at = d.body.iter().position(|b| *b == b'"').unwrap();
    d.body.insert(at, b' ');
    let err = receive(&*c, &d).await.unwrap_err();
    assert!(
        matches!(err, ReceiveError::Unauthorized(ref m) if m.contains("does not match")),
        "{err:?}"
    );

    // A key_url the site does not know (404 from the key endpoint).
    let mut body = sim.ticket_callback_body(TICKET, "jsmith", "updated");
    body["Metadata"]["key_url"] = json!(format!(
        "{}v4_6_release//system/callbackkey/index.rails?companyName=contosomsp&id=unknown",
        sim.url()
    ));
    let err = receive(&*c, &sim.sign(&body)).await.unwrap_err();
    assert!(
        matches!(err, ReceiveError::Unauthorized(ref m) if m.contains("404")),
        "{err:?}"
    );
}

#[tokio::test]
async fn notes_are_internal_analysis_only_and_authenticated() {
    let ca = TestCa::generate();
    let sim = seeded(&ca).await;
    let c = connector(&sim, &ca);
    let note = Note {
        title: "JIT access granted".into(),
        body: "Open https://jitgate.example/c/abc within 4 hours.".into(),
    };
    c.post_note(&TicketRef(TICKET.to_string()), &note)
        .await
        .unwrap();
    let notes = sim.notes(TICKET);
    assert_eq!(notes.len(), 1);
    let n = &notes[0];
    assert!(
        n.text.starts_with("JIT access granted\n\n") && n.text.contains("/c/abc"),
        "{:?}",
        n.text
    );
    assert!(n.internal_analysis_flag);
    assert!(!n.detail_description_flag && !n.resolution_flag && !n.customer_updated_flag);
    assert!(!n.process_notifications);
    let accept = sim.requests().last().unwrap().accept.clone().unwrap();
    assert_eq!(
        accept,
        "application/vnd.connectwise.com+json; version=2025.1"
    );

    // Wrong private key: ConnectWise's error body becomes a readable message, without the key.
    let bad = connector_with(
        &ca,
        sim.connector_settings(json!({"custom_field": 12})),
        "wrong-private-key",
    );
    let err = bad
        .post_note(&TicketRef(TICKET.to_string()), &note)
        .await
        .unwrap_err();
    match &err {
        PsaError::Rejected {
            status: 401,
            message,
        } => {
            assert_eq!(message, "Authentication failed. (Unauthorized)");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("wrong-private-key"));

    let missing = c
        .post_note(&TicketRef("999".into()), &note)
        .await
        .unwrap_err();
    assert!(
        matches!(missing, PsaError::NotFound(ref m) if m.contains("999 was not found")),
        "{missing:?}"
    );
}

#[tokio::test]
async fn the_fake_refuses_a_note_without_a_display_flag() {
    let ca = TestCa::generate();
    let sim = seeded(&ca).await;
    let c = sim.config();
    let auth = base64_basic(&format!(
        "{}+{}:{}",
        c.company_id, c.public_key, c.private_key
    ));
    let response = http(&ca)
        .post(format!("{}/service/tickets/{TICKET}/notes", sim.api_url()))
        .header("authorization", auth.clone())
        .header("clientId", &c.client_id)
        .json(&json!({"text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("Please choose where to display the notes"),
        "{body}"
    );
    let readable = jitgate_connectors::connectwise::api::readable_error(&body).unwrap();
    assert!(
        readable.contains("Please choose where to display the notes"),
        "{readable}"
    );

    let no_client_id = http(&ca)
        .get(format!("{}/service/tickets/{TICKET}", sim.api_url()))
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    assert_eq!(no_client_id.status(), 401);
    assert!(sim.notes(TICKET).is_empty());
}

fn base64_basic(credentials: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

#[tokio::test]
async fn lookups_reset_and_throttling() {
    let ca = TestCa::generate();
    let sim = seeded(&ca).await;
    let c = connector(&sim, &ca);
    let ticket = TicketRef(TICKET.to_string());

    assert_eq!(
        c.ticket_company(&ticket).await.unwrap(),
        CompanyRef(COMPANY.to_string())
    );
    assert_eq!(
        c.actor_email("jsmith").await.unwrap(),
        "jsmith@contoso.example"
    );
    assert!(matches!(
        c.actor_email("nobody").await,
        Err(PsaError::NotFound(_))
    ));
    assert!(matches!(
        c.actor_email("x\" or identifier=\"y").await,
        Err(PsaError::NotFound(_))
    ));
    assert!(matches!(
        c.ticket_company(&TicketRef("../1".into())).await,
        Err(PsaError::NotFound(_))
    ));

    sim.set_custom_field(TICKET, "Request JIT", json!(true), "jsmith");
    c.reset_trigger(&ticket).await.unwrap();
    assert_eq!(sim.custom_field(TICKET, "Request JIT"), Some(json!(false)));
    // The whole customFields array went back: the other field kept its value.
    assert_eq!(sim.custom_field(TICKET, "Asset tag"), Some(json!("A-1")));
    // Resetting an already-cleared field is a no-op (no PATCH).
    let patches_before = sim
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    c.reset_trigger(&ticket).await.unwrap();
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count(),
        patches_before
    );

    sim.throttle_next(1, 7);
    let err = c.ticket_company(&ticket).await.unwrap_err();
    assert!(
        matches!(err, PsaError::RateLimited(d) if d == Duration::from_secs(7)),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(c.ticket_company(&ticket).await.is_ok());
}

#[tokio::test]
async fn company_names_come_from_the_company_record() {
    let ca = TestCa::generate();
    let sim = seeded(&ca).await;
    let c = connector(&sim, &ca);
    sim.add_company(COMPANY, "Fabrikam, Inc.");
    assert_eq!(
        c.company_name(&CompanyRef(COMPANY.to_string()))
            .await
            .unwrap(),
        "Fabrikam, Inc."
    );
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.path.ends_with(&format!("/company/companies/{COMPANY}"))),
        "read through the Company API"
    );
    let err = c
        .company_name(&CompanyRef("999999".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PsaError::NotFound(m) if m.contains("Company with id 999999 was not found")),
        "{err:?}"
    );
    assert!(matches!(
        c.company_name(&CompanyRef("../members".into())).await,
        Err(PsaError::NotFound(_))
    ));
}

#[test]
fn settings_errors_name_fields() {
    install_crypto_provider();
    let err = build(
        ConnectorKind::Connectwise,
        &json!({"site": "evil/path", "company_id": "", "public_key": "p", "client_id": "c", "trigger": {}}),
        SecretValues::default(),
        reqwest::Client::new(),
    )
    .err()
    .expect("invalid");
    for f in [
        "settings.site",
        "settings.company_id",
        "settings.trigger",
        "secrets.private_key",
    ] {
        assert!(err.fields.contains_key(f), "{f}: {err:?}");
    }
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

fn rule() -> jitgate_connectors::connectwise::settings::TriggerRule {
    jitgate_connectors::connectwise::settings::TriggerRule {
        custom_field: Some(
            jitgate_connectors::connectwise::settings::CustomFieldSelector::Caption(
                "Request JIT".into(),
            ),
        ),
        status: Some("JIT Requested".into()),
    }
}

fn sample_body() -> Value {
    json!({
        "MessageId": "4f7c0a52-9a1e-4c55-8d5e-1b2f3c4d5e6f", "MemberId": "jsmith", "Action": "updated",
        "Type": "ticket", "ID": 123456,
        "Entity": json!({"id": 123456, "company": {"id": 250}, "status": {"name": "New"},
            "customFields": [{"id": 12, "caption": "Request JIT", "value": true}],
            "_info": {"updatedBy": "jsmith"}}).to_string(),
        "Metadata": {"key_url": "https://na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=contosomsp&id=x"}
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = payload::parse(&bytes, &rule());
        let _ = key_url::key_url_of(&bytes);
    }

    #[test]
    fn parser_survives_wrong_types_anywhere(
        key in prop::sample::select(vec!["MessageId", "MemberId", "Action", "Type", "ID", "Entity", "Metadata"]),
        entity_key in prop::sample::select(vec!["id", "company", "status", "customFields", "_info"]),
        value in any_json(),
        nested in any::<bool>(),
    ) {
        let mut body = sample_body();
        if nested {
            let mut entity: Value = serde_json::from_str(body["Entity"].as_str().unwrap()).unwrap();
            entity[entity_key] = value;
            body["Entity"] = Value::String(entity.to_string());
        } else {
            body[key] = value;
        }
        let _ = payload::parse(&serde_json::to_vec(&body).unwrap(), &rule());
    }

    #[test]
    fn allow_list_never_panics(raw in ".{0,80}", suffix in "[a-z0-9./:?=&@-]{0,40}") {
        let site = SiteHost::parse("na.myconnectwise.net").unwrap();
        let company = jitgate_connectors::connectwise::settings::CompanyId::parse("contosomsp").unwrap();
        let _ = key_url::allow(&raw, &site, &company);
        if let Ok(url) = key_url::allow(&format!("https://na.myconnectwise.net{suffix}"), &site, &company) {
            // Whatever was allowed is on the site.
            prop_assert!(url::Url::parse(url.as_str()).unwrap().host_str() == Some("na.myconnectwise.net"));
        }
        let mut headers = http::HeaderMap::new();
        if let Ok(v) = http::HeaderValue::from_str(&raw) {
            headers.insert(signature::SIGNATURE_HEADER, v);
        }
        let _ = signature::ContentSignature::from_headers(&headers);
    }
}

/// Mutated, truncated and re-typed deliveries through the real `receive` against the fake.
#[test]
fn receive_only_refuses_with_unauthorized_or_malformed() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ca = TestCa::generate();
    let sim = runtime.block_on(seeded(&ca));
    let c = runtime.block_on(async { connector(&sim, &ca) });
    let genuine_only = runtime.block_on(async { connector(&sim, &ca) });
    sim.set_custom_field(TICKET, "Request JIT", json!(true), "jsmith");
    let valid = sim.ticket_delivery(TICKET, "jsmith", "updated");

    // A mutated delivery is a forgery: refused, or (once the connector's budget of fetches for
    // deliveries that did not verify is spent) paused. The fake's key endpoint is up, so it must
    // never look like an outage.
    let refused = |result: &Result<Event, ReceiveError>| match result {
        Err(ReceiveError::Unauthorized(_)) | Err(ReceiveError::Malformed(_)) => true,
        Err(ReceiveError::Unavailable(m)) => m.contains("fetches are paused"),
        Ok(_) => false,
    };
    let check = |d: SignedDelivery| -> Result<(), TestCaseError> {
        let result = runtime.block_on(receive(&*c, &d));
        if result.is_ok() || refused(&result) {
            Ok(())
        } else {
            Err(TestCaseError::fail(format!("{result:?}")))
        }
    };

    proptest!(ProptestConfig::with_cases(48), |(cut in 0usize..2000, flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4))| {
        let mut truncated = valid.clone();
        truncated.body.truncate(cut.min(truncated.body.len()));
        check(truncated)?;
        let mut mutated = valid.clone();
        for (i, b) in &flips {
            let at = i.index(mutated.body.len());
            mutated.body[at] ^= b | 1;
        }
        let result = runtime.block_on(receive(&*c, &mutated));
        prop_assert!(refused(&result), "{result:?}");
    });

    proptest!(ProptestConfig::with_cases(48), |(key in prop::sample::select(vec!["MessageId", "MemberId", "Action", "Type", "ID", "Entity"]), value in any_json())| {
        // Validly signed bodies with a wrong type somewhere: parsed or Malformed, never a panic
        // (on a connector whose fetch budget the forgeries above did not touch).
        let mut body = sim.ticket_callback_body(TICKET, "jsmith", "updated");
        body[key] = value;
        let result = runtime.block_on(receive(&*genuine_only, &sim.sign(&body)));
        prop_assert!(matches!(result, Ok(_) | Err(ReceiveError::Malformed(_))), "{result:?}");
    });

    proptest!(ProptestConfig::with_cases(64), |(bytes in prop::collection::vec(any::<u8>(), 0..256), sig in "[A-Za-z0-9+/=]{0,60}")| {
        let d = SignedDelivery { headers: vec![("x-content-signature".into(), sig)], body: bytes };
        let result = runtime.block_on(receive(&*c, &d));
        prop_assert!(matches!(result, Err(ReceiveError::Unauthorized(_))), "{result:?}");
    });
    assert!(sim.key_fetches() > 0);
}

/// `reset_trigger` answers `Ok` only when the ticket no longer requests: the app re-arms the
/// ticket on `Ok`, so a status trigger still in place must not look reset.
#[tokio::test]
async fn a_status_trigger_is_reset_only_once_the_ticket_leaves_the_status() {
    let ca = TestCa::generate();
    let sim = seeded(&ca).await;
    let settings = sim.connector_settings(json!({"custom_field": 12, "status": "JIT Requested"}));
    let c = connector_with(&ca, settings, &sim.config().private_key);
    let ticket = TicketRef(TICKET.to_string());
    sim.set_custom_field(TICKET, "Request JIT", json!(true), "jsmith");
    sim.set_status(TICKET, "JIT Requested", "jsmith");
    let err = c.reset_trigger(&ticket).await.unwrap_err();
    assert!(
        matches!(err, PsaError::NotConfigured(ref m) if m.contains("JIT Requested")),
        "{err:?}"
    );
    assert_eq!(
        sim.custom_field(TICKET, "Request JIT"),
        Some(json!(false)),
        "the field is cleared anyway"
    );
    sim.set_status(TICKET, "In Progress", "jsmith");
    c.reset_trigger(&ticket).await.unwrap();
}

#[test]
fn the_documented_example_is_a_valid_connector() {
    use super::halopsa::{example_body, example_secrets};
    install_crypto_provider();
    let body = example_body(include_str!("../../../config/examples/connectwise.jsonc"));
    assert_eq!(body["kind"], "connectwise");
    let c = build(
        ConnectorKind::Connectwise,
        &body["settings"],
        example_secrets(&body),
        reqwest::Client::new(),
    )
    .unwrap_or_else(|e| panic!("{:?}", e.fields));
    assert_eq!(c.kind(), ConnectorKind::Connectwise);
}
