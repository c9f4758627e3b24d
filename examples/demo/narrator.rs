//! Narration: numbered steps, results, API calls, notes and the progress bar, in colour on a
//! terminal and as plain ASCII lines anywhere else.

use super::Style;
use jitgate::domain::duration::DurationSetting;
use jitgate_sim::connectwise::CwNote;
use std::io::Write;
use std::time::Duration;

const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";
const BAR_WIDTH: usize = 32;

/// Writes the story: numbered steps, results, API calls, notes and the progress bar.
pub(crate) struct Narrator<'a, W: Write> {
    out: &'a mut W,
    pub(crate) style: Style,
    step: usize,
    /// A progress bar or prompt is on the current line; the next line must start afresh.
    mid_line: bool,
}

impl<'a, W: Write> Narrator<'a, W> {
    pub(crate) fn new(out: &'a mut W, style: Style) -> Self {
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

    pub(crate) fn blank(&mut self) -> std::io::Result<()> {
        self.line("")
    }

    /// Finish a progress bar or prompt line, if one is open.
    pub(crate) fn end_line(&mut self) -> std::io::Result<()> {
        if self.mid_line {
            self.mid_line = false;
            writeln!(self.out)?;
        }
        Ok(())
    }

    pub(crate) fn title(&mut self, grant: Duration) -> std::io::Result<()> {
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

    pub(crate) fn heading(&mut self, text: &str) -> std::io::Result<()> {
        let text = self.paint(BOLD, text);
        self.line(&text)
    }

    pub(crate) fn step(&mut self, text: &str) -> std::io::Result<()> {
        self.step += 1;
        self.blank()?;
        let heading = format!("{}. {text}", self.step);
        self.heading(&heading)
    }

    pub(crate) fn ok(&mut self, text: &str) -> std::io::Result<()> {
        let mark = if self.style.live { "✓" } else { "*" };
        let mark = self.paint(GREEN, mark);
        self.line(&format!("  {mark} {text}"))
    }

    pub(crate) fn warn(&mut self, text: &str) -> std::io::Result<()> {
        let text = self.paint(YELLOW, &format!("! {text}"));
        self.line(&format!("  {text}"))
    }

    pub(crate) fn detail(&mut self, text: &str) -> std::io::Result<()> {
        let text = self.paint(DIM, text);
        self.line(&format!("    {text}"))
    }

    pub(crate) fn info(&mut self, text: &str) -> std::io::Result<()> {
        self.line(text)
    }

    /// A call and its answer, then what it did.
    pub(crate) fn api(
        &mut self,
        method: &str,
        path: &str,
        status: u16,
        what: &str,
    ) -> std::io::Result<()> {
        let call = self.paint(DIM, &format!("{method} {path}"));
        let what = what.trim_end();
        let status = self.paint(GREEN, &format!("{status} {}", reason(status)));
        self.ok(&format!("{call} -> {status}"))?;
        self.line(&format!("      {what}"))
    }

    /// A ticket note, framed, line by line as the PSA shows it.
    pub(crate) fn note(&mut self, note: &CwNote) -> std::io::Result<()> {
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

    pub(crate) fn callout(&mut self, label: &str, link: &str) -> std::io::Result<()> {
        self.blank()?;
        let label = self.paint(BOLD, label);
        self.line(&format!("  {label}"))?;
        self.blank()?;
        let link = self.paint(&format!("{BOLD}{CYAN}"), link);
        self.line(&format!("      {link}"))?;
        self.blank()
    }

    pub(crate) fn prompt(&mut self, text: &str) -> std::io::Result<()> {
        self.end_line()?;
        let text = self.paint(BOLD, text);
        write!(self.out, "  {text}")?;
        self.mid_line = true;
        self.out.flush()
    }

    /// The person pressed Enter, which the terminal echoed as the line break.
    pub(crate) fn answered(&mut self) {
        self.mid_line = false;
    }

    /// `  [██████████░░░░░░░░░░]  0:42 left`, redrawn in place.
    pub(crate) fn progress(&mut self, done: f64, left_ms: i64) -> std::io::Result<()> {
        let filled = ((done.clamp(0.0, 1.0)) * BAR_WIDTH as f64).round() as usize;
        let bar = format!("{}{}", "█".repeat(filled), "░".repeat(BAR_WIDTH - filled));
        let bar = self.paint(CYAN, &bar);
        write!(self.out, "\r  [{bar}] {} left ", seconds(left_ms))?;
        self.mid_line = true;
        self.out.flush()
    }
}

pub(crate) fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// `1:05` for 65 s; seconds round up so the count never shows 0 before the end.
pub(crate) fn seconds(ms: i64) -> String {
    let secs = (ms + 999) / 1000;
    format!("{}:{:02}", secs / 60, secs % 60)
}
