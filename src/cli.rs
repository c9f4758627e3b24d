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
    /// The MSP's own multi-tenant Entra app.
    Entra {
        #[command(subcommand)]
        command: EntraCommand,
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
    /// Print a one-time sign-in link to the console for a technician (first run, and break
    /// glass when the identity provider is down). On a fresh install with no MSP admin yet, an
    /// unknown email becomes the first MSP admin.
    LoginLink {
        #[arg(long)]
        email: String,
        /// Display name when the first MSP admin is created (default: the email).
        #[arg(long)]
        name: Option<String>,
        /// How long the link works (it works once), e.g. 10m.
        #[arg(long, default_value = "10m")]
        valid_for: String,
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
        /// Valid for this long (e.g. 12h, 30d); without it, until revoked.
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// List every token (never the token itself): id, name, scope, created, last used,
    /// expiry, revocation.
    List,
    /// Revoke a token by id; every instance refuses it from its next request on.
    Revoke { id: String },
}

#[derive(Subcommand)]
pub enum EntraCommand {
    /// The MSP's multi-tenant app registration that customers connect to by admin consent.
    App {
        #[command(subcommand)]
        command: EntraAppCommand,
    },
}

#[derive(Subcommand)]
pub enum EntraAppCommand {
    /// Set the app's client id and its credential: a certificate (--certificate-file, one PEM
    /// with the certificate and its RSA private key; Microsoft recommends certificates) or a
    /// client secret (--client-secret-file, or stdin without either option). A credential never
    /// goes on the command line, where `ps` shows it. Setting one replaces the other.
    Set {
        #[arg(long)]
        client_id: String,
        #[arg(long, conflicts_with = "certificate_file")]
        client_secret_file: Option<PathBuf>,
        #[arg(long)]
        certificate_file: Option<PathBuf>,
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
            command: AdminCommand::Token { command },
        } => {
            let db = open_for_tokens(&config).await?;
            token_command(&db, command).await?;
        }
        Command::Admin {
            command:
                AdminCommand::LoginLink {
                    email,
                    name,
                    valid_for,
                },
        } => {
            let db = open_for_tokens(&config).await?;
            let link = login_link(&db, &config, &email, name.as_deref(), &valid_for).await?;
            println!("{link}");
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
        Command::Entra {
            command:
                EntraCommand::App {
                    command:
                        EntraAppCommand::Set {
                            client_id,
                            client_secret_file,
                            certificate_file,
                        },
                },
        } => {
            let credential =
                read_credential(client_secret_file.as_deref(), certificate_file.as_deref())?;
            let (db, keyring) = app::open(&config).await?;
            set_msp_app(&db, &keyring, &client_id, credential).await?;
        }
        Command::Openapi | Command::Healthcheck => unreachable!("handled above"),
    }
    Ok(())
}

/// The database for token commands, which usually run next to a live server (`docker exec`):
/// migrate only when the schema is behind, since the job queue's setup (`PRAGMA optimize` on
/// SQLite) waits for the server's write lock. No master key is needed.
async fn open_for_tokens(config: &Config) -> Result<store::Db, Box<dyn std::error::Error>> {
    let db = store::Db::connect(&config.database_url, 2).await?;
    if !db.ready().await.unwrap_or(false) {
        db.migrate().await?;
    }
    Ok(db)
}

async fn token_command(
    db: &store::Db,
    command: TokenCommand,
) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        TokenCommand::Create {
            name,
            customers,
            expires_in,
        } => {
            let expires_at = expires_in
                .as_deref()
                .map(crate::http::api::tokens::expiry_from_now)
                .transpose()
                .map_err(|m| format!("--expires-in: {m}"))?;
            for c in &customers {
                store::customers::get(db, &store::customers::Visibility::All, c)
                    .await
                    .map_err(|_| format!("no customer with id {c}"))?;
            }
            let audit = store::audit::AuditEntry::new("cli", "token.create", "ok");
            let (row, token) =
                store::tokens::create_with(db, &name, &customers, expires_at, Some(&audit)).await?;
            eprintln!(
                "created {} token {} ({}){}; it is shown once:",
                if row.is_admin { "admin" } else { "delegated" },
                row.id,
                row.name,
                expires_at
                    .map(|at| format!(", expires {}", crate::domain::time::utc(at)))
                    .unwrap_or_default()
            );
            println!("{token}");
        }
        TokenCommand::List => {
            for t in store::tokens::list(db).await? {
                println!("{}", token_line(&t));
            }
        }
        TokenCommand::Revoke { id } => {
            let audit = store::audit::AuditEntry::new("cli", "token.revoke", "ok")
                .detail(format!("token {id}"));
            match store::tokens::revoke(db, &id, &audit).await {
                Ok(store::tokens::Revoked::Now) => println!("revoked token {id}"),
                Ok(store::tokens::Revoked::Already) => println!("token {id} was already revoked"),
                Err(store::StoreError::NotFound) => {
                    return Err(format!("no token with id {id}").into());
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// What `jitgate entra app set` was given: (secret, certificate PEM), one of them.
type CredentialText = (Option<String>, Option<String>);

/// The certificate from --certificate-file, or the secret from --client-secret-file or stdin.
fn read_credential(
    secret_file: Option<&std::path::Path>,
    certificate_file: Option<&std::path::Path>,
) -> Result<CredentialText, Box<dyn std::error::Error>> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    Ok(match (secret_file, certificate_file) {
        (_, Some(path)) => (None, Some(read(path)?)),
        (Some(path), None) => (Some(read(path)?), None),
        (None, None) => (Some(std::io::read_to_string(std::io::stdin())?), None),
    })
}

/// `jitgate entra app set`: the same checks and audit row as `PUT /api/v1/entra/app`.
async fn set_msp_app(
    db: &store::Db,
    keyring: &crate::crypto::Keyring,
    client_id: &str,
    (secret, certificate): CredentialText,
) -> Result<(), Box<dyn std::error::Error>> {
    let client_id = crate::domain::names::Guid::parse(client_id)
        .map_err(|m| format!("--client-id {m}"))?
        .as_str()
        .to_string();
    let valid =
        crate::http::api::entra::validate_credential(secret.as_deref(), certificate.as_deref())
            .map_err(|(field, problem)| format!("{field}: {problem}"))?;
    let credential = valid.as_new();
    let mut tx = db.begin().await?;
    store::msp_app::put(&mut tx, keyring, &client_id, &credential).await?;
    store::audit::record(
        &mut tx,
        &store::audit::AuditEntry::new("cli", "entra.app.set", "ok").detail(format!(
            "client id {client_id}; {} set",
            credential.describe()
        )),
    )
    .await?;
    tx.commit().await?;
    println!(
        "the MSP's Entra app is set: client id {client_id} ({} sealed)",
        credential.describe()
    );
    Ok(())
}

/// `jitgate admin login-link`: the link, after its row and audit row are committed.
async fn login_link(
    db: &store::Db,
    config: &Config,
    email: &str,
    name: Option<&str>,
    valid_for: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let email = crate::domain::names::Email::parse(email).map_err(|m| format!("--email {m}"))?;
    let ttl = crate::domain::duration::DurationSetting::parse(valid_for)
        .map_err(|m| format!("--valid-for {m}"))?
        .get();
    if ttl.is_zero() || ttl > std::time::Duration::from_secs(24 * 3600) {
        return Err("--valid-for must be between 1s and 24h".into());
    }
    let mut tx = db.begin().await?;
    let technician = match store::technicians::by_email(db, email.as_str()).await? {
        Some(t) => t,
        None if !store::technicians::any_admin(db).await? => {
            let t =
                store::technicians::create(&mut tx, email.as_str(), name.unwrap_or(email.as_str()))
                    .await?;
            store::technicians::grant_admin(
                &mut tx,
                &t.id,
                &store::audit::AuditEntry::new("cli", "technician.admin.grant", "ok")
                    .technician(&t.id)
                    .detail("first MSP admin, created by jitgate admin login-link"),
            )
            .await?;
            eprintln!("created {} as the first MSP admin", email.as_str());
            t
        }
        None => {
            return Err(format!(
                "no technician has the email {}; an MSP admin adds technicians in the console (Technicians) or with POST /api/v1/technicians",
                email.as_str()
            )
            .into());
        }
    };
    let ttl_ms = ttl.as_millis() as i64;
    let token = store::sessions::create_link(&mut tx, &technician.id, "cli", ttl_ms).await?;
    store::audit::record(
        &mut tx,
        &store::audit::AuditEntry::new("cli", "auth.link.create", "ok")
            .technician(&technician.id)
            .detail(format!("one-time sign-in link valid for {valid_for}")),
    )
    .await?;
    tx.commit().await?;
    eprintln!(
        "one-time sign-in link for {} ({}), valid for {valid_for}, works once:",
        technician.display_name, technician.email
    );
    Ok(format!(
        "{}/auth/link/{token}",
        config.public_url.as_str().trim_end_matches('/')
    ))
}

/// One line of `jitgate admin token list`: tab-separated, times in UTC, `-` for none.
fn token_line(t: &store::tokens::TokenInfo) -> String {
    let time = |ms: Option<i64>| {
        ms.map(crate::domain::time::utc)
            .unwrap_or_else(|| "-".into())
    };
    let scope = if t.is_admin {
        "admin".to_string()
    } else {
        format!("delegated:{}", t.customers.join(","))
    };
    format!(
        "{}\t{}\t{scope}\tcreated {}\tlast used {}\texpires {}\trevoked {}",
        t.id,
        t.name,
        time(Some(t.created_at)),
        time(t.last_used_at),
        time(t.expires_at),
        time(t.revoked_at)
    )
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
