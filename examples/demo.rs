//! A guided demo of the whole jitgate flow on one machine, with nothing to sign up for.
//!
//! It starts jitgate on a throwaway SQLite database, a simulated Microsoft Entra tenant and a
//! simulated ConnectWise PSA (the same contract-faithful simulators the tests use, so the demo
//! cannot drift from the real behaviour), sets everything up through the real admin API, plays
//! a technician ticking "Request JIT account" on a ticket, and narrates what happens until the
//! grant has ended.
//!
//! ```text
//! cargo run --release --example demo                      # 60 s grant, live progress bar
//! cargo run --release --example demo -- --duration 10s    # a shorter grant
//! cargo run --example demo -- --short                     # a few seconds, plain output
//! ```
//!
//! The integration test `tests/it/demo.rs` includes this file and runs [`run`] in its short
//! mode, so everything here is shared by the example and the test except `main`.

use clap::Parser;
use jitgate::app::Application;
use jitgate::config::Config;
use jitgate::domain::duration::DurationSetting;
use jitgate::domain::roles::KNOWN_ROLES;
use jitgate_sim::connectwise::{ConnectWiseSim, CwNote, SeedTicket};
use jitgate_sim::graph::{GraphSim, SimUser, TenantSpec};
use jitgate_sim::tls::TestCa;
use serde_json::{Value, json};
use std::io::{IsTerminal, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

// The simulated world. The tenant id, app id and secret are made up; they exist only inside
// the Graph simulator for as long as the demo runs.
const TENANT: &str = "7d3c1a52-41b6-4c2b-9f5e-2b8d6f1e0a11";
const CLIENT_ID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
const CLIENT_SECRET: &str = "simulated~client~secret~0042";
const DOMAIN: &str = "fabrikam.com";
const CUSTOMER: &str = "Fabrikam";
const COMPANY: u64 = 250;
const TICKET: u64 = 1001;
const TRIGGER_FIELD: &str = "Request JIT account";
const MEMBER: &str = "alice";
const TECHNICIAN_EMAIL: &str = "alice@msp.example";
const TECHNICIAN_NAME: &str = "Alice Smith";
const ROLES: [&str; 2] = ["Global Administrator", "User Administrator"];

const DEFAULT_PORT: u16 = 8080;
const DEFAULT_GRANT: Duration = Duration::from_secs(60);
const SHORT_GRANT: Duration = Duration::from_secs(3);
/// How long background work (provisioning, notes, the end of a grant) may take before the demo
/// gives up and says what it was waiting for.
const PATIENCE: Duration = Duration::from_secs(30);

pub type DemoError = Box<dyn std::error::Error>;

/// `cargo run --example demo -- --help`
#[derive(Parser, Debug)]
#[command(
    name = "demo",
    about = "A guided demo of jitgate with a simulated Entra tenant and a simulated ConnectWise PSA"
)]
pub struct Args {
    /// How long the JIT grant lasts, e.g. 10s or 2m (default 60s; 3s with --short).
    #[arg(long, value_parser = DurationSetting::parse)]
    pub duration: Option<DurationSetting>,
    /// Port for jitgate on 127.0.0.1 (default 8080, or any free port if it is taken; any free
    /// port with --short).
    #[arg(long)]
    pub port: Option<u16>,
    /// Run through in a few seconds with plain output and no pauses (for tests and CI).
    #[arg(long)]
    pub short: bool,
}

/// What [`run`] needs to know; built from [`Args`] and the terminal by [`Args::into_options`].
pub struct DemoOptions {
    /// Length of the grant the technician gets.
    pub grant: Duration,
    /// Preferred port for jitgate; 0 takes any free port.
    pub port: u16,
    /// Wait for Enter before the technician's request (only when a person is at the keyboard).
    pub pause: bool,
    pub style: Style,
    /// Cancelled on Ctrl-C: the demo stops jitgate and the simulators and returns.
    pub stop: CancellationToken,
}

/// How output looks: a live terminal gets colours, symbols and a redrawn progress bar; anything
/// else (a pipe, a log file, the test) gets plain ASCII lines.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub live: bool,
    pub color: bool,
}

