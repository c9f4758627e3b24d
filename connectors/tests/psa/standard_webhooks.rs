//! Standard Webhooks: the spec's test vector, the ±5 minute window on both sides, secret
//! rotation, the event schema, signed `jit.note` events to a receiver over real HTTP, and
//! property tests.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use jitgate_connectors::standard_webhooks::{self, SigningSecret, sign, signed_headers};
use jitgate_connectors::{
    Actor, CompanyRef, Connector, ConnectorKind, Delivery, DeliveryKey, Event, Note, PsaError,
    ReceiveError, Secret, SecretValues, TicketRef, Trigger, build,
};
use jitgate_sim::tls::{install_crypto_provider, spawn};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEW_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const FOREIGN_SECRET: &str = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

fn http() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::new()
}

fn secrets(values: &[&str]) -> SecretValues {
    let mut s = SecretValues::default();
    s.0.insert(
        "webhook_secret".into(),
        values.iter().map(|v| Secret::from(*v)).collect(),
    );
    s
}

fn connector(settings: Value, active: &[&str]) -> Arc<dyn Connector> {
    build(
        ConnectorKind::StandardWebhooks,
        &settings,
        secrets(active),
        http(),
    )
    .expect("valid settings")
}

fn secret(s: &str) -> SigningSecret {
    SigningSecret::parse(s).unwrap()
}

fn requested() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": "jit.requested",
        "timestamp": "2026-01-15T14:57:50Z",
        "data": {"ticket": {"id": "T-1042"}, "company": {"id": 29683501}, "technician": {"email": "jane@msp.example"}, "duration": "90m"},
    }))
    .unwrap()
}

