//! What jitgate writes on tickets. Plain text (each connector renders it for its PSA); never a
//! password, a TOTP key or a link token (the link goes in as a placeholder, see
//! `store::notes::LINK_PLACEHOLDER`).

use crate::domain::lifecycle::EndReason;
use crate::domain::time::utc;
use crate::store::notes::LINK_PLACEHOLDER;

pub struct CredentialsNote<'a> {
    pub technician: &'a str,
    pub customer: &'a str,
    pub upn: &'a str,
    pub expires_at: i64,
    pub extended: bool,
    pub reveal_limit: i32,
    /// The link opens the portal and reveals to its own technician only (signed in).
    pub sign_in_required: bool,
}

pub fn credentials(n: &CredentialsNote) -> (String, String) {
    let title = if n.extended {
        "JIT admin access extended"
    } else {
        "JIT admin account ready"
    }
    .to_string();
    let first = if n.extended {
        format!(
            "{}'s JIT admin access to {} was extended and a new credential link issued (older links no longer work).",
            n.technician, n.customer
        )
    } else {
        format!(
            "A just-in-time admin account is ready for {} in {}'s Microsoft 365 tenant.",
            n.technician, n.customer
        )
    };
    let how = if n.sign_in_required {
        format!(
            "The link opens the account in jitgate's portal: only {}, signed in to jitgate, can see the password (at most {} times), and it stops working when access ends.",
            n.technician, n.reveal_limit
        )
    } else {
        format!(
            "The link shows the password after a click on Reveal, at most {} times, and stops working when access ends.",
            n.reveal_limit
        )
    };
    let body = format!(
        "{first}\n\
         Account: {upn}\n\
         Access ends: {ends}\n\
         Credentials: {LINK_PLACEHOLDER}\n\
         {how}",
        upn = n.upn,
        ends = utc(n.expires_at),
    );
    (title, body)
}

pub fn refused(reason: &str) -> (String, String) {
    (
        "JIT admin request refused".into(),
        format!("jitgate did not create a JIT admin account: {reason}"),
    )
}

pub fn failed(reason: &str) -> (String, String) {
    (
        "JIT admin request failed".into(),
        format!(
            "jitgate could not provide the JIT admin account: {reason}\nNothing was left enabled. Fix the cause and request again."
        ),
    )
}

/// "Access ended" for the ticket: what was verified, and any step that still fails (retried
/// by jitgate) with Microsoft's refusal and its fix.
pub fn ended(
    upn: &str,
    customer: &str,
    reason: EndReason,
    at_ms: i64,
    still_failing: &[(jitgate_graph::EndStep, String)],
) -> (String, String) {
    let why = match reason {
        EndReason::EndedByAdmin => "ended early by an administrator",
        EndReason::Cancelled => "cancelled",
        EndReason::DelegationRemoved => {
            "ended because the technician's delegation to this customer was removed"
        }
        EndReason::AdminRemoved => "ended because the technician's admin rights were removed",
        EndReason::TechnicianRemoved => "ended because the technician was removed from jitgate",
        EndReason::AccessRemoved => {
            "ended because the technician's access to this customer was removed while the account was being prepared"
        }
        EndReason::Expired => "expired",
    };
    let at = utc(at_ms);
    if still_failing.is_empty() {
        return (
            "JIT admin access ended".into(),
            format!(
                "JIT admin access for {upn} in {customer} {why} at {at}: roles removed, account disabled, password rotated, sessions revoked (verified against Microsoft Entra)."
            ),
        );
    }
    let mut body = format!(
        "JIT admin access for {upn} in {customer} {why} at {at}: roles removed and account disabled (verified against Microsoft Entra).\n\
         These steps failed and jitgate keeps retrying them:"
    );
    for (step, error) in still_failing {
        body.push_str(&format!("\n- {}: {error}", step_label(*step)));
    }
    (
        "JIT admin access ended (with steps still failing)".into(),
        body,
    )
}

fn step_label(step: jitgate_graph::EndStep) -> &'static str {
    use jitgate_graph::EndStep::*;
    match step {
        RemoveRoles => "removing the roles",
        Disable => "disabling the account",
        RevokeSessions => "revoking sign-in sessions",
        DeleteTaps => "deleting Temporary Access Passes",
        RotatePassword => "rotating the password",
        DeleteAccount => "deleting the account",
        ReadBack => "reading the account back",
    }
}

pub fn end_failing(upn: &str, attempts: i32, error: &str) -> (String, String) {
    (
        "Ending JIT admin access is failing".into(),
        format!(
            "jitgate could not yet end access for {upn} ({attempts} attempts; last error: {error}). \
             It keeps retrying; an administrator should check the customer's Entra connection."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_note_has_link_placeholder_upn_and_expiry() {
        let (_, body) = credentials(&CredentialsNote {
            technician: "Alice",
            customer: "Fabrikam",
            upn: "alice-jit@fabrikam.com",
            expires_at: 0,
            extended: false,
            reveal_limit: 3,
            sign_in_required: false,
        });
        assert!(
            body.contains(LINK_PLACEHOLDER)
                && body.contains("alice-jit@fabrikam.com")
                && body.contains("UTC")
        );
    }
}