impl Style {
    pub const PLAIN: Style = Style {
        live: false,
        color: false,
    };

    /// Live output only on a terminal; colours also honour the `NO_COLOR` convention.
    pub fn for_stdout() -> Style {
        let live = std::io::stdout().is_terminal();
        let color = live && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Style { live, color }
    }
}

impl Args {
    pub fn into_options(self, stop: CancellationToken) -> DemoOptions {
        let default_grant = if self.short {
            SHORT_GRANT
        } else {
            DEFAULT_GRANT
        };
        let default_port = if self.short { 0 } else { DEFAULT_PORT };
        DemoOptions {
            grant: self.duration.map_or(default_grant, DurationSetting::get),
            port: self.port.unwrap_or(default_port),
            pause: !self.short && std::io::stdin().is_terminal(),
            style: if self.short {
                Style::PLAIN
            } else {
                Style::for_stdout()
            },
            stop,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The grant ended and was verified; the story is complete.
    Completed,
    /// Ctrl-C: everything was stopped and cleaned up early.
    Interrupted,
}

// Only the example calls `main`; the test includes this file and calls `run`.
#[allow(dead_code)]
#[tokio::main]
async fn main() {
    init_logs_if_asked();
    let stop = CancellationToken::new();
    stop_on_ctrl_c(stop.clone());
    let options = Args::parse().into_options(stop);
    let mut stdout = std::io::stdout();
    match run(options, &mut stdout).await {
        Ok(Outcome::Completed) => {}
        Ok(Outcome::Interrupted) => std::process::exit(130),
        Err(e) => {
            let _ = writeln!(stdout);
            eprintln!("demo failed: {e}");
            std::process::exit(1);
        }
    }
}

/// jitgate's own logs would drown the story; `RUST_LOG=info` shows them on stderr.
#[allow(dead_code)]
fn init_logs_if_asked() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
}

/// The first Ctrl-C stops the demo cleanly; a second one leaves at once.
#[allow(dead_code)]
fn stop_on_ctrl_c(stop: CancellationToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.cancel();
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
}

/// Run the whole demo, narrating to `out`. Returns once the grant has ended, or early (and
/// cleanly) when `opts.stop` is cancelled.
pub async fn run(opts: DemoOptions, out: &mut impl Write) -> Result<Outcome, DemoError> {
    let mut say = Narrator::new(out, opts.style);
    say.title(opts.grant)?;
    let stage = Stage::start(&opts, &mut say).await?;
    let told = tokio::select! {
        // A Ctrl-C during start-up wins over the first step.
        biased;
        _ = opts.stop.cancelled() => Ok(Outcome::Interrupted),
        told = story(&stage, &opts, &mut say) => told,
    };
    if let Ok(Outcome::Interrupted) = told {
        say.end_line()?;
        say.blank()?;
        say.warn("Interrupted: stopping jitgate and the simulators.")?;
    }
    let dir = stage.dir.path().display().to_string();
    stage.stop().await?;
    say.info(&format!(
        "Stopped jitgate and the simulators; removed {dir}."
    ))?;
    told
}

/// The technician's side of the story, once everything runs.
async fn story(
    stage: &Stage,
    opts: &DemoOptions,
    say: &mut Narrator<'_, impl Write>,
) -> Result<Outcome, DemoError> {
    let ids = set_up_through_admin_api(stage, say).await?;
    request_from_ticket(stage, opts, &ids, say).await?;
    watch_provisioning(stage, say).await?;
    let link = show_credentials_note(stage, say).await?;
    watch_the_end(stage, &link, say).await?;
    say.blank()?;
    say.heading("That was the whole flow.")?;
    say.info("In production the same steps run against a customer's real Entra tenant and your")?;
    say.info("PSA; README.md shows how to connect them.")?;
    Ok(Outcome::Completed)
}

// ---------------------------------------------------------------------------------------------
// The stage: simulators and jitgate
// ---------------------------------------------------------------------------------------------

/// Everything running for the demo. [`Stage::stop`] takes it all down again.
struct Stage {
    dir: tempfile::TempDir,
    graph: GraphSim,
    cw: ConnectWiseSim,
    /// `http://127.0.0.1:PORT`, jitgate's base URL.
    url: String,
    api: reqwest::Client,
    /// Created the way `jitgate admin token create` does; never printed.
    admin_token: String,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<Result<(), jitgate::app::StartError>>,
    // Kept alive for the simulators' certificates.
    _ca: TestCa,
}

impl Stage {
    async fn start(
        opts: &DemoOptions,
        say: &mut Narrator<'_, impl Write>,
    ) -> Result<Stage, DemoError> {
        jitgate::http_client::install_crypto_provider();
        let dir = tempfile::Builder::new().prefix("jitgate-demo-").tempdir()?;
        let ca = TestCa::generate();
        let ca_file = ca.write_ca_file(dir.path());

        say.step("Starting a simulated Microsoft Entra tenant and a simulated ConnectWise PSA")?;
        let graph = start_entra(&ca).await;
        say.ok(&format!(
            "Entra ID tenant {DOMAIN} (tenant id {TENANT}) with jitgate's app registration"
        ))?;
        say.detail(&format!(
            "Microsoft Graph simulator at {}",
            graph.graph_url()
        ))?;
        let cw = start_connectwise(&ca).await;
        say.ok(&format!(
            "ConnectWise PSA for the MSP \"{}\", with member {MEMBER} <{TECHNICIAN_EMAIL}>",
            cw.config().company_id
        ))?;
        say.detail(&format!("ConnectWise simulator at {}", cw.url()))?;

        say.step("Starting jitgate")?;
        let listener = bind(opts.port, say).await?;
        let addr = listener.local_addr()?;
        let config = demo_config(addr, dir.path(), &graph, ca_file, opts.grant)?;
        let app = Application::build_with_listener(config, listener).await?;
        let (_, admin_token) = jitgate::store::tokens::create(&app.state().db, "demo", &[]).await?;
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run());
        let url = format!("http://{addr}");
        say.ok(&format!("jitgate is listening on {url}"))?;
        say.detail(&format!(
            "SQLite database and master key in {}",
            dir.path().display()
        ))?;
        say.ok("Admin API token created, as `jitgate admin token create` does")?;
        say.detail("only its hash is stored; the demo keeps the token to itself")?;
        Ok(Stage {
            dir,
            graph,
            cw,
            url,
            api: reqwest::Client::new(),
            admin_token,
            shutdown,
            server,
            _ca: ca,
        })
    }

