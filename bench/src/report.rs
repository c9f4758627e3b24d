//! The table: every figure with its target and whether this run met it.

use std::fmt::Write;

pub struct Row {
    pub measure: String,
    pub value: String,
    pub target: String,
    /// `None`: a figure reported for context, with no target of its own.
    pub met: Option<bool>,
}

#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn figure(&mut self, measure: impl Into<String>, value: impl Into<String>) {
        self.rows.push(Row {
            measure: measure.into(),
            value: value.into(),
            target: String::new(),
            met: None,
        });
    }

    pub fn target(
        &mut self,
        measure: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        met: bool,
    ) {
        self.rows.push(Row {
            measure: measure.into(),
            value: value.into(),
            target: target.into(),
            met: Some(met),
        });
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn markdown(&self, header: &[(String, String)]) -> String {
        let mut out = String::new();
        for (k, v) in header {
            let _ = writeln!(out, "- **{k}**: {v}");
        }
        out.push('\n');
        out.push_str("| measure | this run | target | met |\n|---|---:|---|---|\n");
        for r in &self.rows {
            let met = match r.met {
                Some(true) => "met",
                Some(false) => "**not met**",
                None => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                r.measure, r.value, r.target, met
            );
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        out
    }
}

/// Megabytes (10^6 bytes), the unit the targets are written in.
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
