//! jitgate-graph against the Graph simulator over real HTTP (and TLS where noted).

use jitgate_graph::ExposeSecret as _;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use jitgate_graph::{
    AccountSpec, ClientCertificate, EndAction, EndReport, EndStep, GraphClient, GraphError,
    JITGATE_MARKER, RetryPolicy, Tenant,
};
use jitgate_sim::graph::{
    AppRegistration, AppRole, CONSENTED_PERMISSIONS, ConsentAnswer, Fault, GraphSim, LagRoleAnswer,
    REGISTERED_CERTIFICATE_PEM, REGISTERED_CERTIFICATE_PKCS1_PEM, SimDomain, TenantSpec,
    UNREGISTERED_CERTIFICATE_PEM,
};
use jitgate_sim::tls::{TestCa, install_crypto_provider};

const TENANT_ID: &str = "6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";
const CLIENT_ID: &str = "0a1b2c3d-1111-4222-8333-444455556666";
const CLIENT_SECRET: &str = "Sim~Secret.Value-0123456789";
const DOMAIN: &str = "contoso.example";
const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";
const USER_ADMIN: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";

struct Fixture {
    sim: GraphSim,
    graph: GraphClient,
    tenant: Tenant,
}

/// Short waits so lag and retry tests stay fast; the shapes are the production ones.
fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        transient_attempts: 3,
        transient_backoff: Duration::from_millis(10),
        max_inline_wait: Duration::from_secs(1),
        replication_budget: Duration::from_secs(3),
        replication_backoff: Duration::from_millis(50),
        replication_max_wait: Duration::from_millis(400),
        default_throttle_wait: Duration::from_secs(10),
    }
}

fn http_client(ca: Option<&TestCa>) -> reqwest::Client {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5));
    if let Some(ca) = ca {
        let root = reqwest::Certificate::from_pem(ca.ca_pem().as_bytes()).expect("CA PEM");
        builder = builder.tls_certs_only([root]);
    }
    builder.build().expect("reqwest client")
}

async fn fixture_with(ca: Option<&TestCa>, policy: RetryPolicy) -> Fixture {
    let sim = GraphSim::start(ca).await;
    sim.add_tenant(TenantSpec::new(TENANT_ID, CLIENT_ID, CLIENT_SECRET, DOMAIN));
    let graph = GraphClient::new(http_client(ca), sim.login_url(), sim.graph_url())
        .with_retry_policy(policy);
    let tenant = Tenant::new(TENANT_ID, CLIENT_ID, CLIENT_SECRET);
    Fixture { sim, graph, tenant }
}

async fn fixture() -> Fixture {
    fixture_with(None, fast_policy()).await
}