    /// Stop jitgate (letting jobs in flight finish), then the simulators; the temporary
    /// directory goes with the stage.
    async fn stop(self) -> Result<(), DemoError> {
        self.shutdown.cancel();
        self.server.await??;
        self.graph.shutdown();
        Ok(())
    }

    /// One admin API call with the demo's admin token; returns the status and the JSON body.
    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), DemoError> {
        let mut request = self
            .api
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.admin_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            return Err(format!("{path} answered {status}: {text}").into());
        }
        Ok((status, json))
    }

    fn jit_account(&self) -> Option<SimUser> {
        self.graph.users(TENANT).into_iter().next()
    }

    fn role_names(&self, user: &SimUser) -> Vec<&'static str> {
        self.graph
            .role_assignments_of(TENANT, &user.id)
            .iter()
            .map(|a| role_name(&a.role_definition_id))
            .collect()
    }
}

async fn start_entra(ca: &TestCa) -> GraphSim {
    let graph = GraphSim::start(Some(ca)).await;
    graph.add_tenant(TenantSpec::new(TENANT, CLIENT_ID, CLIENT_SECRET, DOMAIN));
    graph
}

async fn start_connectwise(ca: &TestCa) -> ConnectWiseSim {
    let cw = ConnectWiseSim::start(ca).await;
    cw.add_member(MEMBER, TECHNICIAN_EMAIL);
    cw
}

