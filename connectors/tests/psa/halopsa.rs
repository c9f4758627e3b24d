//! HaloPSA: deliveries built by the simulator (Basic and HMAC), the trigger rules, and the API
//! client against the Halo fake over real HTTP (token flow, array bodies, outcome, escaping,
//! 429, readable errors, TLS with a private CA). Property tests at the end.

use jitgate_connectors::{
    Actor, CompanyRef, ConnectorKind, Delivery, DeliveryKey, Event, Note, PsaError, ReceiveError,
    Secret, SecretValues, TicketRef, Trigger, build,
};
use jitgate_sim::halopsa::{
    DeliveryAuth, EmailField, HaloConfig, HaloSim, HmacFormat, NO_OUTCOME_ERROR, SimDelivery,
};
use jitgate_sim::tls::{TestCa, install_crypto_provider};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const CLIENT_ID: &str = "jitgate-api-app";
const CLIENT_SECRET: &str = "client-secret-0123456789";
const USER: &str = "jitgate";
const PASSWORD: &str = "correct-horse-battery-staple";
const OLD_PASSWORD: &str = "previous-password-still-valid";
const HMAC_KEY: &str = "halo-hmac-secret-0123456789";
const JIT_OUTCOME: u64 = 23;
const TRIGGER_FIELD: u64 = 150;

fn http() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::new()
}

fn secrets(pairs: &[(&str, &[&str])]) -> SecretValues {
    let mut s = SecretValues::default();
    for (name, values) in pairs {
        s.0.insert(
            (*name).into(),
            values.iter().map(|v| Secret::from(*v)).collect(),
        );
    }
    s
}

fn basic_secrets() -> SecretValues {
    secrets(&[
        ("webhook_password", &[PASSWORD, OLD_PASSWORD]),
        ("client_secret", &[CLIENT_SECRET]),
    ])
}

fn settings(base_url: &str, trigger: Value) -> Value {
    json!({
        "base_url": base_url,
        "client_id": CLIENT_ID,
        "delivery_auth": {"mode": "basic", "username": USER},
        "trigger": trigger,
    })
}

fn connector(settings: Value, secrets: SecretValues) -> Arc<dyn jitgate_connectors::Connector> {
    build(ConnectorKind::Halopsa, &settings, secrets, http()).expect("valid settings")
}

async fn seeded_sim(config: HaloConfig) -> HaloSim {
    let sim = HaloSim::start(config, None).await;
    sim.seed_ticket(4242, 17);
    sim.set_custom_field(4242, TRIGGER_FIELD, "CFRequestJIT", json!("0"));
    sim.seed_agent(5, "Jane Tech", "jane@msp.example");
    sim
}

async fn receive(
    c: &dyn jitgate_connectors::Connector,
    d: &SimDelivery,
) -> Result<Event, ReceiveError> {
    let headers = d.header_map();
    c.receive(Delivery {
        headers: &headers,
        body: &d.body,
        received_at: time::OffsetDateTime::now_utc(),
    })
    .await
}

fn note(body: &str) -> Note {
    Note {
        title: "JIT admin account".into(),
        body: body.into(),
    }
}

#[tokio::test]
async fn an_action_with_the_jit_outcome_over_basic_auth_is_a_request() {
    let sim = seeded_sim(HaloConfig::new(CLIENT_ID, CLIENT_SECRET)).await;
    let c = connector(
        settings(&sim.url(), json!({"outcome_name": "Request JIT"})),
        basic_secrets(),
    );
    let event = sim.action_added(4242, 5, JIT_OUTCOME, "Request JIT");
    let delivery = event.deliver(&DeliveryAuth::basic(USER, PASSWORD));

    let e = receive(c.as_ref(), &delivery).await.unwrap();
    assert_eq!(e.delivery_key, DeliveryKey(event.id.clone()));
    assert_eq!(e.kind, "Action Added");
    assert_eq!(e.ticket, Some(TicketRef("4242".into())));
    assert_eq!(e.company, Some(CompanyRef("17".into())));
    assert_eq!(e.actor, Some(Actor::PsaUser("5".into())));
    assert_eq!(
        e.trigger,
        Trigger::Requested {
            duration_secs: None
        }
    );

    // A redelivery of the same event carries the same delivery key.
    let again = receive(
        c.as_ref(),
        &event.deliver(&DeliveryAuth::basic(USER, PASSWORD)),
    )
    .await
    .unwrap();
    assert_eq!(again.delivery_key, e.delivery_key);

    // Another outcome is not a request.
    let other = sim
        .action_added(4242, 5, 8, "Private Note")
        .deliver(&DeliveryAuth::basic(USER, PASSWORD));
    assert_eq!(
        receive(c.as_ref(), &other).await.unwrap().trigger,
        Trigger::None
    );
}

