//! Checking and registering the PSA side of a connector (issue 15): the check names a
//! misspelled trigger and passes once it is fixed; register creates exactly one webhook at the
//! simulated PSA and changes nothing the second time.

use crate::world::{Sims, WorldOptions, add_connector};
use serde_json::{Value, json};

fn check_named<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {answer}"))
}

#[tokio::test]
async fn connectwise_check_names_a_misspelled_trigger_and_passes_once_fixed_and_registered() {
    let sims = Sims::start().await;
    let app = sims.spawn_app(&WorldOptions::default()).await;
    let api = app.api();
    sims.cw.define_custom_field(12, "Request JIT", "Checkbox");
    let connector = add_connector(
        &api,
        json!({"kind": "connectwise", "name": "ConnectWise",
            "settings": sims.cw.connector_settings(json!({"custom_field": "Request JTI"})),
            "secrets": sims.cw.connector_secrets()}),
    )
    .await;
    let check = format!("/api/v1/connectors/{connector}/check");

    let first = api.admin("POST", &check, None).await;
    assert_eq!(check_named(&first, "API credentials")["status"], "ok");
    let trigger = check_named(&first, "Trigger");
    assert_eq!(trigger["status"], "fail", "{first}");
    assert!(trigger["detail"].as_str().unwrap().contains("Request JTI"));
    assert!(trigger["detail"].as_str().unwrap().contains("Request JIT"));
    assert_eq!(check_named(&first, "Callback")["status"], "fail");

    api.admin(
        "PATCH",
        &format!("/api/v1/connectors/{connector}"),
        Some(
            json!({"settings": sims.cw.connector_settings(json!({"custom_field": "Request JIT"}))}),
        ),
    )
    .await;
    let register = format!("/api/v1/connectors/{connector}/register");
    let done = api.admin("POST", &register, None).await;
    assert_eq!(done["action"], "created", "{done}");

    let second = api.admin("POST", &check, None).await;
    for c in second["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "ok", "{second}");
    }
    let audit = api
        .admin("GET", "/api/v1/audit?action=connector.check", None)
        .await;
    assert!(audit.to_string().contains("connector.check"), "{audit}");
}

#[tokio::test]
async fn connectwise_register_creates_one_callback_and_is_a_no_op_the_second_time() {
    let sims = Sims::start().await;
    let app = sims.spawn_app(&WorldOptions::default()).await;
    let api = app.api();
    let connector = add_connector(
        &api,
        json!({"kind": "connectwise", "name": "ConnectWise",
            "settings": sims.cw.connector_settings(json!({"custom_field": "Request JIT"})),
            "secrets": sims.cw.connector_secrets()}),
    )
    .await;
    let register = format!("/api/v1/connectors/{connector}/register");
    let first = api.admin("POST", &register, None).await;
    assert_eq!(first["action"], "created", "{first}");
    let callbacks = sims.cw.callbacks();
    assert_eq!(callbacks.len(), 1);
    let cb = &callbacks[0];
    let webhook_url = format!("{}/webhooks/{connector}", app.url.trim_end_matches('/'));
    assert_eq!(cb["url"], format!("{webhook_url}?recordId="));
    assert_eq!(cb["type"], "Ticket");
    assert_eq!(cb["level"], "Owner");
    assert_eq!(cb["objectId"], 1);
    assert_eq!(cb["inactiveFlag"], false);
    assert_eq!(cb["isSelfSuppressedFlag"], true);
    assert_eq!(cb["payloadVersion"], "3.0.0");

    let second = api.admin("POST", &register, None).await;
    assert_eq!(second["action"], "already_registered", "{second}");
    assert_eq!(sims.cw.callbacks().len(), 1);
    assert_eq!(sims.cw.callback_writes(), 1);

    // Someone deactivates it in ConnectWise: register repairs that one, creating none.
    let id = cb["id"].as_u64().unwrap();
    let mut inactive = cb.clone();
    inactive["inactiveFlag"] = json!(true);
    sims.cw.replace_callback(id, inactive);
    let third = api.admin("POST", &register, None).await;
    assert_eq!(third["action"], "repaired", "{third}");
    let callbacks = sims.cw.callbacks();
    assert_eq!(callbacks.len(), 1);
    assert_eq!(callbacks[0]["inactiveFlag"], false);
}