fn spec(local: &str, roles: &[&str]) -> AccountSpec {
    AccountSpec {
        upn: format!("{local}@{DOMAIN}"),
        display_name: format!("JIT {local}"),
        mail_nickname: local.to_string(),
        owner: format!("t-{local}").chars().take(16).collect(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

fn step_result(report: &EndReport, step: EndStep) -> &Result<String, GraphError> {
    &report
        .steps
        .iter()
        .find(|s| s.step == step)
        .unwrap_or_else(|| panic!("no step {step:?} in {report:?}"))
        .result
}

fn role_set(f: &Fixture, user_id: &str) -> BTreeSet<String> {
    f.sim
        .role_assignments_of(TENANT_ID, user_id)
        .into_iter()
        .map(|a| a.role_definition_id)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn token_is_cached_and_refreshed_once_under_concurrency() {
    let f = fixture().await;
    // Slow answers widen the window in which concurrent callers would all ask for a token.
    f.sim.set_latency(Duration::from_millis(150));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let graph = f.graph.clone();
        let tenant = f.tenant.clone();
        tasks.push(tokio::spawn(async move {
            graph
                .find_user_by_upn(&tenant, "nobody@contoso.example")
                .await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), None);
    }
    assert_eq!(f.sim.token_requests(TENANT_ID), 1);

    // Later calls keep using the cached token.
    f.graph
        .find_user_by_upn(&f.tenant, "nobody@contoso.example")
        .await
        .unwrap();
    assert_eq!(f.sim.token_requests(TENANT_ID), 1);
}

#[tokio::test]
async fn token_is_refreshed_shortly_before_it_expires() {
    let f = fixture().await;
    f.sim.set_token_lifetime(Duration::from_secs(2));
    f.graph.check_connection(&f.tenant).await.unwrap();
    f.graph.check_connection(&f.tenant).await.unwrap();
    assert_eq!(f.sim.token_requests(TENANT_ID), 1);
    // Refresh is due at 3/4 of the lifetime (1.5 s), before the token actually expires.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    f.graph
        .find_user_by_upn(&f.tenant, "nobody@contoso.example")
        .await
        .unwrap();
    assert_eq!(f.sim.token_requests(TENANT_ID), 2);
}

#[tokio::test]
async fn a_rejected_token_is_replaced_once() {
    let f = fixture().await;
    f.graph.check_connection(&f.tenant).await.unwrap();
    f.sim.revoke_all_tokens();
    let found = f
        .graph
        .find_user_by_upn(&f.tenant, "nobody@contoso.example")
        .await
        .unwrap();
    assert_eq!(found, None);
    assert_eq!(f.sim.token_requests(TENANT_ID), 2);
    let statuses: Vec<u16> = f.sim.request_log().iter().map(|r| r.status).collect();
    assert!(statuses.contains(&401), "{statuses:?}");
}

fn token_error(result: Result<(), GraphError>) -> (Option<u32>, String) {
    match result {
        Err(GraphError::TokenRefused {
            aadsts, message, ..
        }) => (aadsts, message),
        other => panic!("expected TokenRefused, got {other:?}"),
    }
}

#[tokio::test]
async fn token_errors_map_to_actionable_messages() {
    let f = fixture().await;

    let unknown_tenant = Tenant::new(
        "00000000-aaaa-4bbb-8ccc-000000000000",
        CLIENT_ID,
        CLIENT_SECRET,
    );
    let (code, message) = token_error(f.graph.check_connection(&unknown_tenant).await);
    assert_eq!(code, Some(90002));
    assert!(message.contains("Tenant ID"), "{message}");

    let unknown_client = Tenant::new(
        TENANT_ID,
        "99999999-9999-4999-8999-999999999999",
        CLIENT_SECRET,
    );
    let (code, message) = token_error(f.graph.check_connection(&unknown_client).await);
    assert_eq!(code, Some(700016));
    assert!(message.contains("admin consent"), "{message}");

    let wrong_secret = Tenant::new(TENANT_ID, CLIENT_ID, "not-the-secret-value");
    let (code, message) = token_error(f.graph.check_connection(&wrong_secret).await);
    assert_eq!(code, Some(7000215));
    assert!(message.contains("Certificates & secrets"), "{message}");
    assert!(!message.contains("not-the-secret-value"));

    f.sim.set_client_secret_expired(TENANT_ID, true);
    let (code, message) = token_error(f.graph.check_connection(&f.tenant).await);
    assert_eq!(code, Some(7000222));
    assert!(message.contains("expired"), "{message}");
    assert!(!message.contains(CLIENT_SECRET));
    f.sim.set_client_secret_expired(TENANT_ID, false);

    for (forced, hint) in [
        (65001, "Grant admin consent"),
        (650056, "RoleManagement.ReadWrite.Directory"),
        (53003, "Conditional Access"),
        (7000112, "Enabled for users to sign-in"),
    ] {
        f.sim.fail_tokens_with(TENANT_ID, Some(forced));
        let (code, message) = token_error(f.graph.check_connection(&f.tenant).await);
        assert_eq!(code, Some(forced));
        assert!(message.contains(hint), "{forced}: {message}");
        assert!(message.contains(TENANT_ID), "{message}");
    }
    f.sim.fail_tokens_with(TENANT_ID, None);
    f.graph.check_connection(&f.tenant).await.unwrap();
}

#[tokio::test]
async fn retryable_token_errors_are_retried() {
    let f = fixture().await;
    f.sim
        .inject(Fault::status(2, 503).on("POST", &format!("/{TENANT_ID}/oauth2")));
    f.graph.check_connection(&f.tenant).await.unwrap();
    let token_calls = f
        .sim
        .request_log()
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .map(|r| r.status)
        .collect::<Vec<_>>();
    assert_eq!(token_calls, [503, 503, 200]);
}

// ---------------------------------------------------------------------------------------------
// ensure_access
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn creates_a_marked_account_with_roles_over_tls() {
    let ca = TestCa::generate();
    let f = fixture_with(Some(&ca), fast_policy()).await;
    assert_eq!(f.sim.graph_url().scheme(), "https");

    let access = f
        .graph
        .ensure_access(&f.tenant, &spec("jit-alice", &[GLOBAL_ADMIN]), None)
        .await
        .unwrap();
    assert!(access.created);
    assert_eq!(access.upn, "jit-alice@contoso.example");

    let user = f.sim.user(TENANT_ID, &access.user_id).unwrap();
    assert_eq!(user.employee_type.as_deref(), Some(JITGATE_MARKER));
    assert!(user.account_enabled);
    assert_eq!(
        user.password.as_deref(),
        Some(access.password.expose_secret())
    );
    assert!(!user.force_change_password_next_sign_in);
    assert_eq!(
        role_set(&f, &access.user_id),
        BTreeSet::from([GLOBAL_ADMIN.to_string()])
    );

    // Every call carried its own client-request-id, echoed by Graph.
    let log = f.sim.request_log();
    let ids: BTreeSet<_> = log
        .iter()
        .filter_map(|r| r.client_request_id.clone())
        .collect();
    assert_eq!(ids.len(), log.len());

    // Nothing secret in the Debug output a careless log line would print.
    let debug = format!("{access:?} {:?}", f.tenant);
    assert!(!debug.contains(access.password.expose_secret()));
    assert!(!debug.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn a_foreign_account_with_the_upn_is_refused_and_untouched() {
    let f = fixture().await;
    let existing = f
        .sim
        .add_user(TENANT_ID, "jit-bob@contoso.example", "Bob (customer's own)");
    let err = f
        .graph
        .ensure_access(&f.tenant, &spec("jit-bob", &[GLOBAL_ADMIN]), None)
        .await
        .unwrap_err();
    match &err {
        GraphError::ForeignAccount { upn, user_id } => {
            assert_eq!(upn, "jit-bob@contoso.example");
            assert_eq!(user_id, &existing);
        }
        other => panic!("expected ForeignAccount, got {other:?}"),
    }
    assert!(err.needs_admin_action());
    assert!(err.to_string().contains("not created by jitgate"));

    // Also when addressed by a (wrong) known id.
    let err = f
        .graph
        .ensure_access(&f.tenant, &spec("jit-bob", &[]), Some(&existing))
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::ForeignAccount { .. }));

    let user = f.sim.user(TENANT_ID, &existing).unwrap();
    assert_eq!(user.password_changes, 0);
    assert_eq!(user.employee_type, None);
    assert!(f.sim.role_assignments(TENANT_ID).is_empty());
    assert_eq!(f.sim.users(TENANT_ID).len(), 1);
}

#[tokio::test]
async fn re_enabling_rotates_the_password() {
    let f = fixture().await;
    let account = spec("jit-carol", &[USER_ADMIN]);
    let first = f
        .graph
        .ensure_access(&f.tenant, &account, None)
        .await
        .unwrap();
    f.graph
        .end_access(&f.tenant, &first.user_id, EndAction::Disable)
        .await
        .unwrap();

    let second = f
        .graph
        .ensure_access(&f.tenant, &account, Some(&first.user_id))
        .await
        .unwrap();
    assert!(!second.created);
    assert_eq!(second.user_id, first.user_id);
    assert_ne!(
        second.password.expose_secret(),
        first.password.expose_secret()
    );

    let user = f.sim.user(TENANT_ID, &first.user_id).unwrap();
    assert!(user.account_enabled);
    assert_eq!(
        user.password.as_deref(),
        Some(second.password.expose_secret())
    );
    // One rotation at the end of the first grant, one when re-enabling.
    assert_eq!(user.password_changes, 2);
    assert_eq!(
        role_set(&f, &first.user_id),
        BTreeSet::from([USER_ADMIN.to_string()])
    );
    assert_eq!(f.sim.users(TENANT_ID).len(), 1);

    // Found by UPN too, when the caller lost the id.
    let third = f
        .graph
        .ensure_access(&f.tenant, &account, None)
        .await
        .unwrap();
    assert_eq!(third.user_id, first.user_id);
    assert!(!third.created);
}

#[tokio::test]
async fn roles_are_assigned_idempotently() {
    let f = fixture().await;
    let account = spec("jit-dave", &[GLOBAL_ADMIN, USER_ADMIN, GLOBAL_ADMIN]);
    let first = f
        .graph
        .ensure_access(&f.tenant, &account, None)
        .await
        .unwrap();
    let expected = BTreeSet::from([GLOBAL_ADMIN.to_string(), USER_ADMIN.to_string()]);
    assert_eq!(role_set(&f, &first.user_id), expected);
    assert_eq!(
        f.sim.role_assignments_of(TENANT_ID, &first.user_id).len(),
        2
    );

    // A leftover role from elsewhere is removed; the configured ones end up exactly once.
    f.sim.add_role_assignment(
        TENANT_ID,
        &first.user_id,
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
    );
    let second = f
        .graph
        .ensure_access(&f.tenant, &account, Some(&first.user_id))
        .await
        .unwrap();
    assert_eq!(second.user_id, first.user_id);
    assert_eq!(role_set(&f, &first.user_id), expected);
    assert_eq!(
        f.sim.role_assignments_of(TENANT_ID, &first.user_id).len(),
        2
    );

    // The low-level call reports a duplicate as already assigned.
    let outcome = f
        .graph
        .assign_role(&f.tenant, &first.user_id, GLOBAL_ADMIN)
        .await
        .unwrap();
    assert_eq!(outcome, jitgate_graph::AssignOutcome::AlreadyAssigned);
}

#[tokio::test]
async fn replication_lag_is_retried_in_call() {
    for answer in [LagRoleAnswer::BadReference, LagRoleAnswer::NotFound] {
        let f = fixture().await;
        f.sim.set_replication_lag(Duration::from_millis(800));
        f.sim.set_lag_role_answer(answer);
        let access = f
            .graph
            .ensure_access(&f.tenant, &spec("jit-erin", &[GLOBAL_ADMIN]), None)
            .await
            .unwrap();
        assert!(access.created);
        assert_eq!(
            role_set(&f, &access.user_id),
            BTreeSet::from([GLOBAL_ADMIN.to_string()])
        );
        let refused_assignments = f
            .sim
            .request_log()
            .iter()
            .filter(|r| {
                r.method == "POST" && r.path.ends_with("roleAssignments") && r.status >= 400
            })
            .count();
        assert!(refused_assignments >= 1, "{answer:?}: lag was never hit");
    }
}

#[tokio::test]
async fn lasting_replication_lag_is_reported_and_the_next_attempt_finishes() {
    // An in-call budget far shorter than the lag, as when Entra lags for minutes.
    let policy = RetryPolicy {
        replication_budget: Duration::from_millis(400),
        ..fast_policy()
    };
    let f = fixture_with(None, policy).await;
    let created_at = Instant::now();
    f.sim.set_replication_lag(Duration::from_secs(3));
    let account = spec("jit-frank", &[GLOBAL_ADMIN]);
    let err = f
        .graph
        .ensure_access(&f.tenant, &account, None)
        .await
        .unwrap_err();
    let user_id = match &err {
        GraphError::ReplicationLag {
            user_id: Some(id), ..
        } => id.clone(),
        other => panic!("expected ReplicationLag with a user id, got {other:?}"),
    };
    assert!(err.is_transient());
    assert!(err.retry_after().is_some());

    // A retry while the lag lasts neither duplicates the account nor adopts anything.
    let again = f
        .graph
        .ensure_access(&f.tenant, &account, Some(&user_id))
        .await
        .unwrap_err();
    assert!(
        matches!(again, GraphError::ReplicationLag { .. }),
        "{again:?}"
    );
    assert_eq!(f.sim.users(TENANT_ID).len(), 1);

    tokio::time::sleep(Duration::from_millis(3100).saturating_sub(created_at.elapsed())).await;
    let access = f
        .graph
        .ensure_access(&f.tenant, &account, Some(&user_id))
        .await
        .unwrap();
    assert_eq!(access.user_id, user_id);
    assert!(!access.created);
    let user = f.sim.user(TENANT_ID, &user_id).unwrap();
    assert_eq!(
        user.password.as_deref(),
        Some(access.password.expose_secret())
    );
    assert_eq!(
        role_set(&f, &user_id),
        BTreeSet::from([GLOBAL_ADMIN.to_string()])
    );
}

// ---------------------------------------------------------------------------------------------
// Throttling and transient failures
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn throttling_surfaces_retry_after_without_sleeping() {
    let f = fixture().await;
    f.graph.check_connection(&f.tenant).await.unwrap();
    f.sim.throttle_next(1, 37);
    let started = Instant::now();
    let err = f
        .graph
        .ensure_access(&f.tenant, &spec("jit-gina", &[GLOBAL_ADMIN]), None)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "slept on a 429");
    match &err {
        GraphError::Throttled {
            retry_after,
            request_id,
            ..
        } => {
            assert_eq!(*retry_after, Duration::from_secs(37));
            assert!(request_id.is_some());
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
    assert_eq!(err.retry_after(), Some(Duration::from_secs(37)));
    assert!(err.is_transient());
    let throttled = f
        .sim
        .request_log()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert_eq!(throttled, 1, "a 429 must not be retried in-call");
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_and_the_tenant_left_alone_meanwhile() {
    let f = fixture().await;
    f.graph.check_connection(&f.tenant).await.unwrap();
    f.sim.throttle_next(1, 1);
    let started = Instant::now();
    let access = f
        .graph
        .ensure_access(&f.tenant, &spec("jit-gus", &[GLOBAL_ADMIN]), None)
        .await
        .expect("a one-second Retry-After is waited out in-call");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "sent again before Retry-After"
    );
    assert!(access.created);
    let log = f.sim.request_log();
    let throttled_at = log.iter().position(|r| r.status == 429).expect("a 429");
    assert_eq!(
        log.iter().filter(|r| r.status == 429).count(),
        1,
        "nothing more was sent to the throttled tenant before its Retry-After"
    );
    assert!(
        log[throttled_at + 1..]
            .iter()
            .all(|r| r.status < 400 || r.status == 404)
    );
}

#[tokio::test]
async fn a_burst_of_5xx_is_retried_and_a_longer_one_reported() {
    let f = fixture().await;
    f.graph.check_connection(&f.tenant).await.unwrap();
    f.sim.fail_next(2, 503);
    let access = f
        .graph
        .ensure_access(&f.tenant, &spec("jit-hank", &[GLOBAL_ADMIN]), None)
        .await
        .unwrap();
    assert!(access.created);

    f.sim.fail_next(10, 504);
    let err = f
        .graph
        .get_user(&f.tenant, &access.user_id)
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::Transient { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(err.request_id().is_some());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
    f.sim.clear_faults();

    // A 503 asking for a long wait is handed back instead of slept on.
    f.sim.inject(Fault::status_with_retry_after(1, 503, 120));
    let err = f
        .graph
        .get_user(&f.tenant, &access.user_id)
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
}

#[tokio::test]
async fn timeouts_are_transient() {
    install_crypto_provider();
    let sim = GraphSim::start(None).await;
    sim.add_tenant(TenantSpec::new(TENANT_ID, CLIENT_ID, CLIENT_SECRET, DOMAIN));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let graph =
        GraphClient::new(http, sim.login_url(), sim.graph_url()).with_retry_policy(fast_policy());
    let tenant = Tenant::new(TENANT_ID, CLIENT_ID, CLIENT_SECRET);
    graph.check_connection(&tenant).await.unwrap();

    sim.inject(Fault::stall(1, Duration::from_millis(600)));
    assert_eq!(
        graph
            .find_user_by_upn(&tenant, "x@contoso.example")
            .await
            .unwrap(),
        None
    );

    sim.inject(Fault::stall(5, Duration::from_millis(600)));
    let err = graph
        .find_user_by_upn(&tenant, "x@contoso.example")
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// end_access
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn ending_access_works_without_privileged_authentication_administrator() {
    let f = fixture().await;
    let access = f
        .graph
        .ensure_access(
            &f.tenant,
            &spec("jit-ivan", &[GLOBAL_ADMIN, USER_ADMIN]),
            None,
        )
        .await
        .unwrap();
    f.sim.add_tap(TENANT_ID, &access.user_id);

    // The sim enforces the sensitive-action rule: disabling a role holder directly fails,
    // with a message that says what to do.
    let err = f
        .graph
        .disable(&f.tenant, &access.user_id)
        .await
        .unwrap_err();
    match &err {
        GraphError::PermissionDenied { code, message, .. } => {
            assert_eq!(code, "Authorization_RequestDenied");
            assert!(
                message.contains("Privileged Authentication Administrator"),
                "{message}"
            );
        }
        other => panic!("expected PermissionDenied, got {other:?}"),
    }

    let ended = f
        .graph
        .end_access(&f.tenant, &access.user_id, EndAction::Disable)
        .await
        .unwrap();
    assert!(!ended.already_gone);
    assert!(ended.is_verified(), "{ended:?}");
    assert!(ended.failed_follow_ups().is_empty(), "{ended:?}");
    assert_eq!(
        step_result(&ended, EndStep::RemoveRoles)
            .as_deref()
            .unwrap(),
        "2 role assignment(s) removed"
    );
    assert_eq!(
        step_result(&ended, EndStep::DeleteTaps).as_deref().unwrap(),
        "1 Temporary Access Pass(es) deleted"
    );

    let user = f.sim.user(TENANT_ID, &access.user_id).unwrap();
    assert!(!user.account_enabled);
    assert_ne!(
        user.password.as_deref(),
        Some(access.password.expose_secret())
    );
    assert_eq!(user.sessions_revoked, 1);
    assert!(
        f.sim
            .role_assignments_of(TENANT_ID, &access.user_id)
            .is_empty()
    );
    assert!(f.sim.taps(TENANT_ID).is_empty());

    // Ending again is harmless.
    let again = f
        .graph
        .end_access(&f.tenant, &access.user_id, EndAction::Disable)
        .await
        .unwrap();
    assert!(again.is_verified());
    assert_eq!(
        step_result(&again, EndStep::RemoveRoles)
            .as_deref()
            .unwrap(),
        "0 role assignment(s) removed"
    );
}

/// An app without User Administrator may not change passwords (Graph's `user` resource,
/// `passwordProfile`): the end still removes the roles, disables the account and revokes its
/// sessions, and reports the refused rotation as a failed follow-up with advice.
#[tokio::test]
async fn ending_access_without_user_administrator_still_disables_and_reports_the_rotation() {
    let f = fixture().await;
    let access = f
        .graph
        .ensure_access(&f.tenant, &spec("jit-olga", &[GLOBAL_ADMIN]), None)
        .await
        .unwrap();
    f.sim.set_app_role(TENANT_ID, AppRole::None);

    let ended = f
        .graph
        .end_access(&f.tenant, &access.user_id, EndAction::Disable)
        .await
        .unwrap();
    assert!(ended.is_verified(), "{ended:?}");
    assert_eq!(ended.failed_follow_ups(), vec![EndStep::RotatePassword]);
    match step_result(&ended, EndStep::RotatePassword) {
        Err(GraphError::PermissionDenied { code, message, .. }) => {
            assert_eq!(code, "Authorization_RequestDenied");
            assert!(message.contains("User Administrator"), "{message}");
        }
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
    let user = f.sim.user(TENANT_ID, &access.user_id).unwrap();
    assert!(!user.account_enabled);
    assert_eq!(user.sessions_revoked, 1);
    assert_eq!(
        user.password.as_deref(),
        Some(access.password.expose_secret())
    );
    assert!(role_set(&f, &access.user_id).is_empty());

    // Once the role is assigned, retrying the follow-up rotates the password.
    f.sim.set_app_role(TENANT_ID, AppRole::UserAdministrator);
    let retried = f
        .graph
        .retry_end_steps(&f.tenant, &access.user_id, &[EndStep::RotatePassword])
        .await;
    assert!(retried[0].result.is_ok(), "{retried:?}");
    let user = f.sim.user(TENANT_ID, &access.user_id).unwrap();
    assert_ne!(
        user.password.as_deref(),
        Some(access.password.expose_secret())
    );
}

#[tokio::test]
async fn a_refused_session_revocation_names_the_permission_and_stops_nothing() {
    let f = fixture().await;
    let access = f
        .graph
        .ensure_access(&f.tenant, &spec("jit-pia", &[GLOBAL_ADMIN]), None)
        .await
        .unwrap();
    f.sim
        .set_permission(TENANT_ID, "User.RevokeSessions.All", false);
    let ended = f
        .graph
        .end_access(&f.tenant, &access.user_id, EndAction::Disable)
        .await
        .unwrap();
    assert!(ended.is_verified());
    assert_eq!(ended.failed_follow_ups(), vec![EndStep::RevokeSessions]);
    let message = step_result(&ended, EndStep::RevokeSessions)
        .as_ref()
        .unwrap_err()
        .to_string();
    assert!(message.contains("User.RevokeSessions.All"), "{message}");
    // The steps after it still ran.
    let user = f.sim.user(TENANT_ID, &access.user_id).unwrap();
    assert_ne!(
        user.password.as_deref(),
        Some(access.password.expose_secret())
    );
}

/// Re-enabling an existing account sets its password first, in its own call: without User
/// Administrator that is refused at once, with advice, and the account stays disabled.
#[tokio::test]
async fn re_enabling_without_user_administrator_fails_fast_and_leaves_the_account_disabled() {
    let f = fixture().await;
    let account = spec("jit-quinn", &[GLOBAL_ADMIN]);
    let first = f
        .graph
        .ensure_access(&f.tenant, &account, None)
        .await
        .unwrap();
    f.graph
        .end_access(&f.tenant, &first.user_id, EndAction::Disable)
        .await
        .unwrap();
    f.sim.set_app_role(TENANT_ID, AppRole::None);
    let started = Instant::now();
    let err = f
        .graph
        .ensure_access(&f.tenant, &account, Some(&first.user_id))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(err.needs_admin_action(), "{err:?}");
    assert!(err.to_string().contains("User Administrator"), "{err}");
    let user = f.sim.user(TENANT_ID, &first.user_id).unwrap();
    assert!(!user.account_enabled);
    assert!(role_set(&f, &first.user_id).is_empty());
}

/// One Entra account belongs to one technician: an account tagged for another technician is
/// refused, never re-enabled with a new password.
#[tokio::test]
async fn another_technicians_account_is_never_taken_over() {
    let f = fixture().await;
    let alice = spec("alice-jit", &[GLOBAL_ADMIN]);
    let first = f
        .graph
        .ensure_access(&f.tenant, &alice, None)
        .await
        .unwrap();
    let mut other = alice.clone();
    other.owner = "t-other".into();
    let err = f
        .graph
        .ensure_access(&f.tenant, &other, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, GraphError::AnotherTechniciansAccount { .. }),
        "{err:?}"
    );
    let user = f.sim.user(TENANT_ID, &first.user_id).unwrap();
    assert_eq!(
        user.password.as_deref(),
        Some(first.password.expose_secret())
    );
    assert_eq!(user.employee_id.as_deref(), Some("t-alice-jit"));
}

#[tokio::test]
async fn verification_fails_loudly_when_the_account_stays_enabled() {
    let f = fixture().await;
    let access = f
        .graph
        .ensure_access(&f.tenant, &spec("jit-judy", &[GLOBAL_ADMIN]), None)
        .await
        .unwrap();
    f.sim.keep_accounts_enabled(TENANT_ID, true);
    let report = f
        .graph
        .end_access(&f.tenant, &access.user_id, EndAction::Disable)
        .await
        .unwrap();
    assert!(!report.is_verified());
    let err = report.unverified.clone().unwrap();
    match &err {
        GraphError::EndNotVerified { user_id, problem } => {
            assert_eq!(user_id, &access.user_id);
            assert!(problem.contains("still enabled"), "{problem}");
        }
        other => panic!("expected EndNotVerified, got {other:?}"),
    }
    assert!(!err.to_string().contains(access.password.expose_secret()));
}

#[tokio::test]
async fn deleting_ends_access_and_a_gone_account_counts_as_ended() {
    let f = fixture().await;
    let access = f
        .graph
        .ensure_access(&f.tenant, &spec("jit-kim", &[GLOBAL_ADMIN]), None)
        .await
        .unwrap();
    let ended = f
        .graph
        .end_access(&f.tenant, &access.user_id, EndAction::Delete)
        .await
        .unwrap();
    assert!(!ended.already_gone);
    assert!(f.sim.user(TENANT_ID, &access.user_id).is_none());
    assert_eq!(f.sim.deleted_users(TENANT_ID).len(), 1);
    assert!(f.sim.role_assignments(TENANT_ID).is_empty());

    let again = f
        .graph
        .end_access(&f.tenant, &access.user_id, EndAction::Delete)
        .await
        .unwrap();
    assert!(again.already_gone);
}

// ---------------------------------------------------------------------------------------------
// Passwords
// ---------------------------------------------------------------------------------------------

#[test]
fn generated_passwords_always_meet_entra_rules() {
    let mut seen = BTreeSet::new();
    for _ in 0..5000 {
        let password = jitgate_graph::password::generate();
        let p = password.expose_secret();
        assert_eq!(p.chars().count(), jitgate_graph::password::GENERATED_LENGTH);
        // Our checker and the simulator's independent one must both agree.
        assert!(jitgate_graph::password::meets_entra_rules(p), "{p}");
        assert!(jitgate_sim::graph::password_meets_entra_rules(p), "{p}");
        assert!(p.chars().any(|c| c.is_ascii_lowercase()));
        assert!(p.chars().any(|c| c.is_ascii_uppercase()));
        assert!(p.chars().any(|c| c.is_ascii_digit()));
        assert!(p.chars().any(|c| !c.is_ascii_alphanumeric()));
        assert!(seen.insert(p.to_string()), "duplicate password");
    }
}

// ---------------------------------------------------------------------------------------------
// What a tenant check reads: token claims, domains, role definitions, the app's own role
// ---------------------------------------------------------------------------------------------

const PRIVILEGED_AUTH_ADMIN: &str = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13";

fn expect_permission_denied(error: GraphError, permission: &str) {
    match error {
        GraphError::PermissionDenied { code, message, .. } => {
            assert_eq!(code, "Authorization_RequestDenied");
            assert!(message.contains(permission), "{message}");
        }
        other => panic!("expected PermissionDenied naming {permission}, got {other:?}"),
    }
}

#[tokio::test]
async fn token_claims_name_the_tenant_the_app_and_the_consented_permissions() {
    let f = fixture().await;
    let claims = f.graph.token_claims(&f.tenant).await.unwrap();
    assert_eq!(claims.tenant_id, TENANT_ID);
    assert_eq!(claims.app_id, CLIENT_ID);
    assert_eq!(claims.object_id, f.sim.app_object_id(TENANT_ID));
    let roles: BTreeSet<&str> = claims.roles.iter().map(String::as_str).collect();
    assert_eq!(roles, CONSENTED_PERMISSIONS.iter().copied().collect());

    // A permission withdrawn shows at once: the claims come from a token requested now, not
    // from the cached one (Entra puts consent changes only into new tokens).
    f.sim
        .set_permission(TENANT_ID, "RoleManagement.ReadWrite.Directory", false);
    let claims = f.graph.token_claims(&f.tenant).await.unwrap();
    assert!(
        !claims
            .roles
            .iter()
            .any(|r| r == "RoleManagement.ReadWrite.Directory")
    );
    assert_eq!(claims.roles.len(), CONSENTED_PERMISSIONS.len() - 1);

    // The service principal's object id is stable per tenant, and differs between tenants.
    assert_eq!(claims.object_id, f.sim.app_object_id(TENANT_ID));
    let other_tenant = "7a2e3b4c-5d6e-4f70-8a9b-1c2d3e4f5a6b";
    f.sim.add_tenant(TenantSpec::new(
        other_tenant,
        CLIENT_ID,
        CLIENT_SECRET,
        DOMAIN,
    ));
    let other = f
        .graph
        .token_claims(&Tenant::new(other_tenant, CLIENT_ID, CLIENT_SECRET))
        .await
        .unwrap();
    assert_eq!(other.tenant_id, other_tenant);
    assert_ne!(other.object_id, claims.object_id);
}

#[tokio::test]
async fn token_claims_report_a_refused_token() {
    let f = fixture().await;
    let wrong = Tenant::new(TENANT_ID, CLIENT_ID, "not-the-secret");
    match f.graph.token_claims(&wrong).await {
        Err(GraphError::TokenRefused { aadsts, .. }) => assert_eq!(aadsts, Some(7000215)),
        other => panic!("expected TokenRefused, got {other:?}"),
    }
}

#[tokio::test]
async fn domains_list_default_initial_unverified_and_federated() {
    let sim = GraphSim::start(None).await;
    sim.add_tenant(
        TenantSpec::new(TENANT_ID, CLIENT_ID, CLIENT_SECRET, DOMAIN)
            .with_unverified_domain("pending.example")
            .with_federated_domain("corp.example"),
    );
    let graph = GraphClient::new(http_client(None), sim.login_url(), sim.graph_url())
        .with_retry_policy(fast_policy());
    let tenant = Tenant::new(TENANT_ID, CLIENT_ID, CLIENT_SECRET);
    let domains = graph.list_domains(&tenant).await.unwrap();
    let by_id = |id: &str| {
        domains
            .iter()
            .find(|d| d.id == id)
            .unwrap_or_else(|| panic!("no domain {id} in {domains:?}"))
    };
    let default = by_id(DOMAIN);
    assert!(default.is_default && !default.is_initial && default.can_hold_jit_accounts());
    let initial = by_id("contoso.onmicrosoft.com");
    assert!(initial.is_initial && !initial.is_default && initial.can_hold_jit_accounts());
    let pending = by_id("pending.example");
    assert!(!pending.is_verified && pending.is_managed() && !pending.can_hold_jit_accounts());
    let corp = by_id("corp.example");
    assert!(corp.is_verified && !corp.is_managed() && !corp.can_hold_jit_accounts());
    assert_eq!(corp.authentication_type, "Federated");
    assert_eq!(domains.len(), 4);
}

#[tokio::test]
async fn users_are_created_only_on_verified_managed_domains() {
    let f = fixture().await;
    f.sim
        .put_domain(TENANT_ID, SimDomain::unverified("pending.example"));
    f.sim
        .put_domain(TENANT_ID, SimDomain::federated("corp.example"));
    let password = jitgate_graph::password::generate();
    let on = |domain: &str| {
        let mut account = spec("jit-domain", &[]);
        account.upn = format!("jit-domain@{domain}");
        account
    };
    for (domain, expected) in [
        ("pending.example", "verified domain"),
        ("corp.example", "federated user"),
    ] {
        match f.graph.create_user(&f.tenant, &on(domain), &password).await {
            Err(GraphError::Rejected {
                status,
                code,
                message,
                ..
            }) => {
                assert_eq!((status, code.as_str()), (400, "Request_BadRequest"));
                assert!(message.contains(expected), "{message}");
            }
            other => panic!("expected a 400 for {domain}, got {other:?}"),
        }
    }
    assert!(f.sim.users(TENANT_ID).is_empty());

    // Verifying the domain (and keeping it managed) fixes it; so does the initial domain.
    f.sim.put_domain(
        TENANT_ID,
        SimDomain {
            is_verified: true,
            ..SimDomain::unverified("pending.example")
        },
    );
    f.graph
        .create_user(&f.tenant, &on("pending.example"), &password)
        .await
        .unwrap();
    f.graph
        .create_user(&f.tenant, &on("contoso.onmicrosoft.com"), &password)
        .await
        .unwrap();
    assert_eq!(f.sim.users(TENANT_ID).len(), 2);
}

#[tokio::test]
async fn listing_domains_needs_domain_read_all() {
    let f = fixture().await;
    f.sim.set_permission(TENANT_ID, "Domain.Read.All", false);
    let error = f.graph.list_domains(&f.tenant).await.unwrap_err();
    expect_permission_denied(error, "Domain.Read.All");
}

#[tokio::test]
async fn role_definitions_are_found_by_template_id() {
    let f = fixture().await;
    let global = f
        .graph
        .role_definition(&f.tenant, GLOBAL_ADMIN)
        .await
        .unwrap()
        .expect("Global Administrator exists");
    assert_eq!(global.display_name, "Global Administrator");
    assert_eq!(global.template_id, GLOBAL_ADMIN);
    assert!(global.is_built_in && global.is_enabled);

    // A mistyped role id is simply absent (not an error that looks like replication lag).
    let typo = "62e90394-69f5-4237-9190-012177145e11";
    assert_eq!(
        f.graph.role_definition(&f.tenant, typo).await.unwrap(),
        None
    );
    // Quotes cannot break out of the filter literal.
    assert_eq!(
        f.graph
            .role_definition(&f.tenant, "x' or '1' eq '1")
            .await
            .unwrap(),
        None
    );

    f.sim
        .set_permission(TENANT_ID, "RoleManagement.ReadWrite.Directory", false);
    let error = f
        .graph
        .role_definition(&f.tenant, GLOBAL_ADMIN)
        .await
        .unwrap_err();
    expect_permission_denied(error, "RoleManagement.ReadWrite.Directory");
}

#[tokio::test]
async fn the_apps_own_directory_role_is_read_through_its_object_id() {
    let f = fixture().await;
    let oid = f.graph.token_claims(&f.tenant).await.unwrap().object_id;
    let templates = |assignments: Vec<jitgate_graph::RoleAssignment>| {
        assignments
            .into_iter()
            .map(|a| {
                assert_eq!(a.principal_id, oid);
                a.role_definition_id
            })
            .collect::<Vec<_>>()
    };
    let held = f.graph.app_role_assignments(&f.tenant, &oid).await.unwrap();
    assert_eq!(templates(held), [USER_ADMIN]);

    f.sim
        .set_app_role(TENANT_ID, AppRole::PrivilegedAuthenticationAdministrator);
    let held = f.graph.app_role_assignments(&f.tenant, &oid).await.unwrap();
    assert_eq!(templates(held), [PRIVILEGED_AUTH_ADMIN]);

    f.sim.set_app_role(TENANT_ID, AppRole::None);
    assert!(
        f.graph
            .app_role_assignments(&f.tenant, &oid)
            .await
            .unwrap()
            .is_empty()
    );

    // A JIT account's assignments never show up as the app's.
    let user = f
        .sim
        .add_user(TENANT_ID, "someone@contoso.example", "Someone");
    f.sim.add_role_assignment(TENANT_ID, &user, GLOBAL_ADMIN);
    assert!(
        f.graph
            .app_role_assignments(&f.tenant, &oid)
            .await
            .unwrap()
            .is_empty()
    );

    f.sim
        .set_permission(TENANT_ID, "RoleManagement.ReadWrite.Directory", false);
    let error = f
        .graph
        .app_role_assignments(&f.tenant, &oid)
        .await
        .unwrap_err();
    expect_permission_denied(error, "RoleManagement.ReadWrite.Directory");
}

// ---------------------------------------------------------------------------------------------
// The admin-consent page stand-in
// ---------------------------------------------------------------------------------------------

const MSP_APP: &str = "5e6f7a8b-2222-4333-8444-999988887777";
const MSP_SECRET: &str = "Msp~App.Secret-9876543210";
const CALLBACK: &str = "https://jitgate.example/entra/consent/callback";

fn consent_url(sim: &GraphSim, tenant: &str, client_id: &str, redirect: &str) -> url::Url {
    let mut url = sim
        .login_url()
        .join(&format!("{tenant}/adminconsent"))
        .unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("state", "st4te+/=");
    url
}

/// Follows nothing: the 302's `Location` query, as the callback would receive it.
async fn consent_redirect(url: url::Url) -> std::collections::BTreeMap<String, String> {
    let response = http_client(None).get(url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(
        location.as_str().split('?').next().unwrap(),
        CALLBACK,
        "redirects only to the registered reply URL"
    );
    location.query_pairs().into_owned().collect()
}

async fn msp_fixture() -> Fixture {
    let f = fixture().await;
    f.sim.register_app(
        AppRegistration {
            client_id: MSP_APP.into(),
            client_secret: MSP_SECRET.into(),
            redirect_uris: vec![CALLBACK.into()],
            ..AppRegistration::default()
        }
        .with_certificate(REGISTERED_CERTIFICATE_PEM),
    );
    f
}

/// The MSP app registered with the test certificate and consented in the tenant.
async fn consented_msp_fixture() -> Fixture {
    let f = msp_fixture().await;
    consent_redirect(consent_url(&f.sim, TENANT_ID, MSP_APP, CALLBACK)).await;
    assert_eq!(f.sim.consented_apps(TENANT_ID), [MSP_APP]);
    f
}

fn certificate_tenant(pem: &str) -> Tenant {
    Tenant::with_certificate(
        TENANT_ID,
        MSP_APP,
        ClientCertificate::from_pem(pem).expect("fixture certificate"),
    )
}

#[tokio::test]
async fn a_registered_certificate_gets_a_token_and_graph_answers() {
    let f = consented_msp_fixture().await;
    let tenant = certificate_tenant(REGISTERED_CERTIFICATE_PEM);
    assert_eq!(
        f.graph
            .find_user_by_upn(&tenant, "nobody@contoso.example")
            .await
            .unwrap(),
        None
    );
    assert_eq!(f.sim.token_requests(TENANT_ID), 1);
    // The same certificate with its key as PKCS#1 is the same credential: the cached token.
    let pkcs1 = certificate_tenant(REGISTERED_CERTIFICATE_PKCS1_PEM);
    f.graph.check_connection(&pkcs1).await.unwrap();
    assert_eq!(f.sim.token_requests(TENANT_ID), 1);
    // The app's secret still works beside its certificate, with a token of its own.
    let with_secret = Tenant::new(TENANT_ID, MSP_APP, MSP_SECRET);
    f.graph.check_connection(&with_secret).await.unwrap();
    assert_eq!(f.sim.token_requests(TENANT_ID), 2);
    let claims = f.graph.token_claims(&tenant).await.unwrap();
    assert_eq!(
        (claims.tenant_id.as_str(), claims.app_id.as_str()),
        (TENANT_ID, MSP_APP)
    );
}

#[tokio::test]
async fn an_unregistered_certificate_is_refused_with_the_upload_advice() {
    let f = consented_msp_fixture().await;
    let tenant = certificate_tenant(UNREGISTERED_CERTIFICATE_PEM);
    let thumbprint = match &tenant.credential {
        jitgate_graph::ClientCredential::Certificate(c) => c.thumbprint(),
        other => panic!("{other:?}"),
    };
    match f.graph.token_claims(&tenant).await {
        Err(GraphError::TokenRefused {
            aadsts, message, ..
        }) => {
            assert_eq!(aadsts, Some(700027));
            assert!(message.contains("Certificates & secrets"), "{message}");
            assert!(message.contains("public part"), "{message}");
            assert!(message.contains(&thumbprint), "{message}");
        }
        other => panic!("expected AADSTS700027, got {other:?}"),
    }
    // A certificate never works for a customer's own app (secret-only).
    let own = Tenant::with_certificate(
        TENANT_ID,
        CLIENT_ID,
        ClientCertificate::from_pem(REGISTERED_CERTIFICATE_PEM).unwrap(),
    );
    match f.graph.check_connection(&own).await {
        Err(GraphError::TokenRefused { aadsts, .. }) => assert_eq!(aadsts, Some(700027)),
        other => panic!("expected AADSTS700027, got {other:?}"),
    }
}

/// Form fields sent beside the assertion.
type ExtraForm = Vec<(&'static str, String)>;

/// A hand-made client assertion, signed with the registered test key, with `edit` applied to
/// (header, claims) first.
fn hand_made_assertion(
    token_url: &str,
    edit: impl FnOnce(&mut serde_json::Value, &mut serde_json::Value),
) -> String {
    use base64::Engine as _;
    use rustls_pki_types::pem::{PemObject as _, SectionKind};
    use sha2::Digest as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let sections: Vec<(SectionKind, Vec<u8>)> =
        <(SectionKind, Vec<u8>)>::pem_slice_iter(REGISTERED_CERTIFICATE_PEM.as_bytes())
            .map(Result::unwrap)
            .collect();
    let der = |kind| {
        sections
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, d)| d.clone())
            .unwrap()
    };
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der(SectionKind::PrivateKey)).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut header = serde_json::json!({
        "alg": "PS256", "typ": "JWT",
        "x5t#S256": b64(&sha2::Sha256::digest(der(SectionKind::Certificate))),
    });
    let mut claims = serde_json::json!({
        "aud": token_url, "iss": MSP_APP, "sub": MSP_APP, "jti": "a7b0c1d2-0000-4000-8000-000000000001",
        "nbf": now, "iat": now, "exp": now + 600,
    });
    edit(&mut header, &mut claims);
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PSS_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{input}.{}", b64(&signature))
}

#[tokio::test]
async fn the_simulator_checks_client_assertions_strictly() {
    let f = consented_msp_fixture().await;
    let http = http_client(None);
    let token_url = f
        .sim
        .login_url()
        .join(&format!("{TENANT_ID}/oauth2/v2.0/token"))
        .unwrap()
        .to_string();
    let scope = format!(
        "{}/.default",
        f.sim.graph_url().origin().ascii_serialization()
    );
    let ask = |assertion: String, extra: ExtraForm| {
        let mut form = vec![
            ("client_id", MSP_APP.to_string()),
            ("scope", scope.clone()),
            ("grant_type", "client_credentials".to_string()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("client_assertion", assertion),
        ];
        form.extend(extra);
        let request = http.post(&token_url).form(&form);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body["error_codes"][0].as_u64(), body)
        }
    };
    // The hand-made assertion is right as it is (so each refusal below is about its edit).
    let (status, _, body) = ask(hand_made_assertion(&token_url, |_, _| {}), vec![]).await;
    assert_eq!(status, 200, "{body}");

    let now_minus = |secs: i64| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - secs
    };
    let cases: Vec<(&str, String, ExtraForm, u64)> = vec![
        (
            "expired",
            hand_made_assertion(&token_url, |_, c| c["exp"] = now_minus(400).into()),
            vec![],
            700024,
        ),
        (
            "not yet valid",
            hand_made_assertion(&token_url, |_, c| c["nbf"] = now_minus(-400).into()),
            vec![],
            700024,
        ),
        (
            "another tenant's token URL",
            hand_made_assertion(&token_url, |_, c| {
                c["aud"] = token_url.replace(TENANT_ID, DOMAIN).into()
            }),
            vec![],
            700023,
        ),
        (
            "issuer is not the client",
            hand_made_assertion(&token_url, |_, c| c["iss"] = CLIENT_ID.into()),
            vec![],
            700021,
        ),
        (
            "RS256 header",
            hand_made_assertion(&token_url, |h, _| h["alg"] = "RS256".into()),
            vec![],
            50027,
        ),
        (
            "no jti",
            hand_made_assertion(&token_url, |_, c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
            vec![],
            50027,
        ),
        (
            "unknown certificate",
            hand_made_assertion(&token_url, |h, _| h["x5t#S256"] = "AAAA".into()),
            vec![],
            700027,
        ),
        (
            "tampered claims",
            {
                let jwt = hand_made_assertion(&token_url, |_, _| {});
                let other = hand_made_assertion(&token_url, |_, c| c["sub"] = "x".into());
                let parts: Vec<&str> = jwt.split('.').collect();
                let other_claims = other.split('.').nth(1).unwrap();
                format!("{}.{other_claims}.{}", parts[0], parts[2])
            },
            vec![],
            700027,
        ),
        (
            "a secret alongside",
            hand_made_assertion(&token_url, |_, _| {}),
            vec![("client_secret", MSP_SECRET.to_string())],
            700027,
        ),
        ("not a JWT", "abc.def".to_string(), vec![], 50027),
    ];
    for (case, assertion, extra, code) in cases {
        let (status, got, body) = ask(assertion, extra).await;
        assert_eq!((status, got), (401, Some(code)), "{case}: {body}");
        assert_eq!(body["error"], "invalid_client", "{case}");
    }
}

#[tokio::test]
async fn admin_consent_redirects_back_and_lets_the_msp_app_in() {
    let f = msp_fixture().await;
    let msp_tenant = Tenant::new(TENANT_ID, MSP_APP, MSP_SECRET);

    // Before consent the MSP app has no service principal in the tenant.
    match f.graph.check_connection(&msp_tenant).await {
        Err(GraphError::TokenRefused { aadsts, .. }) => assert_eq!(aadsts, Some(700016)),
        other => panic!("expected AADSTS700016 before consent, got {other:?}"),
    }

    // Reached by a verified domain, the answer still names the tenant by its GUID.
    let answer = consent_redirect(consent_url(&f.sim, DOMAIN, MSP_APP, CALLBACK)).await;
    assert_eq!(answer["admin_consent"], "True");
    assert_eq!(answer["tenant"], TENANT_ID);
    assert_eq!(answer["state"], "st4te+/=");
    assert!(!answer.contains_key("error"));
    assert_eq!(f.sim.consented_apps(TENANT_ID), [MSP_APP]);

    let claims = f.graph.token_claims(&msp_tenant).await.unwrap();
    assert_eq!(
        (claims.tenant_id.as_str(), claims.app_id.as_str()),
        (TENANT_ID, MSP_APP)
    );
    // A wrong secret for the MSP app is still refused.
    let wrong = Tenant::new(TENANT_ID, MSP_APP, CLIENT_SECRET);
    match f.graph.check_connection(&wrong).await {
        Err(GraphError::TokenRefused { aadsts, .. }) => assert_eq!(aadsts, Some(7000215)),
        other => panic!("expected AADSTS7000215, got {other:?}"),
    }

    // `common`: the tenant is the signed-in administrator's.
    f.sim.revoke_consent(TENANT_ID, MSP_APP);
    f.sim.sign_in_admin_of(TENANT_ID);
    let answer = consent_redirect(consent_url(&f.sim, "common", MSP_APP, CALLBACK)).await;
    assert_eq!(answer["tenant"], TENANT_ID);
    assert_eq!(f.sim.consented_apps(TENANT_ID), [MSP_APP]);
}

#[tokio::test]
async fn admin_consent_refusals_come_back_as_errors_and_grant_nothing() {
    let f = msp_fixture().await;
    for refusal in [
        ConsentAnswer::declined(),
        ConsentAnswer::permission_denied(),
    ] {
        f.sim.set_consent_answer(TENANT_ID, refusal.clone());
        let answer = consent_redirect(consent_url(&f.sim, TENANT_ID, MSP_APP, CALLBACK)).await;
        let ConsentAnswer::Refuse {
            error,
            error_description,
        } = refusal
        else {
            unreachable!()
        };
        assert_eq!(answer["error"], error);
        assert_eq!(answer["error_description"], error_description);
        assert_eq!(answer["state"], "st4te+/=");
        assert!(!answer.contains_key("admin_consent") && !answer.contains_key("tenant"));
    }
    assert!(f.sim.consented_apps(TENANT_ID).is_empty());
}

#[tokio::test]
async fn admin_consent_shows_an_error_page_instead_of_redirecting_anywhere_untrusted() {
    let f = msp_fixture().await;
    let http = http_client(None);
    for (url, code) in [
        (
            consent_url(
                &f.sim,
                TENANT_ID,
                "00000000-0000-4000-8000-000000000000",
                CALLBACK,
            ),
            "AADSTS700016",
        ),
        (
            consent_url(&f.sim, TENANT_ID, MSP_APP, "https://evil.example/cb"),
            "AADSTS50011",
        ),
        (
            consent_url(&f.sim, "nobody.example", MSP_APP, CALLBACK),
            "AADSTS90002",
        ),
        (
            consent_url(&f.sim, "common", MSP_APP, CALLBACK),
            "AADSTS90002",
        ),
    ] {
        let response = http.get(url.clone()).send().await.unwrap();
        assert_eq!(response.status(), 400, "{url}");
        assert!(response.headers().get("location").is_none(), "{url}");
        let page = response.text().await.unwrap();
        assert!(page.contains(code), "{url}: {page}");
    }
    assert!(f.sim.consented_apps(TENANT_ID).is_empty());
}

// ---------------------------------------------------------------------------------------------
// The simulator itself is strict (a fake that accepts anything proves nothing)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_simulator_enforces_graph_contracts() {
    let f = fixture().await;
    let http = http_client(None);
    let users = f.sim.graph_url().join("v1.0/users").unwrap();

    // No bearer: 401 in Graph's error shape, ids in headers and body.
    let response = http
        .get(users.clone())
        .header("client-request-id", "11111111-2222-4333-8444-555555555555")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let request_id = response.headers()["request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        response.headers()["client-request-id"],
        "11111111-2222-4333-8444-555555555555"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(
        body["error"]["innerError"]["request-id"],
        request_id.as_str()
    );

    // A token for the wrong resource is refused by the token endpoint.
    let token_url = f
        .sim
        .login_url()
        .join(&format!("{TENANT_ID}/oauth2/v2.0/token"))
        .unwrap();
    let form = |scope: &str| {
        vec![
            ("client_id", CLIENT_ID.to_string()),
            ("client_secret", CLIENT_SECRET.to_string()),
            ("scope", scope.to_string()),
            ("grant_type", "client_credentials".to_string()),
        ]
    };
    let wrong = http
        .post(token_url.clone())
        .form(&form("https://graph.microsoft.com/User.Read"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(body["error_codes"][0], 1002012);
    assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());

    let scope = format!(
        "{}/.default",
        f.sim.graph_url().origin().ascii_serialization()
    );
    let token: serde_json::Value = http
        .post(token_url)
        .form(&form(&scope))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = token["access_token"].as_str().unwrap().to_string();
    assert!(token["expires_in"].as_u64().unwrap() > 3000);

    let create = |body: serde_json::Value| {
        http.post(users.clone())
            .bearer_auth(&bearer)
            .json(&body)
            .send()
    };
    let valid = serde_json::json!({
        "accountEnabled": true,
        "displayName": "Strict",
        "mailNickname": "strict",
        "userPrincipalName": "strict@contoso.example",
        "passwordProfile": { "password": "Valid-Passw0rd" },
    });
    let mut cases = Vec::new();
    let mut missing_profile = valid.clone();
    missing_profile
        .as_object_mut()
        .unwrap()
        .remove("passwordProfile");
    cases.push(("missing passwordProfile", missing_profile));
    let mut weak = valid.clone();
    weak["passwordProfile"]["password"] = "password1".into();
    cases.push(("weak password", weak));
    let mut unverified = valid.clone();
    unverified["userPrincipalName"] = "strict@fabrikam.example".into();
    cases.push(("unverified domain", unverified));
    let mut dot_before_at = valid.clone();
    dot_before_at["userPrincipalName"] = "strict.@contoso.example".into();
    cases.push(("dot before @", dot_before_at));
    for (case, body) in cases {
        let response = create(body).await.unwrap();
        assert_eq!(response.status(), 400, "{case}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "Request_BadRequest", "{case}");
    }

    let created = create(valid.clone()).await.unwrap();
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    let duplicate = create(valid).await.unwrap();
    assert_eq!(duplicate.status(), 400);
    let body: serde_json::Value = duplicate.json().await.unwrap();
    assert_eq!(body["error"]["details"][0]["code"], "ObjectConflict");

    // Without $select, Graph does not return accountEnabled.
    let id = created["id"].as_str().unwrap();
    let read: serde_json::Value = http
        .get(users.join(&format!("users/{id}")).unwrap())
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["userPrincipalName"], "strict@contoso.example");
    assert!(read.get("accountEnabled").is_none());

    // Unknown segments answer in Graph's shape too.
    let unknown = http
        .get(f.sim.graph_url().join("v1.0/nonsense").unwrap())
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    assert!(unknown.headers().contains_key("request-id"));
}

#[tokio::test]
async fn dropping_the_simulator_stops_it() {
    let sim = GraphSim::start(None).await;
    let addr = sim.addr();
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    drop(sim);
    let deadline = Instant::now() + Duration::from_secs(2);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "simulator still accepting after drop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips: what a provision and an end cost in Graph calls (issue 16)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_new_account_costs_a_create_and_one_call_per_role_and_an_end_four_round_trips() {
    let f = fixture().await;
    f.graph.check_connection(&f.tenant).await.unwrap();
    let before = f.sim.graph_calls();
    let access = f
        .graph
        .ensure_access(&f.tenant, &spec("jit-ria", &[GLOBAL_ADMIN]), None)
        .await
        .unwrap();
    assert_eq!(
        f.sim.graph_calls() - before,
        2,
        "create, assign: {:?}",
        f.sim.request_log()
    );

    f.sim.clear_request_log();
    let before = f.sim.graph_calls();
    let report = f
        .graph
        .end_access(&f.tenant, &access.user_id, EndAction::Disable)
        .await
        .unwrap();
    assert!(report.is_verified(), "{report:?}");
    let log = f.sim.request_log();
    assert_eq!(
        f.sim.graph_calls() - before,
        4,
        "list roles, delete the role, one batch of the rest, one batch reading back: {log:?}"
    );
    let batched: Vec<(String, String)> = log
        .iter()
        .filter(|r| r.batched)
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(batched.len(), 6, "{batched:?}");
    let user = f.sim.user(TENANT_ID, &access.user_id).unwrap();
    assert!(!user.account_enabled);
    assert!(
        f.sim
            .role_assignments_of(TENANT_ID, &access.user_id)
            .is_empty()
    );
}

#[tokio::test]
async fn an_end_throttled_by_graph_changes_nothing_and_reports_the_wait() {
    let f = fixture().await;
    let access = f
        .graph
        .ensure_access(&f.tenant, &spec("jit-sam", &[GLOBAL_ADMIN]), None)
        .await
        .unwrap();
    // Every inner request of the batches answers 429 with Retry-After 30 s; the role removal
    // before them is not throttled.
    f.sim.set_pace(jitgate_sim::graph::Pace {
        throttle_share: 1.0,
        throttle_retry_after: Duration::from_secs(30),
        ..jitgate_sim::graph::Pace::instant(7)
    });
    let report = f
        .graph
        .end_access(&f.tenant, &access.user_id, EndAction::Disable)
        .await;
    f.sim.clear_pace();
    match report {
        // The role removal itself was throttled: nothing could be done.
        Err(GraphError::Throttled { retry_after, .. }) => {
            assert_eq!(retry_after, Duration::from_secs(30))
        }
        Ok(report) => {
            assert!(!report.is_verified());
            assert_eq!(report.retry_after(), Some(Duration::from_secs(30)));
        }
        Err(other) => panic!("unexpected {other:?}"),
    }
    let user = f.sim.user(TENANT_ID, &access.user_id).unwrap();
    assert!(user.account_enabled, "throttled requests change nothing");
}

#[tokio::test]
async fn a_throttled_tenant_is_left_alone_and_another_tenant_goes_on() {
    const OTHER_TENANT: &str = "7a2e3b4c-5d6e-4f70-8a9b-1c2d3e4f5a6b";
    let f = fixture().await;
    f.sim.add_tenant(TenantSpec::new(
        OTHER_TENANT,
        CLIENT_ID,
        CLIENT_SECRET,
        DOMAIN,
    ));
    let other = Tenant::new(OTHER_TENANT, CLIENT_ID, CLIENT_SECRET);
    f.graph.check_connection(&f.tenant).await.unwrap();
    f.graph.check_connection(&other).await.unwrap();

    f.sim.throttle_next(1, 30);
    let first = f
        .graph
        .get_user(&f.tenant, "00000000-0000-0000-0000-000000000001")
        .await;
    assert!(
        matches!(first, Err(GraphError::Throttled { .. })),
        "{first:?}"
    );
    let sent = f.sim.graph_calls();

    // The throttled tenant gets no request until its Retry-After has passed…
    let again = f
        .graph
        .get_user(&f.tenant, "00000000-0000-0000-0000-000000000001")
        .await;
    match again {
        Err(GraphError::Throttled { retry_after, .. }) => {
            assert!(retry_after > Duration::from_secs(25), "{retry_after:?}")
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
    assert_eq!(
        f.sim.graph_calls(),
        sent,
        "nothing was sent to the throttled tenant"
    );

    // …while another tenant's work goes on.
    let access = f
        .graph
        .ensure_access(&other, &spec("jit-tom", &[GLOBAL_ADMIN]), None)
        .await
        .expect("another tenant is not held up");
    assert!(access.created);
}

#[tokio::test]
async fn a_request_throttled_inside_a_batch_is_sent_again_after_a_short_retry_after() {
    let f = fixture().await;
    let access = f
        .graph
        .ensure_access(&f.tenant, &spec("jit-una", &[GLOBAL_ADMIN]), None)
        .await
        .unwrap();
    f.sim.clear_request_log();
    // The disable inside the end's batch answers 429 once, Retry-After 1 s.
    f.sim.inject(
        jitgate_sim::graph::Fault::throttle(1, 1)
            .on("PATCH", &format!("/v1.0/users/{}", access.user_id)),
    );
    let report = f
        .graph
        .end_access(&f.tenant, &access.user_id, EndAction::Disable)
        .await
        .unwrap();
    assert!(report.is_verified(), "{report:?}");
    assert!(report.failures().next().is_none(), "{report:?}");
    let log = f.sim.request_log();
    let throttled: Vec<_> = log.iter().filter(|r| r.status == 429).collect();
    assert_eq!(throttled.len(), 1, "{log:?}");
    assert!(throttled[0].batched);
    assert!(
        !f.sim
            .user(TENANT_ID, &access.user_id)
            .unwrap()
            .account_enabled
    );
}