/// 127.0.0.1 on the preferred port, or on any free port when that one is taken, so a second
/// demo (or a jitgate already running on 8080) does not stop this one.
async fn bind(
    port: u16,
    say: &mut Narrator<'_, impl Write>,
) -> Result<tokio::net::TcpListener, DemoError> {
    let preferred = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    match tokio::net::TcpListener::bind(preferred).await {
        Ok(listener) => Ok(listener),
        Err(e) if port != 0 => {
            let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
            say.detail(&format!(
                "port {port} is not available ({e}); using port {} instead",
                listener.local_addr()?.port()
            ))?;
            Ok(listener)
        }
        Err(e) => Err(e.into()),
    }
}

/// jitgate's defaults, pointed at the simulators and a temporary directory, with short
/// intervals so the story moves along.
fn demo_config(
    addr: SocketAddr,
    dir: &std::path::Path,
    graph: &GraphSim,
    ca_file: std::path::PathBuf,
    grant: Duration,
) -> Result<Config, DemoError> {
    Ok(Config {
        listen: addr,
        database_url: format!("sqlite://{}", dir.join("jitgate.db").display()),
        public_url: format!("http://{addr}").parse()?,
        master_key_file: dir.join("master.key"),
        graph_url: graph.graph_url(),
        login_url: graph.login_url(),
        ca_file: Some(ca_file),
        jit_duration: DurationSetting::from_millis(grant.as_millis() as u64),
        poll_interval: DurationSetting::from_millis(100),
        sweep_interval: DurationSetting::from_secs(1),
        shutdown_timeout: DurationSetting::from_secs(5),
        ..Config::default()
    })
}

fn role_name(template_id: &str) -> &'static str {
    KNOWN_ROLES
        .iter()
        .find(|(_, id)| id.eq_ignore_ascii_case(template_id))
        .map_or("a custom role", |(name, _)| name)
}

// ---------------------------------------------------------------------------------------------
// The story, step by step
// ---------------------------------------------------------------------------------------------

struct SetupIds {
    connector_id: String,
    webhook_url: String,
}

/// What an MSP admin does once per customer, through the real admin API over HTTP.
async fn set_up_through_admin_api(
    stage: &Stage,
    say: &mut Narrator<'_, impl Write>,
) -> Result<SetupIds, DemoError> {
    use reqwest::Method;
    say.step("The MSP admin connects the customer (admin API, over HTTP)")?;

    let path = "/api/v1/customers";
    let (status, customer) = stage
        .admin(Method::POST, path, Some(json!({ "name": CUSTOMER })))
        .await?;
    let customer_id = id_of(&customer)?;
    say.api(
        "POST",
        path,
        status,
        &format!("customer \"{CUSTOMER}\" ({customer_id})"),
    )?;

    let path = format!("/api/v1/customers/{customer_id}/entra");
    let entra = json!({
        "tenant_id": TENANT, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "jit_domain": DOMAIN, "roles": ROLES, "expiry_action": "disable",
    });
    let (status, _) = stage.admin(Method::PUT, &path, Some(entra)).await?;
    say.api(
        "PUT",
        &path,
        status,
        &format!(
            "Entra connection: accounts in {DOMAIN} with {}; secret sealed, write-only",
            ROLES.join(" + ")
        ),
    )?;

    let path = "/api/v1/technicians";
    let technician = json!({ "email": TECHNICIAN_EMAIL, "display_name": TECHNICIAN_NAME });
    let (status, technician) = stage.admin(Method::POST, path, Some(technician)).await?;
    let technician_id = id_of(&technician)?;
    say.api(
        "POST",
        path,
        status,
        &format!("technician {TECHNICIAN_NAME} <{TECHNICIAN_EMAIL}>"),
    )?;

    let path = format!("/api/v1/technicians/{technician_id}/customers/{customer_id}");
    let (status, _) = stage.admin(Method::PUT, &path, None).await?;
    say.api(
        "PUT",
        &path,
        status,
        &format!("{TECHNICIAN_NAME} is delegated to {CUSTOMER}"),
    )?;

    let path = "/api/v1/connectors";
    let connector = json!({
        "kind": "connectwise", "name": "ConnectWise",
        "settings": stage.cw.connector_settings(json!({ "custom_field": TRIGGER_FIELD })),
        "secrets": stage.cw.connector_secrets(),
    });
    let (status, connector) = stage.admin(Method::POST, path, Some(connector)).await?;
    let connector_id = id_of(&connector)?;
    let webhook_url = connector["webhook_url"]
        .as_str()
        .ok_or("the connector answer has no webhook_url")?
        .to_string();
    say.api(
        "POST",
        path,
        status,
        &format!("ConnectWise connector, triggered by the \"{TRIGGER_FIELD}\" checkbox"),
    )?;
    say.detail(&format!(
        "its webhook URL (the ConnectWise callback points here): {webhook_url}"
    ))?;

    let path = format!("/api/v1/connectors/{connector_id}/companies/{COMPANY}");
    let mapping = json!({ "customer_id": customer_id });
    let (status, _) = stage.admin(Method::PUT, &path, Some(mapping)).await?;
    say.api(
        "PUT",
        &path,
        status,
        &format!("ConnectWise company {COMPANY} is customer {CUSTOMER}"),
    )?;
    Ok(SetupIds {
        connector_id,
        webhook_url,
    })
}

