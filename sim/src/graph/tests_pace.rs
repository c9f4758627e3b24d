//! The pace and `$batch`, driven over HTTP as a client would.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{GraphSim, Pace, TenantBudget, TenantSpec};
use crate::tls::install_crypto_provider;

const TENANT: &str = "6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";
const OTHER_TENANT: &str = "7a2e3b4c-5d6e-4f70-9b8c-1d2e3f4a5b6c";
const CLIENT_ID: &str = "0a1b2c3d-1111-4222-8333-444455556666";
const SECRET: &str = "Sim~Secret.Value-0123456789";
const DOMAIN: &str = "contoso.example";

struct Fixture {
    sim: GraphSim,
    http: reqwest::Client,
}

impl Fixture {
    async fn start() -> Fixture {
        install_crypto_provider();
        let sim = GraphSim::start(None).await;
        sim.add_tenant(TenantSpec::new(TENANT, CLIENT_ID, SECRET, DOMAIN));
        sim.add_tenant(TenantSpec::new(
            OTHER_TENANT,
            CLIENT_ID,
            SECRET,
            "fabrikam.example",
        ));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("reqwest client");
        Fixture { sim, http }
    }

    fn origin(&self) -> String {
        self.sim
            .graph_url()
            .as_str()
            .trim_end_matches('/')
            .to_string()
    }

    async fn token(&self, tenant: &str) -> String {
        let scope = format!("{}/.default", self.origin());
        let response = self
            .http
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.origin()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", SECRET),
                ("scope", scope.as_str()),
            ])
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("token JSON");
        body["access_token"].as_str().expect("access_token").into()
    }

    async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .request(method, format!("{}/v1.0{path}", self.origin()))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("Graph call")
    }

    async fn batch(&self, token: &str, requests: Value) -> (u16, Value) {
        let response = self
            .call(
                token,
                reqwest::Method::POST,
                "/$batch",
                Some(json!({ "requests": requests })),
            )
            .await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("batch JSON"))
    }
}

fn new_user(local: &str) -> Value {
    json!({
        "accountEnabled": false,
        "displayName": format!("JIT {local}"),
        "mailNickname": local,
        "userPrincipalName": format!("{local}@{DOMAIN}"),
        "passwordProfile": { "password": "Xk2!vT9#qLm4pR7z", "forceChangePasswordNextSignIn": false },
    })
}

fn create_request(id: &str, local: &str) -> Value {
    json!({
        "id": id,
        "method": "POST",
        "url": "/users",
        "headers": { "Content-Type": "application/json" },
        "body": new_user(local),
    })
}

fn get_request(id: &str, url: &str) -> Value {
    json!({ "id": id, "method": "GET", "url": url })
}

fn answer<'a>(batch: &'a Value, id: &str) -> &'a Value {
    batch["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no answer {id} in {batch}"))
}