#[tokio::test]
async fn wrong_basic_credentials_are_unauthorized_and_old_passwords_still_work() {
    let sim = seeded_sim(HaloConfig::new(CLIENT_ID, CLIENT_SECRET)).await;
    let c = connector(
        settings(&sim.url(), json!({"outcome_id": JIT_OUTCOME})),
        basic_secrets(),
    );
    let event = sim.action_added(4242, 5, JIT_OUTCOME, "Request JIT");

    for (user, password) in [
        ("someone", PASSWORD),
        (USER, "guess"),
        (USER, ""),
        ("", PASSWORD),
    ] {
        let err = receive(
            c.as_ref(),
            &event.deliver(&DeliveryAuth::basic(user, password)),
        )
        .await
        .unwrap_err();
        match err {
            ReceiveError::Unauthorized(message) => {
                assert_eq!(message, "wrong Basic user name or password");
                assert!(!message.contains(PASSWORD));
            }
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }
    let unsigned = SimDelivery {
        headers: vec![],
        ..event.deliver(&DeliveryAuth::basic(USER, PASSWORD))
    };
    assert!(matches!(
        receive(c.as_ref(), &unsigned).await,
        Err(ReceiveError::Unauthorized(_))
    ));

    // Rotation: both active passwords are accepted.
    for password in [PASSWORD, OLD_PASSWORD] {
        assert!(
            receive(
                c.as_ref(),
                &event.deliver(&DeliveryAuth::basic(USER, password))
            )
            .await
            .is_ok()
        );
    }
}

#[tokio::test]
async fn hmac_mode_accepts_every_digest_rendering_and_rotated_keys() {
    let sim = seeded_sim(HaloConfig::new(CLIENT_ID, CLIENT_SECRET)).await;
    let mut s = settings(&sim.url(), json!({"outcome_id": JIT_OUTCOME}));
    s["delivery_auth"] = json!({"mode": "hmac", "header": "X-Jit-Signature"});
    let c = connector(
        s,
        secrets(&[
            (
                "webhook_hmac_secret",
                &["new-hmac-key-0123456789", HMAC_KEY],
            ),
            ("client_secret", &[CLIENT_SECRET]),
        ]),
    );
    let event = sim.action_added(4242, 5, JIT_OUTCOME, "Request JIT");

    for format in [
        HmacFormat::Hex,
        HmacFormat::Base64,
        HmacFormat::PrefixedHex,
        HmacFormat::SpacedPrefixedBase64,
    ] {
        let d = event.deliver(&DeliveryAuth::hmac("x-jit-signature", HMAC_KEY, format));
        assert_eq!(
            receive(c.as_ref(), &d).await.unwrap().trigger,
            Trigger::Requested {
                duration_secs: None
            },
            "{format:?}"
        );

        let mut tampered = d.clone();
        tampered.body = String::from_utf8(d.body.clone())
            .unwrap()
            .replace("4242", "4243")
            .into_bytes();
        assert!(
            matches!(
                receive(c.as_ref(), &tampered).await,
                Err(ReceiveError::Unauthorized(_))
            ),
            "{format:?}"
        );
    }
    let wrong_key = event.deliver(&DeliveryAuth::hmac(
        "x-jit-signature",
        "some-other-key-0123456789",
        HmacFormat::Hex,
    ));
    assert!(matches!(
        receive(c.as_ref(), &wrong_key).await,
        Err(ReceiveError::Unauthorized(_))
    ));
    let wrong_header = event.deliver(&DeliveryAuth::hmac(
        "x-halo-signature",
        HMAC_KEY,
        HmacFormat::Hex,
    ));
    let err = receive(c.as_ref(), &wrong_header).await.unwrap_err();
    assert!(err.to_string().contains("missing x-jit-signature"), "{err}");
}

#[tokio::test]
async fn a_custom_field_trigger_requests_then_is_reset_through_the_api() {
    let sim = seeded_sim(HaloConfig::new(CLIENT_ID, CLIENT_SECRET)).await;
    let c = connector(
        settings(&sim.url(), json!({"custom_field_name": "cfrequestjit"})),
        basic_secrets(),
    );
    let auth = DeliveryAuth::basic(USER, PASSWORD);

    // The field is false: the app re-arms the ticket.
    let cleared = receive(c.as_ref(), &sim.ticket_updated(4242, 5).deliver(&auth))
        .await
        .unwrap();
    assert_eq!(cleared.trigger, Trigger::Cleared);

    sim.set_custom_field(4242, TRIGGER_FIELD, "CFRequestJIT", json!("1"));
    let requested = receive(c.as_ref(), &sim.ticket_updated(4242, 5).deliver(&auth))
        .await
        .unwrap();
    assert_eq!(
        requested.trigger,
        Trigger::Requested {
            duration_secs: None
        }
    );
    // Ticket Updated carries no action: the top-level agent_id is the actor.
    assert_eq!(requested.actor, Some(Actor::PsaUser("5".into())));

    c.reset_trigger(&TicketRef("4242".into())).await.unwrap();
    assert_eq!(sim.ticket(4242).unwrap().customfields[0].value, json!("0"));
    assert!(sim.requests().contains(&"POST /api/tickets".to_string()));
}

#[tokio::test]
async fn reset_finds_a_named_field_on_the_ticket_and_is_a_no_op_for_outcomes() {
    let sim = seeded_sim(HaloConfig::new(CLIENT_ID, CLIENT_SECRET)).await;
    sim.set_custom_field(4242, TRIGGER_FIELD, "CFRequestJIT", json!("1"));

    // Named field, no delivery seen yet: the id is looked up on the ticket.
    let by_name = connector(
        settings(&sim.url(), json!({"custom_field_name": "CFRequestJIT"})),
        basic_secrets(),
    );
    by_name
        .reset_trigger(&TicketRef("4242".into()))
        .await
        .unwrap();
    assert_eq!(sim.ticket(4242).unwrap().customfields[0].value, json!("0"));

    let missing = connector(
        settings(&sim.url(), json!({"custom_field_name": "NoSuchField"})),
        basic_secrets(),
    );
    let err = missing
        .reset_trigger(&TicketRef("4242".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, PsaError::NotConfigured(_)), "{err}");

    assert!(
        by_name.level_triggered(),
        "a custom field stays set: the app latches the ticket"
    );
    let outcome_only = connector(
        settings(&sim.url(), json!({"outcome_id": JIT_OUTCOME})),
        basic_secrets(),
    );
    assert!(
        !outcome_only.level_triggered(),
        "an action is an event: no latch"
    );
    let before = sim.requests().len();
    outcome_only
        .reset_trigger(&TicketRef("4242".into()))
        .await
        .unwrap();
    assert_eq!(
        sim.requests().len(),
        before,
        "an outcome trigger needs no API call"
    );
}

#[tokio::test]
async fn reset_writes_the_unset_value_in_the_form_the_ticket_shows() {
    let sim = seeded_sim(HaloConfig::new(CLIENT_ID, CLIENT_SECRET)).await;
    let c = connector(
        settings(&sim.url(), json!({"custom_field_id": TRIGGER_FIELD})),
        basic_secrets(),
    );
    let ticket = TicketRef("4242".into());
    // Each reading of a ticked checkbox gets its own negative: the simulator refuses a value
    // whose JSON type differs from the one it shows, so a fixed "0" would fail for the others.
    for (set, unset) in [
        (json!("1"), json!("0")),
        (json!(true), json!(false)),
        (json!(1), json!(0)),
        (json!("True"), json!("False")),
    ] {
        sim.set_custom_field(4242, TRIGGER_FIELD, "CFRequestJIT", set.clone());
        c.reset_trigger(&ticket)
            .await
            .unwrap_or_else(|e| panic!("{set}: {e}"));
        assert_eq!(
            sim.ticket(4242).unwrap().customfields[0].value,
            unset,
            "{set}"
        );
    }

    // Already unset: read, nothing written.
    let posts = |sim: &HaloSim| {
        sim.requests()
            .iter()
            .filter(|r| *r == "POST /api/tickets")
            .count()
    };
    let before = posts(&sim);
    c.reset_trigger(&ticket).await.unwrap();
    assert_eq!(posts(&sim), before, "an unset field needs no write");

    // A ticket without the configured field has nothing to reset.
    sim.seed_ticket(4243, 17);
    c.reset_trigger(&TicketRef("4243".into())).await.unwrap();
    assert_eq!(posts(&sim), before);
}

/// A bearer token from the simulator, for calling it the way a careless client would.
async fn sim_token(sim: &HaloSim) -> String {
    let body: Value = http()
        .post(format!("{}/auth/token", sim.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", "all"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_simulator_refuses_custom_field_writes_the_sources_do_not_document() {
    let sim = seeded_sim(HaloConfig::new(CLIENT_ID, CLIENT_SECRET)).await;
    sim.set_custom_field(4242, TRIGGER_FIELD, "CFRequestJIT", json!("1"));
    let token = sim_token(&sim).await;
    let post = |fields: Value| {
        let (url, token) = (format!("{}/api/tickets", sim.url()), token.clone());
        async move {
            let response = http()
                .post(url)
                .bearer_auth(token)
                .json(&json!([{"id": 4242, "customfields": fields}]))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };

    let (status, body) = post(json!([{"name": "CFRequestJIT", "value": "0"}])).await;
    assert_eq!(status, 400);
    assert!(body.contains("must be identified by its id"), "{body}");
    assert_eq!(
        jitgate_connectors::halopsa::readable_error(&body).as_deref(),
        Some("Custom field \"CFRequestJIT\" must be identified by its id"),
        "Halo's bare-string error shape"
    );
    for wrong_type in [json!(false), json!(0)] {
        let (status, body) = post(json!([{"id": TRIGGER_FIELD, "value": wrong_type}])).await;
        assert_eq!(status, 400, "{wrong_type}");
        assert!(body.contains("Invalid value"), "{body}");
    }
    assert_eq!(sim.ticket(4242).unwrap().customfields[0].value, json!("1"));

    let (status, body) = post(json!([{"id": TRIGGER_FIELD, "value": "0"}])).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(sim.ticket(4242).unwrap().customfields[0].value, json!("0"));
}

#[tokio::test]
async fn notes_use_a_cached_token_an_array_body_the_outcome_and_escaped_html() {
    let sim = seeded_sim(HaloConfig::new(CLIENT_ID, CLIENT_SECRET).with_tenant("msp")).await;
    let mut s = settings(&sim.url(), json!({"outcome_id": JIT_OUTCOME}));
    s["tenant"] = json!("msp");
    s["note"] = json!({"outcome_id": 31});
    let c = connector(s, basic_secrets());
    let ticket = TicketRef("4242".into());

    c.post_note(
        &ticket,
        &note("Open https://jit.example/c/tok\n<script>alert(1)</script>"),
    )
    .await
    .unwrap();
    c.post_note(&ticket, &note("second")).await.unwrap();

    assert_eq!(sim.tokens_issued(), 1, "the token is cached between calls");
    let requests = sim.requests();
    assert_eq!(
        requests[..2],
        [
            "GET /api/authinfo".to_string(),
            "POST /auth/token".to_string()
        ]
    );

    let actions = sim.actions(4242);
    assert_eq!(actions.len(), 2);
    let first = &actions[0];
    assert_eq!(first.outcome_id, 31);
    assert!(first.hiddenfromuser);
    assert!(
        first
            .note_html
            .starts_with("<p><strong>JIT admin account</strong></p>"),
        "{}",
        first.note_html
    );
    assert!(
        first
            .note_html
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        first.note_html
    );
    assert!(!first.note_html.contains("<script>"));
    assert!(
        first
            .note_html
            .contains("<a href=\"https://jit.example/c/tok\""),
        "{}",
        first.note_html
    );
    assert_eq!(first.raw["ticket_id"], json!(4242));
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once() {
    let sim = seeded_sim(HaloConfig::new(CLIENT_ID, CLIENT_SECRET)).await;
    let c = connector(
        settings(&sim.url(), json!({"outcome_id": JIT_OUTCOME})),
        basic_secrets(),
    );
    let ticket = TicketRef("4242".into());
    c.post_note(&ticket, &note("one")).await.unwrap();
    sim.revoke_tokens();
    c.post_note(&ticket, &note("two")).await.unwrap();
    assert_eq!(sim.tokens_issued(), 2);
    assert_eq!(sim.notes(4242).len(), 2);
}

#[tokio::test]
async fn short_lived_tokens_are_refreshed_before_they_expire() {
    let sim = seeded_sim(
        HaloConfig::new(CLIENT_ID, CLIENT_SECRET).with_token_lifetime(Duration::from_secs(2)),
    )
    .await;
    let c = connector(
        settings(&sim.url(), json!({"outcome_id": JIT_OUTCOME})),
        basic_secrets(),
    );
    c.post_note(&TicketRef("4242".into()), &note("one"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.post_note(&TicketRef("4242".into()), &note("two"))
        .await
        .unwrap();
    assert_eq!(
        sim.tokens_issued(),
        2,
        "a 2 s token is used for at most half its life"
    );
}

#[tokio::test]
async fn the_auth_server_falls_back_to_base_auth_or_is_configured() {
    let sim = seeded_sim(HaloConfig::new(CLIENT_ID, CLIENT_SECRET).without_authinfo()).await;
    let c = connector(
        settings(&sim.url(), json!({"outcome_id": JIT_OUTCOME})),
        basic_secrets(),
    );
    c.post_note(&TicketRef("4242".into()), &note("fallback"))
        .await
        .unwrap();

    // With both the auth server and the tenant configured there is nothing to discover (without
    // a tenant, authinfo is read for its tenant_id, as Halo's own API module does).
    let mut s = settings(&sim.url(), json!({"outcome_id": JIT_OUTCOME}));
    s["auth_url"] = json!(format!("{}/auth/", sim.url()));
    s["tenant"] = json!("msp");
    let configured = connector(s, basic_secrets());
    let before = sim
        .requests()
        .iter()
        .filter(|r| r.contains("authinfo"))
        .count();
    configured
        .post_note(&TicketRef("4242".into()), &note("configured"))
        .await
        .unwrap();
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.contains("authinfo"))
            .count(),
        before,
        "no discovery when configured"
    );
    assert_eq!(sim.notes(4242).len(), 2);
}

#[tokio::test]
async fn token_errors_are_readable_and_never_show_the_secret() {
    let sim = seeded_sim(HaloConfig::new(CLIENT_ID, CLIENT_SECRET).with_tenant("msp")).await;
    let ticket = TicketRef("4242".into());

    // Hosted Halo with a wrong tenant: Halo's refusal, made readable.
    let mut wrong = settings(&sim.url(), json!({"outcome_id": JIT_OUTCOME}));
    wrong["tenant"] = json!("not-our-tenant");
    let wrong_tenant = connector(wrong, basic_secrets());
    let err = wrong_tenant
        .post_note(&ticket, &note("x"))
        .await
        .unwrap_err();
    let PsaError::Rejected {
        status: 400,
        message,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("Invalid tenant") && message.contains("token request refused"),
        "{message}"
    );

    let mut s = settings(&sim.url(), json!({"outcome_id": JIT_OUTCOME}));
    s["tenant"] = json!("msp");
    let wrong_secret = connector(
        s,
        secrets(&[
            ("webhook_password", &[PASSWORD]),
            ("client_secret", &["not-the-secret"]),
        ]),
    );
    let err = wrong_secret
        .post_note(&ticket, &note("x"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("401") && text.contains("Invalid client credentials"),
        "{text}"
    );
    assert!(!text.contains("not-the-secret"));
    assert!(sim.notes(4242).is_empty());
}

#[tokio::test]
async fn throttling_becomes_rate_limited_with_the_servers_delay() {
    let sim = seeded_sim(HaloConfig::new(CLIENT_ID, CLIENT_SECRET)).await;
    let c = connector(
        settings(&sim.url(), json!({"outcome_id": JIT_OUTCOME})),
        basic_secrets(),
    );
    let ticket = TicketRef("4242".into());
    c.post_note(&ticket, &note("warm the token")).await.unwrap();

    sim.throttle_next(1, Some(7));
    let err = c.post_note(&ticket, &note("x")).await.unwrap_err();
    assert!(
        matches!(err, PsaError::RateLimited(d) if d == Duration::from_secs(7)),
        "{err:?}"
    );
    assert!(err.is_transient());

    sim.throttle_next(1, None);
    let err = c.ticket_company(&ticket).await.unwrap_err();
    assert!(
        matches!(err, PsaError::RateLimited(d) if d == jitgate_connectors::psa_http::DEFAULT_RETRY_AFTER),
        "{err:?}"
    );

    sim.fail_next(1, 503);
    let err = c.post_note(&ticket, &note("x")).await.unwrap_err();
    assert!(
        matches!(&err, PsaError::Unavailable(m) if m.contains("503") && m.contains("Simulated failure")),
        "{err:?}"
    );
    assert!(err.is_transient());

    c.post_note(&ticket, &note("after")).await.unwrap();
    assert_eq!(sim.notes(4242).len(), 2);
}

#[tokio::test]
async fn lookups_read_the_client_and_either_email_field() {
    let sim = seeded_sim(HaloConfig::new(CLIENT_ID, CLIENT_SECRET)).await;
    sim.seed_agent_with(6, "Sam Tech", "sam@msp.example", EmailField::EmailAddress);
    let c = connector(
        settings(&sim.url(), json!({"outcome_id": JIT_OUTCOME})),
        basic_secrets(),
    );

    assert_eq!(
        c.ticket_company(&TicketRef("4242".into())).await.unwrap(),
        CompanyRef("17".into())
    );
    assert_eq!(c.actor_email("5").await.unwrap(), "jane@msp.example");
    assert_eq!(c.actor_email("6").await.unwrap(), "sam@msp.example");

    let err = c.actor_email("99").await.unwrap_err();
    assert!(
        matches!(&err, PsaError::NotFound(m) if m.contains("Agent 99 not found")),
        "{err:?}"
    );
    let err = c
        .ticket_company(&TicketRef("999".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PsaError::NotFound(m) if m.contains("Ticket 999 not found")),
        "{err:?}"
    );
    let err = c
        .post_note(&TicketRef("999".into()), &note("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, PsaError::NotFound(_)), "{err:?}");
    assert!(matches!(
        c.actor_email("abc").await,
        Err(PsaError::NotFound(_))
    ));
}

#[tokio::test]
async fn company_names_come_from_the_client_record() {
    let sim = seeded_sim(HaloConfig::new(CLIENT_ID, CLIENT_SECRET)).await;
    sim.seed_client(17, "Fabrikam, Inc.");
    let c = connector(
        settings(&sim.url(), json!({"outcome_id": JIT_OUTCOME})),
        basic_secrets(),
    );
    assert_eq!(
        c.company_name(&CompanyRef("17".into())).await.unwrap(),
        "Fabrikam, Inc."
    );
    assert!(sim.requests().contains(&"GET /api/Client/17".to_string()));
    let err = c.company_name(&CompanyRef("18".into())).await.unwrap_err();
    assert!(
        matches!(&err, PsaError::NotFound(m) if m.contains("Client 18 not found")),
        "{err:?}"
    );
    assert!(matches!(
        c.company_name(&CompanyRef("abc".into())).await,
        Err(PsaError::NotFound(_))
    ));
}

#[tokio::test]
async fn the_fake_enforces_halos_contract() {
    install_crypto_provider();
    let sim = seeded_sim(HaloConfig::new(CLIENT_ID, CLIENT_SECRET)).await;
    let client = reqwest::Client::new();
    let no_token = client
        .post(format!("{}/api/actions", sim.url()))
        .json(&json!([]))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);

    let token: Value = client
        .post(format!("{}/auth/token", sim.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", "all"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = token["access_token"].as_str().unwrap();
    let post = |body: Value| {
        client
            .post(format!("{}/api/actions", sim.url()))
            .bearer_auth(bearer)
            .json(&body)
            .send()
    };

    let no_outcome = post(json!([{"ticket_id": 4242, "note_html": "x"}]))
        .await
        .unwrap();
    assert_eq!(no_outcome.status(), 400);
    assert_eq!(
        no_outcome.json::<Value>().await.unwrap(),
        json!(NO_OUTCOME_ERROR)
    );
    let not_array = post(json!({"ticket_id": 4242, "outcome_id": 7}))
        .await
        .unwrap();
    assert_eq!(not_array.status(), 400);
    assert!(sim.notes(4242).is_empty());

    let wrong_scope = client
        .post(format!("{}/auth/token", sim.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", "read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_scope.status(), 400);
}

#[tokio::test]
async fn works_over_https_with_a_private_ca() {
    install_crypto_provider();
    let ca = TestCa::generate();
    let sim = HaloSim::start(HaloConfig::new(CLIENT_ID, CLIENT_SECRET), Some(&ca)).await;
    sim.seed_ticket(7, 3);
    assert!(sim.url().starts_with("https://localhost:"));
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let c = build(
        ConnectorKind::Halopsa,
        &settings(&sim.url(), json!({"outcome_id": JIT_OUTCOME})),
        basic_secrets(),
        http,
    )
    .unwrap();
    c.post_note(&TicketRef("7".into()), &note("over TLS"))
        .await
        .unwrap();
    assert_eq!(
        sim.notes(7),
        vec!["<p><strong>JIT admin account</strong></p><p>over TLS</p>".to_string()]
    );
}

#[test]
fn settings_are_validated_into_field_messages() {
    let err = build(
        ConnectorKind::Halopsa,
        &json!({"base_url": "http://halo.example", "client_id": "x", "delivery_auth": {"mode": "basic", "username": "u"}, "trigger": {}}),
        SecretValues::default(),
        http(),
    )
    .err()
    .unwrap();
    for field in [
        "settings.base_url",
        "settings.trigger",
        "secrets.webhook_password",
        "secrets.client_secret",
    ] {
        assert!(err.fields.contains_key(field), "{field}: {:?}", err.fields);
    }
}

mod properties {
    //! Whatever arrives, the HaloPSA connector neither panics nor accepts what it should not:
    //! random bytes and headers are Unauthorized; with valid credentials, any body is either an
    //! event or Malformed; a signed body that was changed is Unauthorized.

    use super::*;
    use proptest::prelude::*;

    use std::sync::LazyLock;

    /// Built once: proptest runs hundreds of cases and receiving needs no network.
    static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    });
    static BASIC: LazyLock<Arc<dyn jitgate_connectors::Connector>> =
        LazyLock::new(|| build_for("basic"));
    static HMAC: LazyLock<Arc<dyn jitgate_connectors::Connector>> =
        LazyLock::new(|| build_for("hmac"));

    fn connector_for(mode: &str) -> Arc<dyn jitgate_connectors::Connector> {
        if mode == "hmac" {
            HMAC.clone()
        } else {
            BASIC.clone()
        }
    }

    fn build_for(mode: &str) -> Arc<dyn jitgate_connectors::Connector> {
        let mut s = settings(
            "https://halo.example",
            json!({"outcome_id": JIT_OUTCOME, "custom_field_id": TRIGGER_FIELD}),
        );
        if mode == "hmac" {
            s["delivery_auth"] = json!({"mode": "hmac"});
        }
        connector(
            s,
            secrets(&[
                ("webhook_password", &[PASSWORD]),
                ("webhook_hmac_secret", &[HMAC_KEY]),
                ("client_secret", &[CLIENT_SECRET]),
            ]),
        )
    }

    fn valid_payload() -> Value {
        let ticket = jitgate_sim::halopsa::SimTicket {
            id: 4242,
            summary: "s".into(),
            client_id: 17,
            client_name: "c".into(),
            agent_id: 1,
            status_id: 2,
            customfields: vec![jitgate_sim::halopsa::SimCustomField {
                id: TRIGGER_FIELD,
                name: "CF".into(),
                value: json!("1"),
            }],
        };
        jitgate_sim::halopsa::HaloEvent::action_added(ticket, 5, JIT_OUTCOME, "Request JIT")
            .payload()
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null)),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Every path (object keys and array indexes) in `v`.
    fn paths(v: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, c)| {
                let mut p = prefix.clone();
                p.push(k.clone());
                out.push(p.clone());
                paths(c, p, out);
            }),
            Value::Array(a) => a.iter().enumerate().for_each(|(i, c)| {
                let mut p = prefix.clone();
                p.push(i.to_string());
                out.push(p.clone());
                paths(c, p, out);
            }),
            _ => {}
        }
    }

    fn replace(v: &mut Value, path: &[String], with: Value) {
        let pointer = format!("/{}", path.join("/"));
        if let Some(slot) = v.pointer_mut(&pointer) {
            *slot = with;
        }
    }

    fn run(c: &dyn jitgate_connectors::Connector, d: &SimDelivery) -> Result<Event, ReceiveError> {
        RUNTIME.block_on(receive(c, d))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

        #[test]
        fn random_bytes_and_headers_are_unauthorized(
            body in prop::collection::vec(any::<u8>(), 0..512),
            auth in ".{0,80}",
            sig in ".{0,100}",
        ) {
            let mut headers = vec![];
            if let Ok(v) = axum::http::HeaderValue::from_str(&auth) { headers.push(("authorization".to_string(), v.to_str().unwrap_or_default().to_string())); }
            if let Ok(v) = axum::http::HeaderValue::from_str(&sig) { headers.push(("x-halo-signature".to_string(), v.to_str().unwrap_or_default().to_string())); }
            let d = SimDelivery { id: "x".into(), headers, body };
            for mode in ["basic", "hmac"] {
                let result = run(connector_for(mode).as_ref(), &d);
                prop_assert!(matches!(result, Err(ReceiveError::Unauthorized(_))), "{mode}: {result:?}");
            }
        }

        #[test]
        fn any_body_with_valid_basic_credentials_is_an_event_or_malformed(body in prop::collection::vec(any::<u8>(), 0..512)) {
            let d = jitgate_sim::halopsa::sign_delivery("x", body, &DeliveryAuth::basic(USER, PASSWORD));
            let result = run(connector_for("basic").as_ref(), &d);
            prop_assert!(!matches!(result, Err(ReceiveError::Unauthorized(_))), "{result:?}");
        }

        #[test]
        fn wrong_types_anywhere_are_an_event_or_malformed(pick in any::<prop::sample::Index>(), with in arb_json()) {
            let mut payload = valid_payload();
            let mut all = vec![];
            paths(&payload, vec![], &mut all);
            let path = pick.get(&all).clone();
            replace(&mut payload, &path, with);
            let body = serde_json::to_vec(&payload).unwrap();
            for mode in ["basic", "hmac"] {
                let auth = if mode == "basic" { DeliveryAuth::basic(USER, PASSWORD) } else { DeliveryAuth::hmac("x-halo-signature", HMAC_KEY, HmacFormat::Hex) };
                let d = jitgate_sim::halopsa::sign_delivery("x", body.clone(), &auth);
                let result = run(connector_for(mode).as_ref(), &d);
                prop_assert!(!matches!(result, Err(ReceiveError::Unauthorized(_))), "{path:?}: {result:?}");
            }
        }

        #[test]
        fn truncated_or_mutated_signed_bodies_are_unauthorized(cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(), bit in 0u8..8) {
            let body = serde_json::to_vec(&valid_payload()).unwrap();
            let signed = jitgate_sim::halopsa::sign_delivery("x", body.clone(), &DeliveryAuth::hmac("x-halo-signature", HMAC_KEY, HmacFormat::Base64));
            let c = connector_for("hmac");

            let truncated = SimDelivery { body: body[..cut.index(body.len())].to_vec(), ..signed.clone() };
            prop_assert!(matches!(run(c.as_ref(), &truncated), Err(ReceiveError::Unauthorized(_))));

            let mut mutated = signed.clone();
            mutated.body[flip.index(body.len())] ^= 1 << bit;
            prop_assert!(matches!(run(c.as_ref(), &mutated), Err(ReceiveError::Unauthorized(_))));

            prop_assert!(run(c.as_ref(), &signed).is_ok());
        }
    }
}

/// `config/examples/*.jsonc` without its `//` comments, as the admin API would receive it.
pub(crate) fn example_body(jsonc: &str) -> Value {
    let mut out = String::new();
    for line in jsonc.lines() {
        let (mut in_string, mut escaped, mut cut) = (false, false, line.len());
        for (i, c) in line.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if in_string => escaped = true,
                '"' => in_string = !in_string,
                '/' if !in_string && line[i..].starts_with("//") => {
                    cut = i;
                    break;
                }
                _ => {}
            }
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    serde_json::from_str(&out).expect("the example is JSON once comments are removed")
}

/// The example's secrets (a string or an array of strings per name) as `build` receives them.
pub(crate) fn example_secrets(body: &Value) -> SecretValues {
    let mut values = SecretValues::default();
    for (name, v) in body["secrets"].as_object().expect("secrets object") {
        let list = match v {
            Value::String(s) => vec![Secret::from(s.clone())],
            Value::Array(items) => items
                .iter()
                .map(|s| Secret::from(s.as_str().expect("string")))
                .collect(),
            other => panic!("secret {name} is {other}"),
        };
        values.0.insert(name.clone(), list);
    }
    values
}

#[test]
fn the_documented_example_is_a_valid_connector() {
    let body = example_body(include_str!("../../../config/examples/halopsa.jsonc"));
    assert_eq!(body["kind"], "halopsa");
    let c = build(
        ConnectorKind::Halopsa,
        &body["settings"],
        example_secrets(&body),
        http(),
    )
    .unwrap_or_else(|e| panic!("{:?}", e.fields));
    assert_eq!(c.kind(), ConnectorKind::Halopsa);
}