fn id_of(answer: &Value) -> Result<String, DemoError> {
    Ok(answer["id"]
        .as_str()
        .ok_or_else(|| format!("no id in {answer}"))?
        .to_string())
}

/// The technician ticks the checkbox and saves; ConnectWise sends jitgate a signed callback.
async fn request_from_ticket(
    stage: &Stage,
    opts: &DemoOptions,
    ids: &SetupIds,
    say: &mut Narrator<'_, impl Write>,
) -> Result<(), DemoError> {
    say.step("A technician asks for access from a ticket")?;
    let mut ticket =
        SeedTicket::new(TICKET, COMPANY).with_custom_field(12, TRIGGER_FIELD, json!(false));
    ticket.summary = "Set up a shared mailbox for Fabrikam's finance team".into();
    ticket.company_identifier = CUSTOMER.into();
    stage.cw.add_ticket(ticket);
    say.ok(&format!(
        "Ticket #{TICKET} for {CUSTOMER}: \"Set up a shared mailbox for Fabrikam's finance team\""
    ))?;
    if opts.pause {
        say.prompt(&format!(
            "Press Enter to tick \"{TRIGGER_FIELD}\" on the ticket as {TECHNICIAN_NAME} "
        ))?;
        wait_for_enter().await;
        say.answered();
    }
    stage
        .cw
        .set_custom_field(TICKET, TRIGGER_FIELD, json!(true), MEMBER);
    say.ok(&format!(
        "{TECHNICIAN_NAME} ticks \"{TRIGGER_FIELD}\" and saves; ConnectWise signs a callback"
    ))?;
    let delivery = stage.cw.ticket_delivery(TICKET, MEMBER, "updated");
    let mut request = stage.api.post(&ids.webhook_url).body(delivery.body);
    for (name, value) in &delivery.headers {
        request = request.header(name, value);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if status != 202 {
        return Err(format!("the webhook answered {status}: {answer}").into());
    }
    say.api(
        "POST",
        &format!("/webhooks/{}", ids.connector_id),
        status,
        &format!(
            "signature verified, then request {} recorded and queued in one transaction",
            answer["request_id"].as_str().unwrap_or("?")
        ),
    )?;
    say.detail("jitgate answers at once; Graph and the PSA are called in the background")?;
    Ok(())
}

/// Reads one line from the keyboard on a thread of its own: a blocked read must never hold up
/// the runtime's shutdown when Ctrl-C ends the demo.
async fn wait_for_enter() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        let _ = tx.send(());
    });
    let _ = rx.await;
}