fn answer_ids(batch: &Value) -> Vec<String> {
    batch["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test]
async fn a_batch_creates_then_reads_in_dependency_order() {
    let f = Fixture::start().await;
    let token = f.token(TENANT).await;
    let (status, batch) = f
        .batch(
            &token,
            json!([
                create_request("create", "amy"),
                {
                    "id": "read",
                    "method": "GET",
                    "url": format!("/users/amy@{DOMAIN}?$select=id,accountEnabled"),
                    "dependsOn": ["create"],
                },
            ]),
        )
        .await;
    assert_eq!(status, 200, "{batch}");
    let created = answer(&batch, "create");
    assert_eq!(created["status"], 201, "{batch}");
    assert_eq!(
        created["headers"]["Content-Type"]
            .as_str()
            .map(|c| c.starts_with("application/json")),
        Some(true)
    );
    let read = answer(&batch, "read");
    assert_eq!(read["status"], 200, "{batch}");
    assert_eq!(read["body"]["id"], created["body"]["id"]);
    assert_eq!(read["body"]["accountEnabled"], false);
    assert!(
        f.sim
            .user_by_upn(TENANT, &format!("amy@{DOMAIN}"))
            .is_some()
    );

    // The batch counts once as a call; its two requests count as batched and are logged so.
    assert_eq!(f.sim.graph_calls(), 1);
    assert_eq!(f.sim.batched_requests(), 2);
    let log = f.sim.request_log();
    let graph: Vec<(&str, &str, bool)> = log
        .iter()
        .filter(|r| r.path.starts_with("/v1.0/"))
        .map(|r| (r.method.as_str(), r.path.as_str(), r.batched))
        .collect();
    assert_eq!(
        graph,
        [
            ("POST", "/v1.0/users", true),
            ("GET", "/v1.0/users/amy@contoso.example", true),
            ("POST", "/v1.0/$batch", false),
        ]
    );
}

#[tokio::test]
async fn a_failed_dependency_answers_424_and_runs_nothing_after_it() {
    let f = Fixture::start().await;
    let token = f.token(TENANT).await;
    let (status, batch) = f
        .batch(
            &token,
            json!([
                get_request("missing", &format!("/users/nobody@{DOMAIN}")),
                { "id": "disable", "method": "PATCH", "url": format!("/users/nobody@{DOMAIN}"),
                  "headers": { "Content-Type": "application/json" },
                  "body": { "accountEnabled": false }, "dependsOn": ["missing"] },
                create_request("chained", "bob").as_object().cloned().map(|mut r| {
                    r.insert("dependsOn".into(), json!(["disable"]));
                    Value::Object(r)
                }).expect("object"),
                create_request("independent", "cleo"),
            ]),
        )
        .await;
    assert_eq!(status, 200, "{batch}");
    assert_eq!(answer(&batch, "missing")["status"], 404);
    for id in ["disable", "chained"] {
        let failed = answer(&batch, id);
        assert_eq!(failed["status"], 424, "{batch}");
        assert_eq!(failed["body"]["error"]["code"], "FailedDependency");
    }
    assert_eq!(answer(&batch, "independent")["status"], 201);
    assert!(
        f.sim
            .user_by_upn(TENANT, &format!("bob@{DOMAIN}"))
            .is_none()
    );
    let ran: Vec<String> = f
        .sim
        .request_log()
        .iter()
        .filter(|r| r.batched)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        ran,
        ["GET /v1.0/users/nobody@contoso.example", "POST /v1.0/users"]
    );
    assert_eq!(f.sim.batched_requests(), 4);
}

#[tokio::test]
async fn answers_come_in_reverse_order() {
    let f = Fixture::start().await;
    let token = f.token(TENANT).await;
    let (status, batch) = f
        .batch(
            &token,
            json!([
                get_request("a", "/domains"),
                get_request("b", "users?$select=id"),
                get_request("c", "/roleManagement/directory/roleDefinitions"),
            ]),
        )
        .await;
    assert_eq!(status, 200, "{batch}");
    assert_eq!(answer_ids(&batch), ["c", "b", "a"]);
    assert!(
        batch["responses"]
            .as_array()
            .expect("responses")
            .iter()
            .all(|r| r["status"] == 200),
        "{batch}"
    );
}

#[tokio::test]
async fn malformed_batches_are_refused_whole() {
    let f = Fixture::start().await;
    let token = f.token(TENANT).await;
    let too_many: Vec<Value> = (0..21)
        .map(|n| get_request(&n.to_string(), "/domains"))
        .collect();
    let absolute = json!([get_request("1", "https://graph.microsoft.com/v1.0/users")]);
    let duplicate = json!([get_request("x", "/domains"), get_request("X", "/domains")]);
    let untyped_body =
        json!([{ "id": "1", "method": "POST", "url": "/users", "body": new_user("dan") }]);
    let later_dependency = json!([
        { "id": "1", "method": "GET", "url": "/domains", "dependsOn": ["2"] },
        get_request("2", "/domains"),
    ]);
    for requests in [
        Value::from(too_many),
        absolute,
        duplicate,
        untyped_body,
        later_dependency,
    ] {
        let (status, body) = f.batch(&token, requests.clone()).await;
        assert_eq!(status, 400, "{requests} -> {body}");
        assert_eq!(body["error"]["code"], "BadRequest", "{body}");
        assert!(body["error"]["innerError"]["request-id"].is_string());
    }
    assert_eq!(f.sim.batched_requests(), 0);
    assert!(f.sim.users(TENANT).is_empty());

    // And the batch needs a valid bearer like any call.
    let (status, body) = f
        .batch("not-a-token", json!([get_request("1", "/domains")]))
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
}

#[tokio::test]
async fn a_full_throttle_share_answers_429_and_changes_nothing() {
    let f = Fixture::start().await;
    let token = f.token(TENANT).await;
    f.sim.set_pace(Pace {
        throttle_share: 1.0,
        throttle_retry_after: Duration::from_millis(1_500),
        ..Pace::instant(1)
    });
    let response = f
        .call(
            &token,
            reqwest::Method::POST,
            "/users",
            Some(new_user("eve")),
        )
        .await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "2");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert!(f.sim.users(TENANT).is_empty());

    // Inside a batch the 429 is per request, with its Retry-After among its headers.
    let (status, batch) = f
        .batch(
            &token,
            json!([create_request("1", "eve"), get_request("2", "/domains")]),
        )
        .await;
    assert_eq!(status, 200, "{batch}");
    for id in ["1", "2"] {
        assert_eq!(answer(&batch, id)["status"], 429, "{batch}");
        assert_eq!(answer(&batch, id)["headers"]["Retry-After"], "2", "{batch}");
    }
    assert!(f.sim.users(TENANT).is_empty());

    f.sim.clear_pace();
    let response = f
        .call(
            &token,
            reqwest::Method::POST,
            "/users",
            Some(new_user("eve")),
        )
        .await;
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn a_spent_budget_answers_429_with_its_scope_and_recovers_after_the_window() {
    let f = Fixture::start().await;
    let token = f.token(TENANT).await;
    let window = Duration::from_millis(300);
    f.sim.set_pace(Pace {
        budget: Some(TenantBudget {
            resource_units: 3,
            ru_window: window,
            writes: 2,
            write_window: window,
        }),
        ..Pace::instant(1)
    });
    let post = |local: &'static str| {
        f.call(
            &token,
            reqwest::Method::POST,
            "/users",
            Some(new_user(local)),
        )
    };
    assert_eq!(post("u1").await.status(), 201);
    assert_eq!(post("u2").await.status(), 201);
    let throttled = post("u3").await;
    assert_eq!(throttled.status(), 429);
    assert_eq!(throttled.headers()["retry-after"], "1");
    assert_eq!(
        throttled.headers()["x-ms-throttle-scope"],
        format!("Tenant_Application/Write/{CLIENT_ID}/{TENANT}").as_str()
    );
    assert_eq!(
        throttled.headers()["x-ms-throttle-information"],
        "WriteLimitExceeded"
    );
    assert!(f.sim.user_by_upn(TENANT, &format!("u3@{DOMAIN}")).is_none());
    // Another app+tenant pair has its own budget.
    let other = f.token(OTHER_TENANT).await;
    let domains = f.call(&other, reqwest::Method::GET, "/domains", None).await;
    assert_eq!(domains.status(), 200);

    tokio::time::sleep(window + Duration::from_millis(50)).await;
    assert_eq!(post("u3").await.status(), 201);

    // Reads spend resource units: a user list costs 2, so the second one is over 3.
    tokio::time::sleep(window + Duration::from_millis(50)).await;
    let list = || f.call(&token, reqwest::Method::GET, "/users", None);
    assert_eq!(list().await.status(), 200);
    let throttled = list().await;
    assert_eq!(throttled.status(), 429);
    assert_eq!(
        throttled.headers()["x-ms-throttle-scope"],
        format!("Tenant_Application/ReadWrite/{CLIENT_ID}/{TENANT}").as_str()
    );
    assert_eq!(
        throttled.headers()["x-ms-throttle-information"],
        "ResourceUnitLimitExceeded"
    );
}

