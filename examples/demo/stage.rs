//! The stage: the simulators and jitgate, running for as long as the demo does.

use super::narrator::Narrator;
use super::{DemoError, DemoOptions};
use jitgate::app::Application;
use jitgate::config::Config;
use jitgate::domain::duration::DurationSetting;
use jitgate::domain::roles::KNOWN_ROLES;
use jitgate_sim::graph::SimUser;
use jitgate_sim::world::{Admin, DOMAIN, Sims, TENANT};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Everything running for the demo. [`Stage::stop`] takes it all down again.
pub(crate) struct Stage {
    pub(crate) dir: tempfile::TempDir,
    /// Entra (Graph) and ConnectWise, with Fabrikam's tenant.
    pub(crate) sims: Sims,
    /// `http://127.0.0.1:PORT`, jitgate's base URL.
    pub(crate) url: String,
    /// For what a PSA or a browser sends jitgate: webhooks, credential links.
    pub(crate) http: reqwest::Client,
    /// The admin API, with a token created the way `jitgate admin token create` does; the
    /// token is never printed.
    pub(crate) admin: Admin,
    /// jitgate's database, for what the CLI does on a server (a one-time sign-in link).
    pub(crate) db: jitgate::store::Db,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<Result<(), jitgate::app::StartError>>,
}

impl Stage {
    pub(crate) async fn start(
        opts: &DemoOptions,
        say: &mut Narrator<'_, impl Write>,
    ) -> Result<Stage, DemoError> {
        jitgate::http_client::install_crypto_provider();
        let dir = tempfile::Builder::new().prefix("jitgate-demo-").tempdir()?;

        say.step("Starting a simulated Microsoft Entra tenant and a simulated ConnectWise PSA")?;
        let sims = Sims::start().await;
        let (graph, cw) = (&sims.graph, &sims.cw);
        say.ok(&format!(
            "Entra ID tenant {DOMAIN} (tenant id {TENANT}) with jitgate's app registration"
        ))?;
        say.detail(&format!(
            "Microsoft Graph simulator at {}",
            graph.graph_url()
        ))?;
        say.ok(&format!(
            "ConnectWise PSA for the MSP \"{}\"",
            cw.config().company_id
        ))?;
        say.detail(&format!("ConnectWise simulator at {}", cw.url()))?;

        say.step("Starting jitgate")?;
        let listener = bind(opts.port, say).await?;
        let addr = listener.local_addr()?;
        let config = demo_config(addr, dir.path(), &sims, opts.grant)?;
        let app = Application::build_with_listener(config, listener).await?;
        let db = app.state().db.clone();
        let (_, admin_token) = jitgate::store::tokens::create(&db, "demo", &[]).await?;
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
            sims,
            admin: Admin::new(&url, &admin_token),
            url,
            // A browser's first hop only: the demo shows what each answer is.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            db,
            shutdown,
            server,
        })
    }

    /// Stop jitgate (letting jobs in flight finish), then the simulators; the temporary
    /// directory goes with the stage.
    pub(crate) async fn stop(self) -> Result<(), DemoError> {
        self.shutdown.cancel();
        self.server.await??;
        self.sims.graph.shutdown();
        Ok(())
    }

    pub(crate) fn jit_account(&self) -> Option<SimUser> {
        self.sims.graph.users(TENANT).into_iter().next()
    }

    pub(crate) fn role_names(&self, user: &SimUser) -> Vec<&'static str> {
        self.sims
            .graph
            .role_assignments_of(TENANT, &user.id)
            .iter()
            .map(|a| role_name(&a.role_definition_id))
            .collect()
    }
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
    sims: &Sims,
    grant: Duration,
) -> Result<Config, DemoError> {
    Ok(Config {
        listen: addr,
        database_url: format!("sqlite://{}", dir.join("jitgate.db").display()),
        public_url: format!("http://{addr}").parse()?,
        master_key_file: dir.join("master.key"),
        graph_url: sims.graph.graph_url(),
        login_url: sims.graph.login_url(),
        ca_file: Some(sims.ca_file.clone()),
        jit_duration: DurationSetting::from_millis(grant.as_millis() as u64),
        poll_interval: DurationSetting::from_millis(100),
        sweep_interval: DurationSetting::from_secs(1),
        shutdown_timeout: DurationSetting::from_secs(5),
        // The link in the note opens the grant in the portal, for its technician only.
        credential_links: jitgate::config::CredentialLinks::SignIn,
        ..Config::default()
    })
}

fn role_name(template_id: &str) -> &'static str {
    KNOWN_ROLES
        .iter()
        .find(|(_, id)| id.eq_ignore_ascii_case(template_id))
        .map_or("a custom role", |(name, _)| name)
}