/// The account and its roles appear in the simulated tenant.
async fn watch_provisioning(
    stage: &Stage,
    say: &mut Narrator<'_, impl Write>,
) -> Result<(), DemoError> {
    say.step("jitgate provisions the account in the customer's tenant")?;
    let user = wait_until("the JIT account in the simulated tenant", async || {
        stage.jit_account()
    })
    .await?;
    say.ok(&format!(
        "account created: {} (\"{}\"), enabled",
        user.user_principal_name, user.display_name
    ))?;
    let roles = wait_until("the account's roles", async || {
        let roles = stage.role_names(&user);
        (roles.len() >= ROLES.len()).then_some(roles)
    })
    .await?;
    say.ok(&format!("roles assigned: {}", roles.join(", ")))?;
    Ok(())
}

/// The internal note with the credential link, and the link itself, prominently.
async fn show_credentials_note(
    stage: &Stage,
    say: &mut Narrator<'_, impl Write>,
) -> Result<String, DemoError> {
    say.step(&format!(
        "jitgate writes an internal note on ticket #{TICKET}"
    ))?;
    let note = wait_until("the note with the credential link", async || {
        stage.cw.notes(TICKET).into_iter().next()
    })
    .await?;
    say.note(&note)?;
    if stage.cw.custom_field(TICKET, TRIGGER_FIELD) == Some(json!(false)) {
        say.ok(&format!(
            "\"{TRIGGER_FIELD}\" is unticked again, so later saves do not ask twice"
        ))?;
    }
    let link = credential_link(&note, &stage.url).ok_or("the note has no credential link")?;
    say.callout(
        "Open the credential link in your browser while the demo runs:",
        &link,
    )?;
    let status = link_status(stage, &link).await?;
    say.detail(&format!(
        "GET -> {status} {}: a page with a Reveal button and no secret, so link",
        reason(status)
    ))?;
    say.detail("previews and mail scanners see nothing. Reveal shows the username and password,")?;
    say.detail("which are never in the note, the logs or this output.")?;
    Ok(link)
}

/// What a plain GET of the credential link answers (no redirects are followed).
async fn link_status(stage: &Stage, link: &str) -> Result<u16, DemoError> {
    Ok(stage.api.get(link).send().await?.status().as_u16())
}

/// `{public_url}/c/{token}` as it appears in the note text.
fn credential_link(note: &CwNote, base: &str) -> Option<String> {
    let start = note.text.find(&format!("{base}/c/"))?;
    note.text[start..]
        .split_whitespace()
        .next()
        .map(str::to_string)
}

/// Count down to the end of the grant, then show what jitgate did when it ended.
async fn watch_the_end(
    stage: &Stage,
    link: &str,
    say: &mut Narrator<'_, impl Write>,
) -> Result<(), DemoError> {
    let grant = current_grant(stage).await?;
    let grant_id = id_of(&grant)?;
    let expires_at = grant["expires_at"]
        .as_i64()
        .ok_or("grant without expires_at")?;
    say.step(&format!("Access ends at {}", clock(expires_at)))?;
    count_down(expires_at, say).await?;
    say.detail(
        "jitgate removes the roles first, then disables the account, rotates its password,",
    )?;
    say.detail("revokes its sessions and reads everything back from Entra")?;
    let ended = wait_until("the grant to end", async || {
        let (_, grant) = stage
            .admin(
                reqwest::Method::GET,
                &format!("/api/v1/grants/{grant_id}"),
                None,
            )
            .await
            .ok()?;
        grant["ended_at"].is_i64().then_some(grant)
    })
    .await?;
    say.ok(&format!(
        "grant ended ({}) at {}, verified against Entra",
        ended["end_reason"].as_str().unwrap_or("ended"),
        clock(ended["ended_at"].as_i64().unwrap_or(expires_at))
    ))?;
    show_ended_account(stage, say)?;
    let closing = wait_until("the closing note", async || {
        stage.cw.notes(TICKET).into_iter().nth(1)
    })
    .await?;
    say.ok(&format!("closing note on ticket #{TICKET}:"))?;
    say.note(&closing)?;
    match link_status(stage, link).await? {
        status @ (404 | 410) => say.ok(&format!(
            "the credential link is dead: GET -> {status} {}",
            reason(status)
        ))?,
        status => say.warn(&format!("the credential link still answers {status}"))?,
    }
    Ok(())
}

