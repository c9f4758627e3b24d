//! The guided demo (`cargo run --example demo`), run to the end in its short mode: it must keep
//! telling the true story of the whole flow.

#[path = "../../examples/demo/main.rs"]
mod example;

use clap::Parser;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn the_short_demo_runs_the_whole_flow_and_says_so() {
    let options =
        example::Args::parse_from(["demo", "--short"]).into_options(CancellationToken::new());
    let mut out = Vec::new();
    let outcome = example::run(options, &mut out).await;
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        outcome.map_err(|e| e.to_string()),
        Ok(example::Outcome::Completed),
        "{text}"
    );
    for expected in [
        "-> 202 Accepted",
        "account created: alice-jit@fabrikam.com",
        "roles assigned: Global Administrator, User Administrator",
        "internal note, not visible to the customer",
        "/c/",
        "-> 303 See Other: to jitgate's sign-in first",
        "/auth/link/",
        "technicians' portal",
        "grant ended (expired)",
        "account alice-jit@fabrikam.com: disabled",
        "roles removed: none left",
        "JIT admin access ended",
        "the credential link is dead",
    ] {
        assert!(
            text.contains(expected),
            "the demo did not print {expected:?}:\n{text}"
        );
    }
    assert!(
        !text.contains('\x1b'),
        "short mode prints no colours:\n{text}"
    );
}
