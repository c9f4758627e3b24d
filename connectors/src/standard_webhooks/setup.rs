//! Check and register for Standard Webhooks: there is no PSA API behind this connector, so the
//! check reads the settings only and registration is a list of steps for the sender's side.

use crate::{Check, RegisterOutcome};

/// The settings-only check: secrets parsed at build time, and whether notes go anywhere.
pub fn check(secret_count: usize, note_url: Option<&url::Url>) -> Vec<Check> {
    let mut checks = vec![Check::ok(
        "Signing secrets",
        format!("{secret_count} whsec_ secret(s) active; deliveries signed with any are accepted"),
    )];
    checks.push(match note_url {
        Some(url) => Check::ok(
            "Notes",
            format!(
                "notes are sent as signed jit.note events to {}",
                url.host_str().unwrap_or("the note URL")
            ),
        ),
        None => Check::warn(
            "Notes",
            "no note_url: credential links are not sent back to the ticket",
            "Set settings.note_url if the sender can post notes to the ticket.",
        ),
    });
    checks.push(Check::warn(
        "Webhook",
        "Standard Webhooks senders are configured on their side; jitgate cannot see them",
        "Send a test jit.requested event and look for it in jitgate's delivery log.",
    ));
    checks
}

pub fn register(webhook_url: &str) -> RegisterOutcome {
    RegisterOutcome::manual(
        "Standard Webhooks senders have no API jitgate can register with; configure the sender",
        vec![
            format!("In the sending tool (Rewst, n8n, Power Automate, …), POST events to {webhook_url}."),
            "Sign them with the connector's whsec_ secret (webhook-id, webhook-timestamp, webhook-signature headers).".into(),
            "Send jit.requested with data.ticket.id, data.company.id and data.technician.email (see connectors/STANDARD_WEBHOOKS.md).".into(),
        ],
    )
}