async fn current_grant(stage: &Stage) -> Result<Value, DemoError> {
    let (_, grants) = stage
        .admin(reqwest::Method::GET, "/api/v1/grants", None)
        .await?;
    grants
        .as_array()
        .and_then(|g| g.first())
        .cloned()
        .ok_or_else(|| "no grant was recorded".into())
}

fn show_ended_account(stage: &Stage, say: &mut Narrator<'_, impl Write>) -> Result<(), DemoError> {
    let user = stage.jit_account().ok_or("the JIT account vanished")?;
    let state = if user.account_enabled {
        "STILL ENABLED"
    } else {
        "disabled"
    };
    say.ok(&format!("account {}: {state}", user.user_principal_name))?;
    let roles = stage.role_names(&user);
    if roles.is_empty() {
        say.ok("roles removed: none left")?;
    } else {
        say.warn(&format!("roles still assigned: {}", roles.join(", ")))?;
    }
    if user.password_changes > 0 && user.sessions_revoked > 0 {
        say.ok("password rotated to a value nobody knows, sign-in sessions revoked")?;
    } else {
        say.warn("password or sessions were not reset")?;
    }
    Ok(())
}

/// Wait until `expires_at`, with a redrawn bar on a terminal and a few plain lines elsewhere.
async fn count_down(expires_at: i64, say: &mut Narrator<'_, impl Write>) -> Result<(), DemoError> {
    let total = (expires_at - now_ms()).max(1);
    let mut last_plain = None;
    loop {
        let left = (expires_at - now_ms()).max(0);
        if say.style.live {
            say.progress(1.0 - left as f64 / total as f64, left)?;
        } else {
            // One line per 10 s step (and the first), not a line every tick.
            let step = (left + 9_999) / 10_000;
            if last_plain != Some(step) && left > 0 {
                say.detail(&format!("{} left", seconds(left)))?;
                last_plain = Some(step);
            }
        }
        if left == 0 {
            say.end_line()?;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(left.clamp(1, 200) as u64)).await;
    }
}

/// Poll `check` until it yields a value, for at most [`PATIENCE`] (plus nothing: background
/// steps are quick against the simulators).
async fn wait_until<T>(
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> Result<T, DemoError> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("gave up after {PATIENCE:?} waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// `14:02:11 UTC`
fn clock(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:02}:{:02}:{:02} UTC", at.hour(), at.minute(), at.second())
}

/// `1:05` for 65 s; seconds round up so the count never shows 0 before the end.
fn seconds(ms: i64) -> String {
    let secs = (ms + 999) / 1000;
    format!("{}:{:02}", secs / 60, secs % 60)
}

// ---------------------------------------------------------------------------------------------
// Narration
// ---------------------------------------------------------------------------------------------

const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";
const BAR_WIDTH: usize = 32;

/// Writes the story: numbered steps, results, API calls, notes and the progress bar.
struct Narrator<'a, W: Write> {
    out: &'a mut W,
    style: Style,
    step: usize,
    /// A progress bar or prompt is on the current line; the next line must start afresh.
    mid_line: bool,
}

impl<'a, W: Write> Narrator<'a, W> {
    fn new(out: &'a mut W, style: Style) -> Self {
        Narrator {
            out,
            style,
            step: 0,
            mid_line: false,
        }
    }

