//! The credential page's HTML, rendered on the server. Every value from the database or the
//! request goes through [`esc`]; no markup carries inline script or style (the CSP forbids
//! them), so the page works without JavaScript and `page.js` only enhances it.

use crate::domain::time::utc;
use crate::domain::totp::Code;
use crate::store::links::{LinkState, LinkView};
use jitgate_connectors::html::escape as esc;
use std::fmt::Write as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Where the page lives and which link it is about.
pub struct Ctx<'a> {
    /// Path prefix of `public_url` (empty at the root), so links work behind a proxy that
    /// serves jitgate under a sub-path.
    pub base: &'a str,
    pub token: &'a str,
}

impl Ctx<'_> {
    fn link_path(&self, suffix: &str) -> String {
        format!("{}/c/{}{suffix}", self.base, self.token)
    }
}

/// Problems with a submitted TOTP form, per field (shown next to the field).
#[derive(Debug, Default)]
pub struct TotpFormErrors {
    pub key: Option<String>,
    pub code: Option<String>,
}

/// `GET /c/{token}` for a valid link: who, which account, until when, and the Reveal button.
/// Never a secret: link scanners and unfurlers fetch this.
pub fn landing(ctx: &Ctx, link: &LinkView, now_ms: i64, errors: Option<&TotpFormErrors>) -> String {
    let left = link.reveals_left();
    let mut body = header(link);
    body.push_str(&expiry(link.expires_at, now_ms));
    let _ = write!(
        body,
        r#"<section class="block" aria-labelledby="account-h">
<h2 id="account-h">Account</h2>
<dl class="fields">{upn}</dl>
<form method="post" action="{action}" class="reveal">
<button type="submit" id="reveal" class="primary">Reveal password</button>
<p class="hint">Nothing secret is shown until you press Reveal. {left} of {limit} reveals left on this link; each one is recorded with your IP address.</p>
</form>
</section>
"#,
        upn = field("Username", "upn", &link.upn, ""),
        action = esc(&ctx.link_path("/reveal")),
        left = left,
        limit = link.reveal_limit,
    );
    body.push_str(&totp_section(ctx, link, errors));
    layout(
        ctx.base,
        &format!("JIT access: {}", link.customer_name),
        &body,
    )
}

/// `POST /c/{token}/reveal` once a reveal was spent: the username, password, current TOTP
/// code (if a key is stored) and the time left.
pub fn revealed(
    ctx: &Ctx,
    link: &LinkView,
    now_ms: i64,
    reveals_used: i32,
    password: &str,
    codes: Option<&[Code]>,
) -> String {
    let mut body = header(link);
    body.push_str(&expiry(link.expires_at, now_ms));
    let totp = match codes {
        Some(codes) => totp_code_field(codes),
        None => r#"<div class="field"><dt>Authenticator code</dt><dd><p class="muted" id="totp-none">No authenticator key is stored for this account. After you set one up, store it below and the code shows here.</p></dd></div>"#.to_string(),
    };
    let _ = write!(
        body,
        r#"<section class="block" aria-labelledby="signin-h">
<h2 id="signin-h">Sign-in details</h2>
<dl class="fields">{upn}{password}{totp}</dl>
<p class="notice" role="note">Reveal {used} of {limit} on this link. Your browser does not keep this page: copy what you need now.</p>
</section>
"#,
        upn = field("Username", "upn", &link.upn, ""),
        password = field("Password", "password", password, " secret"),
        used = reveals_used,
        limit = link.reveal_limit,
    );
    let link = LinkView {
        totp_set: link.totp_set || codes.is_some(),
        ..link.clone()
    };
    body.push_str(&totp_section(ctx, &link, None));
    layout(
        ctx.base,
        &format!("JIT access: {}", link.customer_name),
        &body,
    )
}