async fn domains_status(f: &Fixture, token: &str) -> u16 {
    f.call(token, reqwest::Method::GET, "/domains", None)
        .await
        .status()
        .as_u16()
}

/// Statuses of 12 `GET /domains` per tenant, `interleaved` or one tenant after the other.
async fn statuses_under_seed(seed: u64, interleaved: bool) -> (Vec<u16>, Vec<u16>) {
    let f = Fixture::start().await;
    let (a, b) = (f.token(TENANT).await, f.token(OTHER_TENANT).await);
    f.sim.set_pace(Pace {
        throttle_share: 0.5,
        ..Pace::instant(seed)
    });
    let (mut first, mut second) = (Vec::new(), Vec::new());
    if interleaved {
        for _ in 0..12 {
            first.push(domains_status(&f, &a).await);
            second.push(domains_status(&f, &b).await);
        }
    } else {
        for _ in 0..12 {
            first.push(domains_status(&f, &a).await);
        }
        for _ in 0..12 {
            second.push(domains_status(&f, &b).await);
        }
    }
    (first, second)
}

#[tokio::test]
async fn a_seed_gives_each_tenant_the_same_answers_however_tenants_interleave() {
    let interleaved = statuses_under_seed(42, true).await;
    let sequential = statuses_under_seed(42, false).await;
    assert_eq!(interleaved, sequential);
    let all: Vec<u16> = interleaved
        .0
        .iter()
        .chain(&interleaved.1)
        .copied()
        .collect();
    assert!(all.contains(&200) && all.contains(&429), "{all:?}");
    assert_ne!(interleaved.0, interleaved.1, "tenants draw apart");
    assert_ne!(statuses_under_seed(43, true).await, interleaved);
}

