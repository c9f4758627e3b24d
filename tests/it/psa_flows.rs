//! The flow through each PSA other than ConnectWise: Autotask, HaloPSA and Standard Webhooks,
//! each against its simulator (or, for Standard Webhooks, signed requests and a note receiver).

use crate::world::{
    Sims, TENANT, WorldOptions, add_connector, eventually, map_company, setup_customer,
};
use jitgate_connectors::standard_webhooks::{SigningSecret, signed_headers};
use jitgate_sim::autotask::{AutotaskSim, SeedTicket, SignatureForm};
use jitgate_sim::halopsa::{DeliveryAuth, HaloConfig, HaloSim};
use serde_json::json;
use std::time::Duration;

async fn post(
    app: &crate::helpers::TestApp,
    connector: &str,
    headers: &reqwest::header::HeaderMap,
    body: Vec<u8>,
) -> u16 {
    let resp = app
        .http
        .post(format!("{}/webhooks/{connector}", app.url))
        .headers(headers.clone())
        .body(body)
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

#[tokio::test]
async fn autotask_udf_request_gets_an_account_and_an_internal_note() {
    let sims = Sims::start().await;
    let app = sims.spawn_app(&WorldOptions::default()).await;
    let api = app.api();
    let (customer, _) = setup_customer(&api, true).await;
    let at = AutotaskSim::start(Some(&sims.ca)).await;
    let connector = add_connector(
        &api,
        json!({"kind": "autotask", "name": "Autotask",
            "settings": at.connector_settings(json!({"udf": "Request JIT"})), "secrets": at.connector_secrets()}),
    )
    .await;
    map_company(&api, &connector, "29683501", &customer).await;
    at.add_resource(29682885, "alice@msp.example");
    at.add_ticket(SeedTicket::new(351181, 29683501).with_udf("Request JIT", Some("false")));
    at.set_udf(351181, "Request JIT", Some("true"));
    let delivery = at.ticket_delivery(351181, 29682885, "Update", SignatureForm::RawBytes);
    assert_eq!(
        post(
            &app,
            &connector,
            &delivery.header_map(),
            delivery.body.clone()
        )
        .await,
        202
    );
    let notes = eventually("the Autotask note", Duration::from_secs(30), || {
        let n = at.notes(351181);
        async move { (!n.is_empty()).then_some(n) }
    })
    .await;
    assert!(
        format!("{:?}", notes[0]).contains("alice-jit@fabrikam.com"),
        "{:?}",
        notes[0]
    );
    assert_eq!(sims.graph.users(TENANT).len(), 1);
}

#[tokio::test]
async fn halopsa_outcome_request_gets_an_account_and_a_hidden_note() {
    let sims = Sims::start().await;
    let app = sims.spawn_app(&WorldOptions::default()).await;
    let api = app.api();
    let (customer, _) = setup_customer(&api, true).await;
    let halo = HaloSim::start(
        HaloConfig::new("jitgate-client", "halo-client-secret-value").with_tenant("msp"),
        Some(&sims.ca),
    )
    .await;
    let password = "halo-webhook-password-0042";
    let connector = add_connector(
        &api,
        json!({"kind": "halopsa", "name": "HaloPSA",
            "settings": {"base_url": halo.url(), "tenant": "msp", "client_id": "jitgate-client",
                "delivery_auth": {"mode": "basic", "username": "halo"},
                "trigger": {"outcome_id": 50}, "note": {"outcome_id": 7}},
            "secrets": {"webhook_password": [password], "client_secret": "halo-client-secret-value"}}),
    )
    .await;
    map_company(&api, &connector, "17", &customer).await;
    halo.seed_ticket(4242, 17);
    halo.seed_agent(3, "Alice Smith", "alice@msp.example");
    let delivery = halo
        .action_added(4242, 3, 50, "Request JIT")
        .deliver(&DeliveryAuth::basic("halo", password));
    assert_eq!(
        post(
            &app,
            &connector,
            &delivery.header_map(),
            delivery.body.clone()
        )
        .await,
        202
    );
    let notes = eventually("the Halo note", Duration::from_secs(30), || {
        let n = halo.notes(4242);
        async move { (!n.is_empty()).then_some(n) }
    })
    .await;
    assert!(notes[0].contains("alice-jit@fabrikam.com"), "{notes:?}");
    let wrong = halo
        .action_added(4242, 3, 50, "Request JIT")
        .deliver(&DeliveryAuth::basic(
            "halo",
            "wrong-password-wrong-password",
        ));
    assert_eq!(
        post(&app, &connector, &wrong.header_map(), wrong.body).await,
        401
    );
}

#[tokio::test]
async fn standard_webhooks_request_then_cancel_ends_the_grant_early() {
    let sims = Sims::start().await;
    let app = sims.spawn_app(&WorldOptions::default()).await;
    let api = app.api();
    let (customer, _) = setup_customer(&api, true).await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let connector = add_connector(
        &api,
        json!({"kind": "standard_webhooks", "name": "Rewst", "settings": {}, "secrets": {"webhook_secret": [secret]}}),
    )
    .await;
    map_company(&api, &connector, "fabrikam", &customer).await;
    let send = |kind: &'static str, id: &'static str| {
        let body = serde_json::to_vec(&json!({"type": kind, "timestamp": "2026-11-26T12:00:00Z",
            "data": {"ticket": {"id": "T-1042"}, "company": {"id": "fabrikam"}, "technician": {"email": "alice@msp.example"}}}))
        .unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let headers =
            signed_headers(&[SigningSecret::parse(secret).unwrap()], id, now, &body).unwrap();
        (headers, body)
    };
    let (headers, body) = send("jit.requested", "msg_request_1");
    assert_eq!(post(&app, &connector, &headers, body).await, 202);
    let user = eventually("the account", Duration::from_secs(30), || {
        let u = sims
            .graph
            .users(TENANT)
            .into_iter()
            .find(|u| u.account_enabled);
        async move { u }
    })
    .await;
    let (headers, body) = send("jit.cancelled", "msg_cancel_1");
    assert_eq!(post(&app, &connector, &headers, body).await, 202);
    eventually("the grant to end", Duration::from_secs(30), || {
        let u = sims.graph.user(TENANT, &user.id).unwrap();
        async move { (!u.account_enabled).then_some(()) }
    })
    .await;
    let grant = eventually(
        "the grant to be marked ended",
        Duration::from_secs(10),
        || {
            let api = api.clone();
            async move {
                let g = api.admin("GET", "/api/v1/grants", None).await[0].clone();
                g["ended_at"].is_i64().then_some(g)
            }
        },
    )
    .await;
    assert_eq!(grant["end_reason"], "cancelled");
    // A stale timestamp is refused.
    let body = b"{}".to_vec();
    let old = time::OffsetDateTime::now_utc().unix_timestamp() - 3600;
    let headers = signed_headers(
        &[SigningSecret::parse(secret).unwrap()],
        "msg_old",
        old,
        &body,
    )
    .unwrap();
    assert_eq!(post(&app, &connector, &headers, body).await, 401);
}

/// ConnectWise may send a summarized callback whose `Entity` lacks the custom fields: it is
/// accepted as an undecided request, and the job reads the ticket before deciding. A set trigger
/// still leads to an account and a note; an unset one closes quietly, without a note.
#[tokio::test]
async fn a_summarized_connectwise_callback_still_leads_to_a_request_and_a_grant() {
    use crate::world::{COMPANY, TRIGGER_FIELD, World};
    use jitgate_sim::connectwise::SeedTicket;
    let w = World::new().await;
    w.cw.add_ticket(SeedTicket::new(2001, COMPANY).with_custom_field(
        12,
        TRIGGER_FIELD,
        json!(false),
    ));
    w.cw.add_ticket(SeedTicket::new(2002, COMPANY).with_custom_field(
        12,
        TRIGGER_FIELD,
        json!(false),
    ));

    // Not requested: accepted (the payload cannot tell), then closed quietly by the job.
    let quiet = w.cw.summarized_ticket_delivery(2002, "alice", "updated");
    assert_eq!(w.deliver(&quiet.headers, quiet.body).await, 202);

    w.cw.set_custom_field(2001, TRIGGER_FIELD, json!(true), "alice");
    let summarized = w.cw.summarized_ticket_delivery(2001, "alice", "updated");
    assert!(
        !String::from_utf8_lossy(&summarized.body).contains("customFields"),
        "the simulator sends the summarized form"
    );
    assert_eq!(w.deliver(&summarized.headers, summarized.body).await, 202);
    let notes = w.notes(2001, 1).await;
    assert!(notes[0].text.contains(&w.jit_upn()), "{}", notes[0].text);
    assert_eq!(w.graph.users(TENANT).len(), 1);

    let log = w
        .app
        .admin(
            "GET",
            &format!(
                "/api/v1/connectors/{}/deliveries?outcome=accepted",
                w.connector_id
            ),
            None,
        )
        .await;
    assert!(
        log.to_string()
            .contains("the ticket is read before deciding"),
        "the log says the delivery was undecided: {log}"
    );
    // The unrequested ticket's request closes without a note.
    eventually(
        "the quiet request closed",
        Duration::from_secs(30),
        || async {
            let grants = w.grants().await;
            (grants.as_array().map(Vec::len) == Some(1)).then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        w.cw.notes(2002).is_empty(),
        "no note on a ticket that did not ask"
    );
}

/// An Autotask list UDF may reach the webhook as the list item's id ("2") rather than its label
/// ("Yes"). Before the UDF's list is known such a delivery is decided from the ticket in the job
/// (which reads the list and caches it); afterwards the id is matched at once, and the UDF is
/// reset with the id of its "No" item (the simulator refuses labels for list UDFs).
#[tokio::test]
async fn an_autotask_list_udf_sent_as_its_item_id_still_requests() {
    let sims = Sims::start().await;
    let app = sims.spawn_app(&WorldOptions::default()).await;
    let api = app.api();
    let (customer, _) = setup_customer(&api, true).await;
    let at = AutotaskSim::start(Some(&sims.ca)).await;
    at.define_list_udf("Request JIT", &[(1, "No"), (2, "Yes")]);
    let connector = add_connector(
        &api,
        json!({"kind": "autotask", "name": "Autotask",
            "settings": at.connector_settings(json!({"udf": "Request JIT", "reset_value": "No"})),
            "secrets": at.connector_secrets()}),
    )
    .await;
    map_company(&api, &connector, "29683501", &customer).await;
    at.add_resource(29682885, "alice@msp.example");
    at.add_ticket(SeedTicket::new(351181, 29683501).with_udf("Request JIT", Some("1")));
    at.add_ticket(SeedTicket::new(351182, 29683501).with_udf("Request JIT", Some("1")));

    at.set_udf(351181, "Request JIT", Some("2"));
    let by_id = at.ticket_delivery(351181, 29682885, "Update", SignatureForm::RawBytes);
    assert!(String::from_utf8_lossy(&by_id.body).contains(r#""Request JIT":"2""#));
    assert_eq!(
        post(&app, &connector, &by_id.header_map(), by_id.body.clone()).await,
        202
    );
    let notes = eventually("the Autotask note", Duration::from_secs(30), || {
        let n = at.notes(351181);
        async move { (!n.is_empty()).then_some(n) }
    })
    .await;
    assert!(format!("{:?}", notes[0]).contains("alice-jit@fabrikam.com"));
    assert_eq!(
        at.udf_definition_reads(),
        1,
        "the list is read once, in the job"
    );
    eventually(
        "the UDF reset to its No item",
        Duration::from_secs(30),
        || {
            let v = at.udf(351181, "Request JIT");
            async move { (v == Some(Some("1".into()))).then_some(()) }
        },
    )
    .await;

    // The list is known now: "No" by its id is decided on the spot, without a request.
    let no = at.ticket_delivery(351182, 29682885, "Update", SignatureForm::RawBytes);
    assert_eq!(
        post(&app, &connector, &no.header_map(), no.body.clone()).await,
        200
    );
    // And the label form still works.
    at.set_udf(351182, "Request JIT", Some("2"));
    let mut by_label = at.ticket_event_body(351182, 29682885, "Update");
    by_label["Fields"]["Request JIT"] = json!("Yes");
    let by_label = at.sign(&by_label, SignatureForm::RawBytes);
    assert_eq!(
        post(
            &app,
            &connector,
            &by_label.header_map(),
            by_label.body.clone()
        )
        .await,
        202
    );
    assert_eq!(at.udf_definition_reads(), 1);
}

/// HaloPSA without a configured `tenant`: the tenant comes from `/api/authinfo` (its
/// `tenant_id`, as Halo's own API module does), which the hosted simulator demands on the token
/// endpoint; the note is posted with `sendemail: false`, so Halo emails nobody.
#[tokio::test]
async fn halopsa_without_a_tenant_takes_it_from_authinfo_and_never_emails() {
    let sims = Sims::start().await;
    let app = sims.spawn_app(&WorldOptions::default()).await;
    let api = app.api();
    let (customer, _) = setup_customer(&api, true).await;
    let halo = HaloSim::start(
        HaloConfig::new("jitgate-client", "halo-client-secret-value").with_tenant("msp"),
        Some(&sims.ca),
    )
    .await;
    let password = "halo-webhook-password-0042";
    let connector = add_connector(
        &api,
        json!({"kind": "halopsa", "name": "HaloPSA",
            "settings": {"base_url": halo.url(), "client_id": "jitgate-client",
                "delivery_auth": {"mode": "basic", "username": "halo"},
                "trigger": {"outcome_id": 50}, "note": {"outcome_id": 7}},
            "secrets": {"webhook_password": [password], "client_secret": "halo-client-secret-value"}}),
    )
    .await;
    map_company(&api, &connector, "17", &customer).await;
    halo.seed_ticket(4242, 17);
    halo.seed_agent(3, "Alice Smith", "alice@msp.example");
    let delivery = halo
        .action_added(4242, 3, 50, "Request JIT")
        .deliver(&DeliveryAuth::basic("halo", password));
    assert_eq!(
        post(
            &app,
            &connector,
            &delivery.header_map(),
            delivery.body.clone()
        )
        .await,
        202
    );
    let actions = eventually("the Halo note", Duration::from_secs(30), || {
        let a = halo.actions(4242);
        async move { (!a.is_empty()).then_some(a) }
    })
    .await;
    assert!(actions[0].note_html.contains("alice-jit@fabrikam.com"));
    assert!(actions[0].hiddenfromuser);
    assert!(
        !actions[0].sendemail,
        "the note must not be emailed: {:?}",
        actions[0].raw
    );
    assert!(
        halo.requests().iter().any(|r| r == "GET /api/authinfo"),
        "the tenant was discovered"
    );
}
