//! The credential page in headless Chromium, driven over WebDriver: Debian's `chromium` and
//! `chromium-driver`, with chromedriver on loopback and fantoccini (no TLS) talking to it.
//!
//! Without them the test skips loudly, so `cargo test --workspace` works on a laptop;
//! `JITGATE_REQUIRE_BROWSER=1` (set by `.ci/run`) turns a missing browser into a failure.

use crate::credential::{assert_code_matches, new_totp_key, unix_now};
use crate::world::{self, World};
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt as _;
use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Debian's paths; `JITGATE_CHROMIUM` / `JITGATE_CHROMEDRIVER` point elsewhere (a laptop).
fn chromium() -> String {
    std::env::var("JITGATE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

fn chromedriver() -> String {
    std::env::var("JITGATE_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into())
}

/// The screenshot of the revealed page, under the target directory.
pub(crate) fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("browser")
}

/// `Err` naming what is missing.
fn browser_installed() -> Result<(), String> {
    let missing: Vec<String> = [chromium(), chromedriver()]
        .into_iter()
        .filter(|p| !Path::new(p).is_file())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing.join(" and "))
    }
}

/// chromedriver on a loopback port, killed when dropped (Chromium, on a pipe to it, goes too).
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
    profile_path: PathBuf,
}

impl Driver {
    async fn start() -> Driver {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                dir.join("chromedriver.log").display()
            ))
            // A zone away from UTC, so the page's local-time hint shows (Chromium inherits it).
            .env("TZ", "America/New_York")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let status = format!("{url}/status");
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(resp) = http.get(&status).send().await
                && resp.status().is_success()
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not answer on {url} within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let profile_path = profile.path().to_path_buf();
        Driver {
            child,
            url,
            _profile: profile,
            profile_path,
        }
    }

    async fn browser(&self) -> Client {
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--disable-quic".into(),
            // Containers give /dev/shm little room; Chromium then crashes on large pages.
            "--disable-dev-shm-usage".into(),
            // The Graph simulator's consent page is served over TLS with the test's own CA.
            "--ignore-certificate-errors".into(),
            "--window-size=1280,1000".into(),
            format!("--user-data-dir={}", self.profile_path.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium(), "args": args }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Chromium talks to chromedriver over a debugging port and outlives it when the session
        // was not closed (a panic, a timeout): end the browsers started on this test's own
        // profile, and only those.
        for pid in processes_using(&self.profile_path) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
    }
}