async fn receive_at(
    c: &dyn Connector,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Event, ReceiveError> {
    let received_at = OffsetDateTime::from_unix_timestamp(now).unwrap();
    c.receive(Delivery {
        headers,
        body,
        received_at,
    })
    .await
}

#[test]
fn the_published_test_vector_reproduces() {
    assert_eq!(
        sign(
            SECRET,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#
        )
        .unwrap(),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}

/// The worked example in `connectors/STANDARD_WEBHOOKS.md`; the signature was computed
/// independently (Python's hmac module) and must match what this crate produces.
#[tokio::test]
async fn the_documented_example_verifies() {
    let body = r#"{"type":"jit.requested","timestamp":"2026-01-15T14:57:50Z","data":{"ticket":{"id":"T20260115.0042"},"company":{"id":"fabrikam"},"technician":{"email":"jane@contoso-msp.example"},"duration":"2h"}}"#;
    let id = "msg_2Zz4fTgU1uoyGLgC1wP4FQk2eJd";
    let ts = 1768489070;
    let expected = "v1,+5UwDHhmNiExz3YZ8JRjHO8ut/6N66KdvFLE9QUjQ90=";
    assert_eq!(sign(SECRET, id, ts, body.as_bytes()).unwrap(), expected);

    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", id.parse().unwrap());
    headers.insert("webhook-timestamp", ts.to_string().parse().unwrap());
    headers.insert("webhook-signature", expected.parse().unwrap());
    let e = receive_at(
        connector(json!({}), &[SECRET]).as_ref(),
        &headers,
        body.as_bytes(),
        ts + 3,
    )
    .await
    .unwrap();
    assert_eq!(
        e.trigger,
        Trigger::Requested {
            duration_secs: Some(7200)
        }
    );
    assert_eq!(e.ticket, Some(TicketRef("T20260115.0042".into())));
}

#[tokio::test]
async fn a_signed_request_becomes_an_event() {
    let c = connector(json!({}), &[SECRET]);
    let now = 1_768_489_070;
    let headers = signed_headers(&[secret(SECRET)], "msg_1", now, &requested()).unwrap();
    let e = receive_at(c.as_ref(), &headers, &requested(), now)
        .await
        .unwrap();
    assert_eq!(e.delivery_key, DeliveryKey("msg_1".into()));
    assert_eq!(e.kind, "jit.requested");
    assert_eq!(e.ticket, Some(TicketRef("T-1042".into())));
    assert_eq!(e.company, Some(CompanyRef("29683501".into())));
    assert_eq!(e.actor, Some(Actor::Email("jane@msp.example".into())));
    assert_eq!(
        e.trigger,
        Trigger::Requested {
            duration_secs: Some(5400)
        }
    );

    let cancel = serde_json::to_vec(&json!({"type": "jit.cancelled", "data": {"ticket": {"id": 1}, "company": {"id": "c"}, "technician": {"email": "jane@msp.example"}}})).unwrap();
    let headers = signed_headers(&[secret(SECRET)], "msg_2", now, &cancel).unwrap();
    assert_eq!(
        receive_at(c.as_ref(), &headers, &cancel, now)
            .await
            .unwrap()
            .trigger,
        Trigger::Cancelled
    );

    let other = br#"{"type":"ticket.closed","data":{}}"#;
    let headers = signed_headers(&[secret(SECRET)], "msg_3", now, other).unwrap();
    let e = receive_at(c.as_ref(), &headers, other, now).await.unwrap();
    assert_eq!((e.trigger, e.ticket, e.actor), (Trigger::None, None, None));
}

#[tokio::test]
async fn the_timestamp_window_is_five_minutes_on_both_sides() {
    let c = connector(json!({}), &[SECRET]);
    let sent = 1_768_489_070;
    let headers = signed_headers(&[secret(SECRET)], "msg_1", sent, &requested()).unwrap();
    for now in [sent - 300, sent, sent + 300] {
        assert!(
            receive_at(c.as_ref(), &headers, &requested(), now)
                .await
                .is_ok(),
            "{}",
            now - sent
        );
    }
    for now in [sent - 301, sent + 301, sent + 86_400] {
        let err = receive_at(c.as_ref(), &headers, &requested(), now)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ReceiveError::Unauthorized(ref m) if m.contains("webhook-timestamp")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn rotation_accepts_any_active_secret_and_any_listed_signature() {
    let c = connector(json!({}), &[NEW_SECRET, SECRET]);
    let now = 1_768_489_070;
    for signer in [SECRET, NEW_SECRET] {
        let headers = signed_headers(&[secret(signer)], "msg_1", now, &requested()).unwrap();
        assert!(
            receive_at(c.as_ref(), &headers, &requested(), now)
                .await
                .is_ok()
        );
    }
    // A sender mid-rotation lists a signature per key; one match is enough.
    let both = signed_headers(
        &[secret(FOREIGN_SECRET), secret(SECRET)],
        "msg_1",
        now,
        &requested(),
    )
    .unwrap();
    assert!(
        receive_at(c.as_ref(), &both, &requested(), now)
            .await
            .is_ok()
    );

    let foreign = signed_headers(&[secret(FOREIGN_SECRET)], "msg_1", now, &requested()).unwrap();
    let err = receive_at(c.as_ref(), &foreign, &requested(), now)
        .await
        .unwrap_err();
    assert!(matches!(err, ReceiveError::Unauthorized(_)));
    // A secret that was rotated out no longer works.
    let old_only = connector(json!({}), &[NEW_SECRET]);
    let headers = signed_headers(&[secret(SECRET)], "msg_1", now, &requested()).unwrap();
    assert!(
        receive_at(old_only.as_ref(), &headers, &requested(), now)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn tampering_with_id_timestamp_or_body_is_unauthorized() {
    let c = connector(json!({}), &[SECRET]);
    let now = 1_768_489_070;
    let headers = signed_headers(&[secret(SECRET)], "msg_1", now, &requested()).unwrap();

    let mut other_id = headers.clone();
    other_id.insert("webhook-id", "msg_2".parse().unwrap());
    let mut other_ts = headers.clone();
    other_ts.insert("webhook-timestamp", (now + 1).to_string().parse().unwrap());
    let mut body = requested();
    body[10] ^= 1;
    for (h, b) in [
        (&other_id, requested()),
        (&other_ts, requested()),
        (&headers, body),
    ] {
        assert!(matches!(
            receive_at(c.as_ref(), h, &b, now).await,
            Err(ReceiveError::Unauthorized(_))
        ));
    }
}

#[tokio::test]
async fn bad_events_with_good_signatures_are_malformed() {
    let c = connector(json!({}), &[SECRET]);
    let now = 1_768_489_070;
    let body = br#"{"type":"jit.requested","data":{"ticket":{"id":"1"},"company":{"id":"c"},"technician":{"email":"jane@msp.example"},"duration":"forever"}}"#;
    let headers = signed_headers(&[secret(SECRET)], "msg_1", now, body).unwrap();
    let err = receive_at(c.as_ref(), &headers, body, now)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReceiveError::Malformed(ref m) if m.contains("data.duration")),
        "{err}"
    );
}

/// What a note receiver saw.
#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<(HeaderMap, Bytes)>>>);

async fn note_receiver(status: StatusCode) -> (jitgate_sim::tls::SimServer, Inbox) {
    let inbox = Inbox::default();
    let router = axum::Router::new()
        .route(
            "/notes",
            post(
                |State((inbox, status)): State<(Inbox, StatusCode)>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    inbox.0.lock().unwrap().push((headers, body));
                    (status, axum::Json(json!({"message": "receiver says no"})))
                },
            ),
        )
        .with_state((inbox.clone(), status));
    (spawn(router, None).await, inbox)
}

#[tokio::test]
async fn notes_are_signed_jit_note_events_that_a_receiver_can_verify() {
    let (server, inbox) = note_receiver(StatusCode::OK).await;
    let c = connector(
        json!({"note_url": server.join("notes").as_str()}),
        &[NEW_SECRET, SECRET],
    );
    let note = Note {
        title: "JIT admin account".into(),
        body: "Open https://jit.example/c/x <b>now</b>".into(),
    };
    c.post_note(&TicketRef("T-1042".into()), &note)
        .await
        .unwrap();
    c.post_note(&TicketRef("T-1042".into()), &note)
        .await
        .unwrap();

    let received = inbox.0.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    let (headers, body) = &received[0];
    assert_eq!(headers["content-type"], "application/json");
    // Signed with the first (newest) secret only, verifiable by any Standard Webhooks library.
    let now = OffsetDateTime::now_utc().unix_timestamp();
    assert!(standard_webhooks::verify(&[secret(NEW_SECRET)], headers, body, now).is_ok());
    assert!(standard_webhooks::verify(&[secret(SECRET)], headers, body, now).is_err());

    let event: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(event["type"], "jit.note");
    assert_eq!(
        event["data"],
        json!({"ticket": {"id": "T-1042"}, "title": "JIT admin account", "body": note.body})
    );
    // The same note sent twice (a retried job) keeps its webhook-id so receivers can dedupe.
    assert_eq!(headers["webhook-id"], received[1].0["webhook-id"]);
}

#[tokio::test]
async fn note_receiver_errors_are_reported() {
    let (server, inbox) = note_receiver(StatusCode::TOO_MANY_REQUESTS).await;
    let c = connector(
        json!({"note_url": server.join("notes").as_str()}),
        &[SECRET],
    );
    let note = Note {
        title: "t".into(),
        body: "b".into(),
    };
    assert!(matches!(
        c.post_note(&TicketRef("1".into()), &note).await,
        Err(PsaError::RateLimited(_))
    ));

    let (server, _) = note_receiver(StatusCode::BAD_REQUEST).await;
    let c = connector(
        json!({"note_url": server.join("notes").as_str()}),
        &[SECRET],
    );
    let err = c
        .post_note(&TicketRef("1".into()), &note)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PsaError::Rejected { status: 400, message } if message == "receiver says no"),
        "{err:?}"
    );
    assert_eq!(inbox.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn without_note_url_the_psa_calls_are_no_ops_or_not_configured() {
    let c = connector(json!({}), &[SECRET]);
    let ticket = TicketRef("1".into());
    c.post_note(
        &ticket,
        &Note {
            title: "t".into(),
            body: "b".into(),
        },
    )
    .await
    .unwrap();
    c.reset_trigger(&ticket).await.unwrap();
    assert!(matches!(
        c.ticket_company(&ticket).await,
        Err(PsaError::NotConfigured(_))
    ));
    assert!(matches!(
        c.actor_email("x").await,
        Err(PsaError::NotConfigured(_))
    ));
    assert_eq!(c.kind(), ConnectorKind::StandardWebhooks);
    assert!(!c.level_triggered());
}

#[test]
fn settings_and_secrets_are_validated() {
    let err = build(
        ConnectorKind::StandardWebhooks,
        &json!({"note_url": "http://relay.example/x"}),
        secrets(&["plain-password"]),
        http(),
    )
    .err()
    .unwrap();
    assert!(err.fields.contains_key("settings.note_url"));
    assert!(err.fields["secrets.webhook_secret[0]"].contains("whsec_"));
    assert!(!format!("{err:?}").contains("plain-password"));
}

mod properties {
    //! Nothing a sender can put in the headers or body panics the connector; unsigned input is
    //! Unauthorized; signed input is an event or Malformed; signed-then-changed is Unauthorized.

    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_768_489_070;

    use std::sync::LazyLock;

    /// Built once: proptest runs hundreds of cases and receiving needs no network.
    static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    });
    static CONNECTOR: LazyLock<Arc<dyn Connector>> =
        LazyLock::new(|| super::connector(json!({}), &[SECRET]));

    fn run(c: &dyn Connector, headers: &HeaderMap, body: &[u8]) -> Result<Event, ReceiveError> {
        RUNTIME.block_on(receive_at(c, headers, body, NOW))
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
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

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

        #[test]
        fn random_headers_and_bytes_are_unauthorized(
            id in ".{0,40}", ts in ".{0,14}", sig in ".{0,120}", body in prop::collection::vec(any::<u8>(), 0..256),
        ) {
            let mut headers = HeaderMap::new();
            for (name, value) in [("webhook-id", &id), ("webhook-timestamp", &ts), ("webhook-signature", &sig)] {
                if let Ok(v) = axum::http::HeaderValue::from_str(value) { headers.insert(name, v); }
            }
            let c = CONNECTOR.clone();
            let result = run(c.as_ref(), &headers, &body);
            prop_assert!(matches!(result, Err(ReceiveError::Unauthorized(_))), "{result:?}");
        }

        #[test]
        fn signed_random_bytes_are_an_event_or_malformed(body in prop::collection::vec(any::<u8>(), 0..256), id in "[A-Za-z0-9_-]{1,30}") {
            let headers = signed_headers(&[secret(SECRET)], &id, NOW, &body).unwrap();
            let result = run(CONNECTOR.as_ref(), &headers, &body);
            prop_assert!(!matches!(result, Err(ReceiveError::Unauthorized(_))), "{result:?}");
        }

        #[test]
        fn wrong_types_in_any_field_are_an_event_or_malformed(
            field in prop::sample::select(vec!["/type", "/data", "/data/ticket", "/data/ticket/id", "/data/company", "/data/company/id", "/data/technician", "/data/technician/email", "/data/duration", "/timestamp"]),
            with in arb_json(),
        ) {
            let mut event: Value = serde_json::from_slice(&requested()).unwrap();
            if let Some(slot) = event.pointer_mut(field) { *slot = with; }
            let body = serde_json::to_vec(&event).unwrap();
            let headers = signed_headers(&[secret(SECRET)], "msg_1", NOW, &body).unwrap();
            let result = run(CONNECTOR.as_ref(), &headers, &body);
            prop_assert!(!matches!(result, Err(ReceiveError::Unauthorized(_))), "{field}: {result:?}");
        }

        #[test]
        fn truncated_or_mutated_signed_deliveries_are_unauthorized(cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(), bit in 0u8..8) {
            let body = requested();
            let headers = signed_headers(&[secret(SECRET)], "msg_1", NOW, &body).unwrap();
            let c = CONNECTOR.clone();
            prop_assert!(matches!(run(c.as_ref(), &headers, &body[..cut.index(body.len())]), Err(ReceiveError::Unauthorized(_))));
            let mut mutated = body.clone();
            mutated[flip.index(body.len())] ^= 1 << bit;
            prop_assert!(matches!(run(c.as_ref(), &headers, &mutated), Err(ReceiveError::Unauthorized(_))));
            let sig = headers["webhook-signature"].to_str().unwrap().to_string();
            let mut short_sig = headers.clone();
            short_sig.insert("webhook-signature", sig[..cut.index(sig.len())].parse().unwrap());
            prop_assert!(matches!(run(c.as_ref(), &short_sig, &body), Err(ReceiveError::Unauthorized(_))));
        }
    }
}

#[test]
fn the_documented_example_is_a_valid_connector() {
    let body = crate::halopsa::example_body(include_str!(
        "../../../config/examples/standard_webhooks.jsonc"
    ));
    assert_eq!(body["kind"], "standard_webhooks");
    let c = build(
        ConnectorKind::StandardWebhooks,
        &body["settings"],
        crate::halopsa::example_secrets(&body),
        http(),
    )
    .unwrap_or_else(|e| panic!("{:?}", e.fields));
    assert_eq!(c.kind(), ConnectorKind::StandardWebhooks);
}

#[tokio::test]
async fn the_sender_has_no_company_api_so_names_are_unavailable() {
    let c = connector(json!({}), &[SECRET]);
    assert!(matches!(
        c.company_name(&CompanyRef("29683501".into())).await,
        Err(PsaError::NotConfigured(_))
    ));
}