    fn paint(&self, color: &str, text: &str) -> String {
        if self.style.color {
            format!("{color}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn line(&mut self, text: &str) -> std::io::Result<()> {
        self.end_line()?;
        writeln!(self.out, "{text}")?;
        self.out.flush()
    }

    fn blank(&mut self) -> std::io::Result<()> {
        self.line("")
    }

    /// Finish a progress bar or prompt line, if one is open.
    fn end_line(&mut self) -> std::io::Result<()> {
        if self.mid_line {
            self.mid_line = false;
            writeln!(self.out)?;
        }
        Ok(())
    }

    fn title(&mut self, grant: Duration) -> std::io::Result<()> {
        let title = self.paint(BOLD, "jitgate demo");
        self.line(&format!(
            "{title}: a just-in-time admin account, requested from a PSA ticket, from start to end."
        ))?;
        self.line(
            "Everything runs on this machine: a simulated Entra tenant, a simulated ConnectWise",
        )?;
        self.line(&format!(
            "PSA and jitgate itself. The grant lasts {}. Ctrl-C stops at any point.",
            DurationSetting::from_millis(grant.as_millis() as u64)
        ))
    }

    fn heading(&mut self, text: &str) -> std::io::Result<()> {
        let text = self.paint(BOLD, text);
        self.line(&text)
    }

    fn step(&mut self, text: &str) -> std::io::Result<()> {
        self.step += 1;
        self.blank()?;
        let heading = format!("{}. {text}", self.step);
        self.heading(&heading)
    }

    fn ok(&mut self, text: &str) -> std::io::Result<()> {
        let mark = if self.style.live { "✓" } else { "*" };
        let mark = self.paint(GREEN, mark);
        self.line(&format!("  {mark} {text}"))
    }

    fn warn(&mut self, text: &str) -> std::io::Result<()> {
        let text = self.paint(YELLOW, &format!("! {text}"));
        self.line(&format!("  {text}"))
    }

    fn detail(&mut self, text: &str) -> std::io::Result<()> {
        let text = self.paint(DIM, text);
        self.line(&format!("    {text}"))
    }

    fn info(&mut self, text: &str) -> std::io::Result<()> {
        self.line(text)
    }

    /// A call and its answer, then what it did.
    fn api(&mut self, method: &str, path: &str, status: u16, what: &str) -> std::io::Result<()> {
        let call = self.paint(DIM, &format!("{method} {path}"));
        let what = what.trim_end();
        let status = self.paint(GREEN, &format!("{status} {}", reason(status)));
        self.ok(&format!("{call} -> {status}"))?;
        self.line(&format!("      {what}"))
    }

    /// A ticket note, framed, line by line as the PSA shows it.
    fn note(&mut self, note: &CwNote) -> std::io::Result<()> {
        let kind = if note.internal_analysis_flag && !note.detail_description_flag {
            "internal note, not visible to the customer"
        } else {
            "note"
        };
        let (top, side, bottom) = if self.style.live {
            ("┌─", "│", "└─")
        } else {
            ("+--", "|", "+--")
        };
        let top = self.paint(
            DIM,
            &format!("{top} ConnectWise ticket #{} ({kind})", note.ticket_id),
        );
        self.line(&format!("  {top}"))?;
        let side = self.paint(DIM, side);
        for text in note.text.lines() {
            self.line(format!("  {side} {text}").trim_end())?;
        }
        let bottom = self.paint(DIM, bottom);
        self.line(&format!("  {bottom}"))
    }

    fn callout(&mut self, label: &str, link: &str) -> std::io::Result<()> {
        self.blank()?;
        let label = self.paint(BOLD, label);
        self.line(&format!("  {label}"))?;
        self.blank()?;
        let link = self.paint(&format!("{BOLD}{CYAN}"), link);
        self.line(&format!("      {link}"))?;
        self.blank()
    }

    fn prompt(&mut self, text: &str) -> std::io::Result<()> {
        self.end_line()?;
        let text = self.paint(BOLD, text);
        write!(self.out, "  {text}")?;
        self.mid_line = true;
        self.out.flush()
    }

    /// The person pressed Enter, which the terminal echoed as the line break.
    fn answered(&mut self) {
        self.mid_line = false;
    }

    /// `  [██████████░░░░░░░░░░]  0:42 left`, redrawn in place.
    fn progress(&mut self, done: f64, left_ms: i64) -> std::io::Result<()> {
        let filled = ((done.clamp(0.0, 1.0)) * BAR_WIDTH as f64).round() as usize;
        let bar = format!("{}{}", "█".repeat(filled), "░".repeat(BAR_WIDTH - filled));
        let bar = self.paint(CYAN, &bar);
        write!(self.out, "\r  [{bar}] {} left ", seconds(left_ms))?;
        self.mid_line = true;
        self.out.flush()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        404 => "Not Found",
        410 => "Gone",
        _ => "",
    }
}
