//! `spawn_app()` and friends.

use jitgate::app::Application;
use jitgate::config::Config;
use jitgate::crypto::Keyring;
use jitgate::store::{self, Db};
use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use tokio_util::sync::CancellationToken;

/// Everything the app logged in this test process, to prove secrets never reach a log line.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

#[derive(Clone)]
struct BufferWriter;

impl Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        log_buffer().lock().unwrap().extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logging() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_env_filter("debug,sqlx=warn,hyper=info,h2=info,rustls=info,apalis=info")
            .with_writer(|| BufferWriter)
            .with_ansi(false)
            .init();
    });
}

pub struct TestApp {
    pub url: String,
    pub db: Db,
    pub keyring: Arc<Keyring>,
    pub http: reqwest::Client,
    pub admin_token: String,
    pub dir: tempfile::TempDir,
    pub config: Config,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<()>>,
    postgres: Option<PostgresDatabase>,
}

/// Settings a test may change before the app starts.
pub type Configure = Box<dyn FnOnce(&mut Config)>;

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Box::new(|_| {})).await
}

pub async fn spawn_app_with(configure: Configure) -> TestApp {
    init_logging();
    jitgate::http_client::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let postgres = PostgresDatabase::create_if_configured().await;
    let mut config = Config {
        listen: addr,
        database_url: match &postgres {
            Some(pg) => pg.url.clone(),
            None => format!("sqlite://{}", dir.path().join("jitgate.db").display()),
        },
        public_url: format!("http://{addr}").parse().unwrap(),
        master_key_file: dir.path().join("master.key"),
        // Nothing in a test talks to Microsoft: without a simulator, Graph and the login
        // endpoint are a closed local port (tests with simulators point these at them).
        graph_url: "http://127.0.0.1:9/".parse().unwrap(),
        login_url: "http://127.0.0.1:9/".parse().unwrap(),
        ..Config::default()
    };
    configure(&mut config);
    let app = Application::build_with_listener(config.clone(), listener)
        .await
        .expect("app starts");
    let state = app.state().clone();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(async move { app.run().await.expect("server runs") });
    let (_, admin_token) = store::tokens::create(&state.db, "test admin", &[])
        .await
        .unwrap();
    TestApp {
        url: format!("http://{addr}"),
        db: state.db.clone(),
        keyring: state.keyring.clone(),
        http: reqwest::Client::new(),
        admin_token,
        dir,
        config,
        shutdown,
        server: Some(server),
        postgres,
    }
}

/// The admin API of a running jitgate, in-process or a child process.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub url: String,
    pub token: String,
}

impl Api {
    /// A call with the admin token that must succeed; returns the body.
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request reaches the app");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {json}"
        );
        json
    }
}

impl TestApp {
    pub fn api(&self) -> Api {
        Api {
            http: self.http.clone(),
            url: self.url.clone(),
            token: self.admin_token.clone(),
        }
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request reaches the app");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    /// A call with the admin token that must succeed; returns the body.
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, json) = self
            .request(method, path, Some(&self.admin_token), body)
            .await;
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {json}"
        );
        json
    }

    pub async fn create_customer(&self, name: &str) -> String {
        let c = self
            .admin(
                "POST",
                "/api/v1/customers",
                Some(serde_json::json!({ "name": name })),
            )
            .await;
        c["id"].as_str().unwrap().to_string()
    }

    /// Stop the server and wait for it to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// The SQLite database files, byte for byte.
    pub fn sqlite_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("jitgate.db")
            {
                all.extend(std::fs::read(path).unwrap());
            }
        }
        all
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A uniquely named PostgreSQL database for one test, dropped afterwards.
pub struct PostgresDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PostgresDatabase {
    /// `JITGATE_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432` selects PostgreSQL; an
    /// unreachable server fails the test rather than skipping it.
    pub async fn create_if_configured() -> Option<PostgresDatabase> {
        let admin_url = std::env::var("JITGATE_TEST_POSTGRES")
            .ok()
            .filter(|u| !u.is_empty())?;
        let name = format!(
            "jitgate_test_{}",
            ulid::Ulid::generate().to_string().to_ascii_lowercase()
        );
        let admin_db = format!("{}/postgres", admin_url.trim_end_matches('/'));
        let pool = sqlx::PgPool::connect(&admin_db).await.unwrap_or_else(|e| {
            panic!("JITGATE_TEST_POSTGRES is set but PostgreSQL is unreachable at {admin_url}: {e}")
        });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        Some(PostgresDatabase {
            url: format!("{}/{name}", admin_url.trim_end_matches('/')),
            admin_url,
            name,
        })
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let admin_db = format!("{}/postgres", self.admin_url.trim_end_matches('/'));
        let name = self.name.clone();
        // Drop runs outside async context; a short-lived runtime on its own thread does the DROP.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(pool) = sqlx::PgPool::connect(&admin_db).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&pool)
                    .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}