#[tokio::test]
async fn each_new_user_draws_its_replication_lag_within_the_range() {
    let f = Fixture::start().await;
    let token = f.token(TENANT).await;
    let (lo, hi) = (Duration::from_secs(2), Duration::from_secs(5));
    f.sim.set_pace(Pace {
        replication_lag: (lo, hi),
        ..Pace::instant(9)
    });
    let mut lags = Vec::new();
    for n in 0..6 {
        let local = format!("lag{n}");
        let before = Instant::now();
        let created = f
            .call(
                &token,
                reqwest::Method::POST,
                "/users",
                Some(new_user(&local)),
            )
            .await;
        let after = Instant::now();
        assert_eq!(created.status(), 201);
        let read = f
            .call(
                &token,
                reqwest::Method::GET,
                &format!("/users/{local}@{DOMAIN}"),
                None,
            )
            .await;
        assert_eq!(read.status(), 404, "not replicated yet");
        let visible_at = {
            let st = f.sim.state.lock();
            st.tenants[TENANT]
                .users
                .iter()
                .find(|r| r.user.mail_nickname == local)
                .expect("created")
                .visible_at
        };
        assert!(visible_at >= before + lo && visible_at <= after + hi);
        lags.push(visible_at - before);
    }
    lags.sort();
    assert!(
        lags[5] - lags[0] > Duration::from_millis(100),
        "drawn, not fixed: {lags:?}"
    );
}

#[tokio::test]
async fn a_batch_round_trip_carries_one_call_latency() {
    let f = Fixture::start().await;
    let token = f.token(TENANT).await;
    let latency = Duration::from_millis(150);
    f.sim.set_pace(Pace {
        call_latency: (latency, latency),
        ..Pace::instant(3)
    });
    let started = Instant::now();
    let single = f.call(&token, reqwest::Method::GET, "/domains", None).await;
    assert_eq!(single.status(), 200);
    assert!(started.elapsed() >= latency);

    let started = Instant::now();
    let (status, batch) = f
        .batch(
            &token,
            json!([
                get_request("1", "/domains"),
                get_request("2", "/domains"),
                get_request("3", "/domains"),
            ]),
        )
        .await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200, "{batch}");
    assert!(elapsed >= latency && elapsed < latency * 2, "{elapsed:?}");
    assert_eq!(f.sim.graph_calls(), 2);
    assert_eq!(f.sim.batched_requests(), 3);
}

#[tokio::test]
async fn token_requests_get_their_own_latency_and_are_not_graph_calls() {
    let f = Fixture::start().await;
    let latency = Duration::from_millis(120);
    f.sim.set_pace(Pace {
        token_latency: (latency, latency),
        ..Pace::instant(5)
    });
    let started = Instant::now();
    f.token(TENANT).await;
    assert!(started.elapsed() >= latency);
    assert_eq!(f.sim.graph_calls(), 0);
}

#[test]
fn the_realistic_pace_is_the_one_the_benchmark_describes() {
    let pace = Pace::realistic(7);
    assert_eq!(
        pace.call_latency,
        (Duration::from_millis(80), Duration::from_millis(250))
    );
    assert_eq!(
        pace.token_latency,
        (Duration::from_millis(100), Duration::from_millis(300))
    );
    assert_eq!(
        pace.replication_lag,
        (Duration::from_secs(2), Duration::from_secs(5))
    );
    assert_eq!(pace.throttle_share, 0.01);
    assert_eq!(pace.throttle_retry_after, Duration::from_secs(1));
    assert_eq!(pace.budget, Some(TenantBudget::small_tenant()));
    assert_eq!(pace.seed, 7);
}