#[tokio::test]
async fn check_and_register_are_for_msp_admins() {
    let sims = Sims::start().await;
    let app = sims.spawn_app(&WorldOptions::default()).await;
    let api = app.api();
    let connector = add_connector(
        &api,
        json!({"kind": "connectwise", "name": "ConnectWise",
            "settings": sims.cw.connector_settings(json!({"custom_field": "Request JIT"})),
            "secrets": sims.cw.connector_secrets()}),
    )
    .await;
    for action in ["check", "register"] {
        let (status, _) = app
            .request(
                "POST",
                &format!("/api/v1/connectors/{connector}/{action}"),
                None,
                None,
            )
            .await;
        assert_eq!(status, 401, "{action}");
        let (status, _) = app
            .request(
                "POST",
                &format!("/api/v1/connectors/nope/{action}"),
                Some(&app.admin_token),
                None,
            )
            .await;
        assert_eq!(status, 404, "{action}");
    }
    assert!(sims.cw.callbacks().is_empty());
}

#[tokio::test]
async fn autotask_register_creates_one_complete_webhook_and_check_reads_the_list_udf() {
    use jitgate_sim::autotask::{API_USER_RESOURCE_ID, AutotaskSim};
    let sims = Sims::start().await;
    let app = sims.spawn_app(&WorldOptions::default()).await;
    let api = app.api();
    let at = AutotaskSim::start(Some(&sims.ca)).await;
    at.define_udf("Request JIT", Some(&[("1", "Yes"), ("2", "No")]));
    let trigger = |udf: &str| json!({"udf": udf, "true_values": ["Yes"], "reset_value": "No"});
    let connector = add_connector(
        &api,
        json!({"kind": "autotask", "name": "Autotask",
            "settings": at.connector_settings(trigger("Request JTI")), "secrets": at.connector_secrets()}),
    )
    .await;
    let check = format!("/api/v1/connectors/{connector}/check");
    let first = api.admin("POST", &check, None).await;
    assert_eq!(
        check_named(&first, "API credentials")["status"],
        "ok",
        "{first}"
    );
    assert_eq!(check_named(&first, "Trigger")["status"], "fail", "{first}");
    assert_eq!(
        check_named(&first, "Note settings")["status"],
        "ok",
        "{first}"
    );
    assert_eq!(check_named(&first, "Webhook")["status"], "fail", "{first}");

    api.admin(
        "PATCH",
        &format!("/api/v1/connectors/{connector}"),
        Some(json!({"settings": at.connector_settings(trigger("Request JIT"))})),
    )
    .await;
    let register = format!("/api/v1/connectors/{connector}/register");
    let done = api.admin("POST", &register, None).await;
    assert_eq!(done["action"], "created", "{done}");
    let webhooks = at.webhooks();
    assert_eq!(webhooks.len(), 1);
    let webhook = &webhooks[0];
    let id = webhook["id"].as_u64().unwrap();
    assert_eq!(webhook["isActive"], true);
    assert_eq!(webhook["isReady"], true);
    assert!(webhook.get("secretKey").is_none());
    assert_eq!(
        at.webhook_secret_key(id).as_deref(),
        Some(at.config().webhook_secret.as_str())
    );
    let (fields, udfs, excluded) = at.webhook_children(id);
    assert_eq!(fields.len(), 1, "{fields:?}");
    assert_eq!(fields[0]["isDisplayAlwaysField"], true);
    assert_eq!(udfs.len(), 1);
    assert_eq!(udfs[0]["isSubscribedField"], true);
    assert_eq!(excluded.len(), 1);
    assert_eq!(excluded[0]["resourceID"], API_USER_RESOURCE_ID);

    let writes = at.webhook_writes();
    let second = api.admin("POST", &register, None).await;
    assert_eq!(second["action"], "already_registered", "{second}");
    assert_eq!(at.webhooks().len(), 1);
    assert_eq!(at.webhook_writes(), writes);

    let passing = api.admin("POST", &check, None).await;
    for c in passing["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "ok", "{passing}");
    }

    at.deactivate_webhook(id);
    assert_eq!(
        check_named(&api.admin("POST", &check, None).await, "Webhook")["status"],
        "fail"
    );
    let repaired = api.admin("POST", &register, None).await;
    assert_eq!(repaired["action"], "repaired", "{repaired}");
    assert_eq!(at.webhooks()[0]["isActive"], true);
    assert_eq!(at.webhooks().len(), 1);
}

