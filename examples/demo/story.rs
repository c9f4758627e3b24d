//! The story, step by step: what the MSP admin and the technician do, and what jitgate does in
//! answer, each shown from the outside (the admin API, the simulated tenant and PSA).

use super::narrator::{Narrator, reason, seconds};
use super::stage::Stage;
use super::{DemoError, DemoOptions, Outcome};
use jitgate_sim::connectwise::{CwNote, SeedTicket};
use jitgate_sim::world::{
    self, ALICE, COMPANY, CUSTOMER, DOMAIN, Done, Msp, ROLES, SetupError, Step, TRIGGER_FIELD,
};
use serde_json::{Value, json};
use std::io::Write;
use std::time::Duration;

/// The ticket the technician works on.
const TICKET: u64 = 1001;
/// How long background work (provisioning, notes, the end of a grant) may take before the demo
/// gives up and says what it was waiting for.
const PATIENCE: Duration = Duration::from_secs(30);

/// The technician's side of the story, once everything runs.
pub(crate) async fn tell(
    stage: &Stage,
    opts: &DemoOptions,
    say: &mut Narrator<'_, impl Write>,
) -> Result<Outcome, DemoError> {
    let msp = set_up_through_admin_api(stage, say).await?;
    request_from_ticket(stage, opts, &msp, say).await?;
    watch_provisioning(stage, say).await?;
    let link = show_credentials_note(stage, &msp, say).await?;
    watch_the_end(stage, &link, say).await?;
    say.blank()?;
    say.heading("That was the whole flow.")?;
    say.info("In production the same steps run against a customer's real Entra tenant and your")?;
    say.info("PSA; README.md shows how to connect them.")?;
    Ok(Outcome::Completed)
}

/// What an MSP admin does once per customer, through the real admin API over HTTP: the set-up
/// the tests and the benchmark share, told call by call.
async fn set_up_through_admin_api(
    stage: &Stage,
    say: &mut Narrator<'_, impl Write>,
) -> Result<Msp, DemoError> {
    say.step("The MSP admin connects the customer (admin API, over HTTP)")?;
    let msp = world::setup_msp_telling(&stage.admin, &stage.sims.cw, true, &mut |done| {
        tell_setup(say, done)
    })
    .await?;
    Ok(msp)
}

fn tell_setup(say: &mut Narrator<'_, impl Write>, done: &Done<'_>) -> Result<(), SetupError> {
    let what = match done.step {
        Step::Customer => format!("customer \"{CUSTOMER}\" ({})", done.answer.id()?),
        Step::Entra => format!(
            "Entra connection: accounts in {DOMAIN} with {}; secret sealed, write-only",
            ROLES.join(" + ")
        ),
        Step::Technician => format!("technician {} <{}>", ALICE.name, ALICE.email),
        Step::Delegation => format!("{} is delegated to {CUSTOMER}", ALICE.name),
        Step::Connector => {
            format!("ConnectWise connector, triggered by the \"{TRIGGER_FIELD}\" checkbox")
        }
        Step::Mapping => format!("ConnectWise company {COMPANY} is customer {CUSTOMER}"),
    };
    say.api(done.method, done.path, done.answer.status, &what)?;
    match done.step {
        Step::Technician => say.detail(&format!(
            "ConnectWise knows her as member {}, which is how its callbacks name her",
            ALICE.member
        ))?,
        Step::Connector => say.detail(&format!(
            "its webhook URL (the ConnectWise callback points here): {}",
            done.answer.body["webhook_url"].as_str().unwrap_or("?")
        ))?,
        _ => {}
    }
    Ok(())
}

