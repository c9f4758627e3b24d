//! The OpenAPI document against the running app: every operation it lists declares the bearer
//! token and its 401/403 answers, and the app really gives them.

use crate::helpers::spawn_app;
use jitgate::store;
use serde_json::{Value, json};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "options", "head", "trace",
];

/// (method, path with every `{param}` filled in, operation) for each operation in `doc`.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let concrete = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    "x_unknown"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for (method, op) in item.as_object().expect("path item") {
            if METHODS.contains(&method.as_str()) {
                out.push((method.to_uppercase(), concrete.clone(), op.clone()));
            }
        }
    }
    out
}

async fn served_document(app: &crate::helpers::TestApp) -> Value {
    // The document itself is public: no token.
    let (status, doc) = app.request("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    doc
}

#[tokio::test]
async fn every_operation_declares_the_bearer_token_and_answers_401_without_it() {
    let app = spawn_app().await;
    let doc = served_document(&app).await;
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer"})
    );
    let ops = operations(&doc);
    assert!(ops.len() >= 20, "only {} operations", ops.len());
    for (method, path, op) in ops {
        let what = format!("{method} {path}");
        assert_eq!(op["security"], json!([{"bearer": []}]), "{what}");
        for status in ["401", "403"] {
            let declared = &op["responses"][status];
            assert_eq!(
                declared["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{what} {status}"
            );
            assert!(
                !declared["description"].as_str().unwrap_or("").is_empty(),
                "{what} {status}"
            );
        }
        assert!(
            op["responses"]["401"]["headers"]["WWW-Authenticate"].is_object(),
            "{what}"
        );

        let body = op["requestBody"].is_object().then(|| json!({}));
        let resp = app
            .http
            .request(method.parse().unwrap(), format!("{}/api/v1{path}", app.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{what}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer", "{what}");
        let error: Value = resp.json().await.unwrap();
        assert_eq!(error["error"]["code"], "unauthorized", "{what}");
    }
}

#[tokio::test]
async fn a_delegated_token_gets_403_only_where_it_is_declared() {
    let app = spawn_app().await;
    let doc = served_document(&app).await;
    let customer = app.create_customer("Delegated").await;
    let (_, token) = store::tokens::create(&app.db, "delegated", &[customer])
        .await
        .unwrap();
    let mut refused = 0;
    for (method, path, op) in operations(&doc) {
        let body = op["requestBody"].is_object().then(|| json!({}));
        let (status, error) = app
            .request(&method, &format!("/api/v1{path}"), Some(&token), body)
            .await;
        if status == 403 {
            refused += 1;
            assert!(op["responses"]["403"].is_object(), "{method} {path}");
            assert_eq!(error["error"]["code"], "forbidden", "{method} {path}");
        }
    }
    assert!(refused > 0, "no operation is admin-only any more?");
}
