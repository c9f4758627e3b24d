//! The `jitgate` command line.

use crate::app::{self, Application};
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::store;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "jitgate",
    version,
    about = "Just-in-time Entra ID admin accounts, requested from PSA tickets"
)]
pub struct Cli {
    /// Settings file (default: config/jitgate.toml if present). JITGATE_* variables override it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the HTTP server and the background workers.
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Admin API tokens.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The master key that seals stored secrets.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Print the OpenAPI document of the admin API.
    Openapi,
    /// Exit 0 if the local server answers /healthz (for container health checks).
    Healthcheck,
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Admin API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once. With --customer, a delegated token limited to those customers.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long = "customer")]
        customers: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Add a new master key, re-seal every stored secret under it, then retire the old keys.
    /// A running server keeps reading throughout (it reloads the key file on an unknown key),
    /// and seals with the new key as soon as it is in the file (it checks the file before sealing).
    Rotate,
}

pub async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    if let Command::Openapi = cli.command {
        print!("{}", crate::http::api::openapi_json());
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    if let Command::Healthcheck = cli.command {
        return healthcheck(&config).await;
    }
    crate::telemetry::init(&config);
    match cli.command {
        Command::Serve => {
            let application = Application::build(config).await?;
            app::cancel_on_signal(application.shutdown_token());
            application.run().await?;
        }
        Command::Migrate => {
            app::open(&config).await?;
            println!("database is up to date");
        }
        Command::Admin {
            command:
                AdminCommand::Token {
                    command: TokenCommand::Create { name, customers },
                },
        } => {
            let (db, _) = app::open(&config).await?;
            for c in &customers {
                store::customers::get(&db, &store::customers::Visibility::All, c)
                    .await
                    .map_err(|_| format!("no customer with id {c}"))?;
            }
            let (row, token) = store::tokens::create(&db, &name, &customers).await?;
            let audit = store::audit::AuditEntry::new("cli", "token.create", "ok")
                .detail(format!("token {} ({})", row.id, row.name));
            store::audit::record(&db, &audit).await?;
            eprintln!(
                "created {} token {} ({}); it is shown once:",
                if row.is_admin { "admin" } else { "delegated" },
                row.id,
                row.name
            );
            println!("{token}");
        }
        Command::Key {
            command: KeyCommand::Rotate,
        } => {
            let (db, keyring) = app::open(&config).await?;
            if let crate::crypto::KeySource::Environment = keyring.source() {
                let key = MasterKey::generate();
                return Err(format!(
                    "the master key comes from JITGATE_MASTER_KEY, which jitgate cannot rewrite. Use master_key_file, \
                     or put this new key first in JITGATE_MASTER_KEY (comma-separated, old keys after it), restart, and \
                     run `jitgate key rotate` with a key file later. New key (shown once): {}",
                    key.to_base64()
                )
                .into());
            }
            let r = store::secrets::rotate(&db, &keyring).await?;
            println!(
                "re-sealed {} secrets under key {}; retired keys {:?}",
                r.resealed, r.new_key_id, r.retired
            );
        }
        Command::Openapi | Command::Healthcheck => unreachable!("handled above"),
    }
    Ok(())
}

async fn healthcheck(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    crate::http_client::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()?;
    let status = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await?
        .status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("/healthz answered {status}").into())
    }
}