/// The technician ticks the checkbox and saves; ConnectWise sends jitgate a signed callback.
async fn request_from_ticket(
    stage: &Stage,
    opts: &DemoOptions,
    msp: &Msp,
    say: &mut Narrator<'_, impl Write>,
) -> Result<(), DemoError> {
    say.step("A technician asks for access from a ticket")?;
    let mut ticket =
        SeedTicket::new(TICKET, COMPANY).with_custom_field(12, TRIGGER_FIELD, json!(false));
    ticket.summary = "Set up a shared mailbox for Fabrikam's finance team".into();
    ticket.company_identifier = CUSTOMER.into();
    stage.sims.cw.add_ticket(ticket);
    say.ok(&format!(
        "Ticket #{TICKET} for {CUSTOMER}: \"Set up a shared mailbox for Fabrikam's finance team\""
    ))?;
    if opts.pause {
        say.prompt(&format!(
            "Press Enter to tick \"{TRIGGER_FIELD}\" on the ticket as {} ",
            ALICE.name
        ))?;
        wait_for_enter().await;
        say.answered();
    }
    stage
        .sims
        .cw
        .set_custom_field(TICKET, TRIGGER_FIELD, json!(true), ALICE.member);
    say.ok(&format!(
        "{} ticks \"{TRIGGER_FIELD}\" and saves; ConnectWise signs a callback",
        ALICE.name
    ))?;
    let delivery = stage
        .sims
        .cw
        .ticket_delivery(TICKET, ALICE.member, "updated");
    let mut request = stage.http.post(&msp.webhook_url).body(delivery.body);
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
        &format!("/webhooks/{}", msp.connector_id),
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
    msp: &Msp,
    say: &mut Narrator<'_, impl Write>,
) -> Result<String, DemoError> {
    say.step(&format!(
        "jitgate writes an internal note on ticket #{TICKET}"
    ))?;
    // Notes are posted by their own jobs, in no guaranteed order: look for this one.
    let note = wait_until("the note with the credential link", async || {
        stage
            .sims
            .cw
            .notes(TICKET)
            .into_iter()
            .find(|n| credential_link(n, &stage.url).is_some())
    })
    .await?;
    say.note(&note)?;
    if stage.sims.cw.custom_field(TICKET, TRIGGER_FIELD) == Some(json!(false)) {
        say.ok(&format!(
            "\"{TRIGGER_FIELD}\" is unticked again, so later saves do not ask twice"
        ))?;
    }
    let link = credential_link(&note, &stage.url).ok_or("the note has no credential link")?;
    let status = link_status(stage, &link).await?;
    say.detail(&format!(
        "GET of the link -> {status} {}: to jitgate's sign-in first. The link alone shows",
        reason(status)
    ))?;
    say.detail("nothing, so anyone else reading the ticket's internal notes learns nothing more.")?;
    let sign_in = one_time_sign_in(stage, &msp.technician_id).await?;
    say.callout(
        &format!(
            "Sign in as {} with this one-time link (as `jitgate admin login-link` prints it):",
            ALICE.name
        ),
        &sign_in,
    )?;
    say.callout(
        "Then open the credential link: it opens her account in the technicians' portal:",
        &link,
    )?;
    say.detail("There View credentials shows the username and password (never in the note, the")?;
    say.detail("logs or this output), and the authenticator key can be stored for its codes.")?;
    Ok(link)
}

/// A one-time sign-in link for the technician, made the way `jitgate admin login-link` makes
/// it (valid ten minutes, works once).
async fn one_time_sign_in(stage: &Stage, technician_id: &str) -> Result<String, DemoError> {
    let mut tx = stage.db.begin().await?;
    let token =
        jitgate::store::sessions::create_link(&mut tx, technician_id, "demo", 10 * 60 * 1000)
            .await?;
    tx.commit().await?;
    Ok(format!("{}/auth/link/{token}", stage.url))
}

/// What a plain GET of the credential link answers (no redirects are followed).
async fn link_status(stage: &Stage, link: &str) -> Result<u16, DemoError> {
    Ok(stage.http.get(link).send().await?.status().as_u16())
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
    let grant_id = grant["id"].as_str().ok_or("grant without id")?;
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
        let path = format!("/api/v1/grants/{grant_id}");
        let grant = stage.admin.call("GET", &path, None).await.ok()?;
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
        stage.sims.cw.notes(TICKET).into_iter().nth(1)
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
    let grants = stage.admin.call("GET", "/api/v1/grants", None).await?;
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