/// `POST /c/{token}/totp` after the key was saved: its current code, so the technician sees
/// jitgate agrees with their app.
pub fn totp_saved(
    ctx: &Ctx,
    link: &LinkView,
    now_ms: i64,
    replaced: bool,
    codes: &[Code],
) -> String {
    let mut body = header(link);
    let what = if replaced {
        "The authenticator key was replaced. The old key no longer gives codes here."
    } else {
        "The authenticator key is stored, sealed like the password."
    };
    let _ = write!(
        body,
        r#"<div class="banner ok" role="status"><h2>Authenticator key saved</h2><p>{what} From now on, Reveal also shows the current code.</p></div>
<section class="block" aria-labelledby="code-h">
<h2 id="code-h">Current code</h2>
<dl class="fields">{upn}{code}</dl>
<p><a class="button" href="{back}">Back to the sign-in page</a></p>
</section>
"#,
        what = what,
        upn = field("Username", "upn", &link.upn, ""),
        code = totp_code_field(codes),
        back = esc(&ctx.link_path("")),
    );
    body.push_str(&expiry(link.expires_at, now_ms));
    layout(ctx.base, "Authenticator key saved", &body)
}

/// A link that cannot reveal, or no link at all. Says what happened and what to do; shows the
/// customer and account when the link is known (never a secret).
pub fn dead(base: &str, state: Option<LinkState>, link: Option<&LinkView>) -> String {
    let (title, what, todo) = match state {
        None => (
            "This link is not valid",
            "jitgate does not know this link. Check that the whole link was copied from the ticket note.".to_string(),
            "If it was copied whole, ask for JIT access again from the ticket.",
        ),
        Some(LinkState::Superseded) => (
            "This link was replaced",
            "A newer credential link was issued for this access, for example after a repeat request on a ticket. Older links stop working so that only the latest one can reveal the password.".to_string(),
            "Use the link in the most recent jitgate note on the ticket.",
        ),
        Some(LinkState::Ended) => (
            "Access has ended",
            match link.and_then(|l| l.ended_at) {
                Some(at) => format!("This JIT admin access ended at {}. The account is disabled and its password no longer works.", utc(at)),
                None => "This JIT admin access is being ended early. The account is being disabled.".to_string(),
            },
            "Still need admin access? Request JIT access again from the ticket.",
        ),
        Some(LinkState::Expired) => (
            "Access has expired",
            format!(
                "This JIT admin access expired at {}. jitgate is disabling the account now.",
                link.map(|l| utc(l.expires_at)).unwrap_or_default()
            ),
            "Still need admin access? Request JIT access again from the ticket.",
        ),
        Some(LinkState::Spent) => (
            "This link has been used up",
            format!(
                "The password was revealed {} times through this link, the most allowed. The access itself stays active until {}.",
                link.map(|l| l.reveal_limit).unwrap_or_default(),
                link.map(|l| utc(l.expires_at)).unwrap_or_default()
            ),
            "Need the password again? Request JIT access again from the ticket: that issues a new link and extends the access.",
        ),
        Some(LinkState::Valid) => (
            "This link can be used",
            "Open the link again to reveal the password.".to_string(),
            "",
        ),
    };
    let mut body = format!(
        r#"<header class="head"><p class="eyebrow">jitgate credential link</p><h1>{}</h1></header>
<div class="banner stop" role="status"><p>{}</p></div>
"#,
        esc(title),
        esc(&what)
    );
    if let Some(link) = link {
        let _ = writeln!(
            body,
            r#"<dl class="fields compact"><div class="field"><dt>Customer</dt><dd>{}</dd></div><div class="field"><dt>Account</dt><dd><code>{}</code></dd></div></dl>"#,
            esc(&link.customer_name),
            esc(&link.upn)
        );
    }
    if !todo.is_empty() {
        let _ = write!(body, r#"<p class="todo">{}</p>"#, esc(todo));
    }
    layout(base, title, &body)
}

/// Something failed on our side, or the request made no sense: a plain page, nothing more.
pub fn problem(base: &str, title: &str, message: &str) -> String {
    let body = format!(
        r#"<header class="head"><p class="eyebrow">jitgate credential link</p><h1>{}</h1></header>
<div class="banner stop" role="alert"><p>{}</p></div>
"#,
        esc(title),
        esc(message)
    );
    layout(base, title, &body)
}

fn layout(base: &str, title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<meta name="color-scheme" content="light dark">
<title>{title} · jitgate</title>
<link rel="stylesheet" href="{assets}/page.css">
<link rel="icon" href="{assets}/icon.svg" type="image/svg+xml">
<script src="{assets}/page.js" defer></script>
</head>
<body>
<main class="card">
{body}</main>
<footer class="foot"><p>jitgate · just-in-time admin access</p><p id="announce" class="visually-hidden" aria-live="polite"></p></footer>
</body>
</html>
"#,
        title = esc(title),
        assets = esc(&format!("{base}/c/assets")),
        body = body,
    )
}