#[tokio::test]
async fn halopsa_check_reads_outcomes_and_register_spells_out_the_webhook() {
    use jitgate_sim::halopsa::{HaloConfig, HaloSim};
    let sims = Sims::start().await;
    let app = sims.spawn_app(&WorldOptions::default()).await;
    let api = app.api();
    let halo = HaloSim::start(
        HaloConfig::new("jitgate-client", "halo-client-secret-value").with_tenant("msp"),
        Some(&sims.ca),
    )
    .await;
    let settings = |outcome: &str| {
        json!({"base_url": halo.url(), "tenant": "msp", "client_id": "jitgate-client",
            "delivery_auth": {"mode": "basic", "username": "halo"},
            "trigger": {"outcome_name": outcome}, "note": {"outcome_id": 7}})
    };
    let connector = add_connector(
        &api,
        json!({"kind": "halopsa", "name": "HaloPSA", "settings": settings("Request JTI"),
            "secrets": {"webhook_password": ["halo-webhook-password-0042"], "client_secret": "halo-client-secret-value"}}),
    )
    .await;
    let check = format!("/api/v1/connectors/{connector}/check");
    let first = api.admin("POST", &check, None).await;
    assert_eq!(
        check_named(&first, "API credentials")["status"],
        "ok",
        "{first}"
    );
    let trigger = check_named(&first, "Trigger");
    assert_eq!(trigger["status"], "fail", "{first}");
    assert!(
        trigger["detail"]
            .as_str()
            .unwrap()
            .contains("Request JIT (50)")
    );
    assert_eq!(check_named(&first, "Note outcome")["status"], "ok");

    api.admin(
        "PATCH",
        &format!("/api/v1/connectors/{connector}"),
        Some(json!({"settings": settings("Request JIT")})),
    )
    .await;
    let fixed = api.admin("POST", &check, None).await;
    assert_eq!(check_named(&fixed, "Trigger")["status"], "ok", "{fixed}");

    let done = api
        .admin(
            "POST",
            &format!("/api/v1/connectors/{connector}/register"),
            None,
        )
        .await;
    assert_eq!(done["action"], "manual_steps", "{done}");
    let steps = done["steps"].to_string();
    assert!(steps.contains(&format!("/webhooks/{connector}")), "{steps}");
    assert!(steps.contains("Basic, user name halo"), "{steps}");
    assert!(!steps.contains("halo-webhook-password-0042"), "{steps}");

    // Wrong API credentials: one failed credentials check, saying what to fix.
    api.admin(
        "PATCH",
        &format!("/api/v1/connectors/{connector}"),
        Some(json!({"secrets": {"client_secret": "not-the-secret"}})),
    )
    .await;
    let refused = api.admin("POST", &check, None).await;
    assert_eq!(refused["checks"].as_array().unwrap().len(), 1, "{refused}");
    assert_eq!(check_named(&refused, "API credentials")["status"], "fail");
    assert!(!refused.to_string().contains("not-the-secret"));
}

#[tokio::test]
async fn standard_webhooks_check_reads_settings_and_register_lists_steps() {
    let sims = Sims::start().await;
    let app = sims.spawn_app(&WorldOptions::default()).await;
    let api = app.api();
    let connector = add_connector(
        &api,
        json!({"kind": "standard_webhooks", "name": "Rewst", "settings": {},
            "secrets": {"webhook_secret": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}}),
    )
    .await;
    let checks = api
        .admin(
            "POST",
            &format!("/api/v1/connectors/{connector}/check"),
            None,
        )
        .await;
    assert_eq!(check_named(&checks, "Signing secrets")["status"], "ok");
    assert_eq!(check_named(&checks, "Notes")["status"], "warn");
    let done = api
        .admin(
            "POST",
            &format!("/api/v1/connectors/{connector}/register"),
            None,
        )
        .await;
    assert_eq!(done["action"], "manual_steps");
    assert!(
        !done
            .to_string()
            .contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    );
}

#[tokio::test]
async fn the_connector_page_registers_and_checks_with_badges() {
    use crate::console::{ConsoleSession, technician};
    let sims = Sims::start().await;
    let app = sims.spawn_app(&WorldOptions::default()).await;
    let api = app.api();
    let connector = add_connector(
        &api,
        json!({"kind": "connectwise", "name": "ConnectWise",
            "settings": sims.cw.connector_settings(json!({"custom_field": "Request JIT"})),
            "secrets": sims.cw.connector_secrets()}),
    )
    .await;
    sims.cw.define_custom_field(12, "Request JIT", "Checkbox");
    let admin = technician(&app, "admin@msp.example", true).await;
    let session = ConsoleSession::sign_in(&app, &admin).await;
    let page = session
        .get(&format!("/console/connectors/{connector}"))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("PSA set-up"), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("/console/connectors/{connector}/register"))
    );

    let registered = session
        .post(
            &format!("/console/connectors/{connector}/register"),
            &page,
            &[],
        )
        .await;
    assert_eq!(registered.status, 200, "{}", registered.body);
    assert!(registered.body.contains("created"), "{}", registered.body);
    assert_eq!(sims.cw.callbacks().len(), 1);

    let checked = session
        .post(
            &format!("/console/connectors/{connector}/check"),
            &registered,
            &[],
        )
        .await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert!(checked.body.contains("check check-ok"), "{}", checked.body);
    assert!(
        !checked.body.contains("check check-fail"),
        "{}",
        checked.body
    );
}