/// Processes whose command line names `profile` as their `--user-data-dir`.
fn processes_using(profile: &Path) -> Vec<u32> {
    let needle = format!("--user-data-dir={}", profile.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|cmd| cmd.split(|b| *b == 0).any(|arg| arg == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// Every browser flow, in one Chromium session (starting Chromium is the slow part): the
/// credential page, then the console as a new MSP admin walks it.
#[tokio::test]
async fn browser_flows_in_one_chromium_session() {
    if let Err(missing) = browser_installed() {
        if std::env::var("JITGATE_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("JITGATE_REQUIRE_BROWSER=1 but {missing} is missing");
        }
        // Straight to stderr: `eprintln!` output of a passing test is captured and never shown.
        let _ = writeln!(
            std::io::stderr(),
            "\n################################################################################\n\
             SKIPPED: the browser tests need {missing}.\n\
             Install Debian's `chromium` and `chromium-driver` to run them; set\n\
             JITGATE_REQUIRE_BROWSER=1 to make a missing browser fail the test (CI does).\n\
             ################################################################################\n"
        );
        return;
    }
    jitgate::http_client::install_crypto_provider();
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    // A failed assertion must still end the browser session before the test fails.
    let outcome = AssertUnwindSafe(async {
        let credential = credential_page(&browser).await?;
        let console = match crate::console_browser::walkthrough(&browser).await {
            Ok(path) => path,
            Err(e) => return Err(failure(&browser, "console", e).await),
        };
        let portal = match crate::portal_browser::walkthrough(&browser).await {
            Ok(path) => path,
            Err(e) => return Err(failure(&browser, "portal", e).await),
        };
        let _ = writeln!(std::io::stdout(), "portal screenshot: {}", portal.display());
        Ok::<_, Box<dyn std::error::Error>>((credential, console))
    })
    .catch_unwind()
    .await;
    let _ = browser.close().await;
    drop(driver);
    let (credential, console) = match outcome {
        Ok(Ok(paths)) => paths,
        Ok(Err(e)) => panic!("browser flow failed: {e}"),
        Err(panic) => std::panic::resume_unwind(panic),
    };
    // Not `println!`: the harness would swallow it for a passing test.
    let _ = writeln!(
        std::io::stdout(),
        "screenshots: {} and {}",
        credential.display(),
        console.display()
    );
}

/// A flow's error with where the browser stopped (its page saved beside the screenshots).
async fn failure(
    browser: &Client,
    flow: &str,
    e: Box<dyn std::error::Error>,
) -> Box<dyn std::error::Error> {
    let url = browser.current_url().await.map(|u| u.to_string());
    let page = browser.source().await.unwrap_or_default();
    let dump = screenshot_dir().join(format!("{flow}-failure.html"));
    let _ = std::fs::write(&dump, &page);
    format!("{flow}: {e} (at {url:?}; page saved to {})", dump.display()).into()
}

/// A technician reveals the password and stores a TOTP key on the credential page.
async fn credential_page(browser: &Client) -> Flow<PathBuf> {
    let w = World::new().await;
    assert_eq!(w.request_on_ticket(8001, "alice").await, 202);
    let link = w.link_in(&w.notes(8001, 1).await[0]);
    let password = w
        .graph
        .user_by_upn(world::TENANT, &w.jit_upn())
        .unwrap()
        .password
        .expect("Graph got a password");
    flow(browser, &link, &password).await
}

pub(crate) type Flow<T> = Result<T, Box<dyn std::error::Error>>;

/// The technician's path through the page; returns the screenshot's path.
async fn flow(b: &Client, link: &str, password: &str) -> Flow<PathBuf> {
    b.goto(link).await?;
    let title = b.title().await?;
    assert!(title.contains("Fabrikam"), "title: {title}");
    assert_eq!(
        b.find(Locator::Id("customer")).await?.text().await?,
        "Fabrikam"
    );
    assert!(
        b.find_all(Locator::Id("password")).await?.is_empty(),
        "GET shows no password"
    );
    // The stylesheet and the script loaded under the CSP: the button is styled and the
    // script filled in the local time.
    let reveal = b.find(Locator::Id("reveal")).await?;
    let color = reveal.css_value("background-color").await?;
    assert!(
        ["rgb(11, 87, 208)", "rgba(11, 87, 208, 1)"].contains(&color.as_str()),
        "page.css applies: the Reveal button is {color}"
    );
    let local = b.find(Locator::Id("local-time")).await?;
    assert!(local.is_displayed().await?, "page.js runs");
    assert!(local.text().await?.starts_with("Your time:"));
    let dir = screenshot_dir();
    full_page_screenshot(b, 1280, &dir.join("credential-link-page.png")).await?;
    b.set_window_size(1280, 1000).await?;

    reveal.click().await?;
    let shown = b
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("password"))
        .await?
        .text()
        .await?;
    assert_eq!(shown, password, "the page shows what Graph received");
    assert!(
        b.find(Locator::Css(r#"button.copy[data-copy="password"]"#))
            .await?
            .is_displayed()
            .await?,
        "copy buttons appear with JavaScript"
    );

    // A mistyped code: the form comes back open with the error, the fields empty.
    let (key, totp) = new_totp_key();
    b.find(Locator::Id("totp-toggle")).await?.click().await?;
    b.find(Locator::Id("totp-key"))
        .await?
        .send_keys(&key)
        .await?;
    let right = totp.generate_current().to_string();
    let wrong = format!("{:06}", (right.parse::<u32>()? + 500_000) % 1_000_000);
    b.find(Locator::Id("totp-confirm"))
        .await?
        .send_keys(&wrong)
        .await?;
    b.find(Locator::Id("totp-save")).await?.click().await?;
    let error = b
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("totp-confirm-error"))
        .await?;
    assert!(error.text().await?.contains("does not match"));
    assert!(!b.source().await?.contains(&key), "the key is not echoed");
    full_page_screenshot(b, 1280, &dir.join("credential-totp-error.png")).await?;
    b.set_window_size(1280, 1000).await?;

    // Store it with the code an authenticator app would show.
    b.find(Locator::Id("totp-key"))
        .await?
        .send_keys(&key)
        .await?;
    let before = unix_now();
    b.find(Locator::Id("totp-confirm"))
        .await?
        .send_keys(&totp.generate_current().to_string())
        .await?;
    b.find(Locator::Id("totp-save")).await?.click().await?;
    let code = b
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("totp-code"))
        .await?
        .text()
        .await?;
    assert_code_matches(&code, &totp, before, unix_now());
    assert!(b.source().await?.contains("Authenticator key saved"));

    // Back to the link, reveal again: password and the code side by side.
    b.find(Locator::LinkText("Back to the sign-in page"))
        .await?
        .click()
        .await?;
    let before = unix_now();
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("reveal"))
        .await?
        .click()
        .await?;
    let code = b
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("totp-code"))
        .await?
        .text()
        .await?;
    assert_code_matches(&code, &totp, before, unix_now());
    assert_eq!(
        b.find(Locator::Id("password")).await?.text().await?,
        password
    );
    assert!(b.source().await?.contains("Reveal 2 of 3"));

    let desktop = dir.join("credential-page.png");
    full_page_screenshot(b, 1280, &desktop).await?;
    full_page_screenshot(b, 390, &dir.join("credential-page-phone.png")).await?;
    Ok(desktop)
}

/// Resize the window to `width` and the page's full height, then screenshot it.
pub(crate) async fn full_page_screenshot(b: &Client, width: u32, path: &Path) -> Flow<()> {
    b.set_window_size(width, 900).await?;
    let height = b
        .execute(
            "return Math.ceil(document.documentElement.scrollHeight);",
            vec![],
        )
        .await?
        .as_u64()
        .unwrap_or(1400) as u32;
    // The window includes browser chrome in some modes; a little extra keeps the footer in.
    b.set_window_size(width, height + 160).await?;
    std::fs::write(path, b.screenshot().await?)?;
    Ok(())
}