/// The customer, big, and whose access it is.
fn header(link: &LinkView) -> String {
    let ticket = link
        .ticket_ref
        .as_deref()
        .map(|t| format!(", ticket {}", esc(t)))
        .unwrap_or_default();
    format!(
        r#"<header class="head"><p class="eyebrow">JIT admin access for</p><h1 id="customer">{}</h1><p class="sub">For {}{ticket}</p></header>
"#,
        esc(&link.customer_name),
        esc(&link.technician_name),
    )
}

/// The end of access: absolute UTC time (the same text as the ticket note), a slot for the
/// browser's local time and a countdown that `page.js` keeps running.
fn expiry(expires_at: i64, now_ms: i64) -> String {
    let seconds_left = ((expires_at - now_ms) / 1000).max(0);
    let iso = OffsetDateTime::from_unix_timestamp(expires_at / 1000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    format!(
        r#"<section class="expiry" aria-labelledby="expiry-h">
<h2 id="expiry-h">Access ends</h2>
<p class="expiry-time"><time id="expires-at" datetime="{iso}" data-ms="{ms}">{utc}</time></p>
<p class="local-time" id="local-time" hidden></p>
<p class="countdown" id="countdown" data-seconds="{seconds_left}">{left}</p>
</section>
"#,
        iso = esc(&iso),
        ms = expires_at,
        utc = esc(&utc(expires_at)),
        seconds_left = seconds_left,
        left = esc(&time_left(seconds_left)),
    )
}

/// `3 h 59 min left`, `12 min left`, `less than a minute left`.
pub fn time_left(seconds: i64) -> String {
    let minutes = seconds / 60;
    match (minutes / 60, minutes % 60) {
        _ if seconds <= 0 => "Access has ended".into(),
        (0, 0) => "less than a minute left".into(),
        (0, m) => format!("{m} min left"),
        (h, 0) => format!("{h} h left"),
        (h, m) => format!("{h} h {m} min left"),
    }
}

/// One `<dt>/<dd>` pair with a value in `<code id=…>` and a copy button that `page.js` shows.
fn field(label: &str, id: &str, value: &str, class: &str) -> String {
    format!(
        r#"<div class="field"><dt id="{id}-label">{label}</dt><dd><code id="{id}" class="value{class}" aria-labelledby="{id}-label">{value}</code><button type="button" class="copy" data-copy="{id}" data-what="{label}" hidden>Copy</button></dd></div>"#,
        id = esc(id),
        label = esc(label),
        value = esc(value),
        class = esc(class),
    )
}

/// The TOTP code with its seconds left. The following codes travel in `data-next` so the page
/// can roll over without another request (which would need another audited reveal).
fn totp_code_field(codes: &[Code]) -> String {
    let Some(first) = codes.first() else {
        return String::new();
    };
    let next: Vec<String> = codes[1..]
        .iter()
        .map(|c| format!("{}:{}", c.code, c.seconds_left))
        .collect();
    format!(
        r#"<div class="field"><dt id="totp-code-label">Authenticator code</dt><dd><code id="totp-code" class="value code" aria-labelledby="totp-code-label" data-seconds="{left}" data-next="{next}">{code}</code><button type="button" class="copy" data-copy="totp-code" data-what="Code" hidden>Copy</button><p class="hint" id="totp-left">Valid for <span id="totp-seconds">{left}</span> more seconds.</p></dd></div>"#,
        left = first.seconds_left,
        next = esc(&next.join(" ")),
        code = esc(&first.code),
    )
}

/// Storing (or replacing) the account's TOTP key. Open when it carries errors; a submitted
/// key or code is never echoed back.
fn totp_section(ctx: &Ctx, link: &LinkView, errors: Option<&TotpFormErrors>) -> String {
    let status = if link.totp_set {
        "A key is stored for this account: Reveal shows its current code."
    } else {
        "No key is stored yet. Store one after you set up an authenticator app for this account."
    };
    let verb = if link.totp_set { "Replace" } else { "Store" };
    let key_error = errors.and_then(|e| e.key.as_deref());
    let code_error = errors.and_then(|e| e.code.as_deref());
    format!(
        r#"<section class="block totp" aria-labelledby="totp-h">
<h2 id="totp-h">Authenticator key</h2>
<p id="totp-status">{status}</p>
<details{open}>
<summary id="totp-toggle">{verb} the authenticator key</summary>
<p class="hint">When Microsoft asks this account to set up MFA, pick "Use a different authenticator app", then "Can't scan the image?" to see the secret key. Add it to your app, then paste it here with the code your app shows.</p>
<form method="post" action="{action}" class="totp-form">
<div class="form-row">
<label for="totp-key">Secret key or otpauth:// link</label>
<input id="totp-key" name="key" type="text" autocomplete="off" autocapitalize="off" autocorrect="off" spellcheck="false" required{key_invalid}>
{key_error}</div>
<div class="form-row">
<label for="totp-confirm">Code your app shows now</label>
<input id="totp-confirm" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{{6,9}}" maxlength="9" required{code_invalid}>
{code_error}</div>
<button type="submit" id="totp-save">{verb} key</button>
<p class="hint">The code is checked first, so a mistyped key is never stored. Saving does not use up a reveal{replace_note}.</p>
</form>
</details>
</section>
"#,
        status = esc(status),
        open = if errors.is_some() { " open" } else { "" },
        verb = verb,
        action = esc(&ctx.link_path("/totp")),
        key_invalid = invalid_attrs("totp-key-error", key_error),
        key_error = error_text("totp-key-error", key_error),
        code_invalid = invalid_attrs("totp-confirm-error", code_error),
        code_error = error_text("totp-confirm-error", code_error),
        replace_note = if link.totp_set {
            "; replacing a key is recorded"
        } else {
            ""
        },
    )
}

fn invalid_attrs(error_id: &str, error: Option<&str>) -> String {
    match error {
        Some(_) => format!(
            r#" aria-invalid="true" aria-describedby="{}""#,
            esc(error_id)
        ),
        None => String::new(),
    }
}

fn error_text(id: &str, error: Option<&str>) -> String {
    match error {
        Some(e) => format!(r#"<p class="error" id="{}">{}</p>"#, esc(id), esc(e)),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_html_cares_about() {
        assert_eq!(
            esc(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn time_left_reads_naturally() {
        assert_eq!(time_left(4 * 3600), "4 h left");
        assert_eq!(time_left(4 * 3600 - 60), "3 h 59 min left");
        assert_eq!(time_left(12 * 60 + 5), "12 min left");
        assert_eq!(time_left(30), "less than a minute left");
        assert_eq!(time_left(0), "Access has ended");
    }

    #[test]
    fn no_inline_script_or_style() {
        let page = problem("", "<script>", "style=\"x\"");
        assert!(!page.contains("<script>"));
        assert!(!page.contains(" style="));
        assert!(!page.contains("<style"));
    }
}
