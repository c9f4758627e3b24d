//! The table: every figure with its target and whether this run met it; and the same as one
//! JSON document (`--json`), each row with its figures as numbers in named units.

use serde_json::{Value, json};
use std::fmt::Write;
use std::time::Duration;

/// One number of a row, in a unit a program can read (`ms`, `1/s`, `MB`, `ratio`, `count`, `%`).
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
}

pub struct Row {
    pub measure: String,
    pub value: String,
    pub target: String,
    /// `None`: a figure reported for context, with no target of its own.
    pub met: Option<bool>,
    pub quantities: Vec<Quantity>,
}

impl Row {
    /// Attach a number to the row for the JSON document.
    pub fn with(&mut self, name: &str, value: f64, unit: &'static str) -> &mut Row {
        self.quantities.push(Quantity {
            name: name.to_string(),
            value,
            unit,
        });
        self
    }

    /// Attach a duration, in milliseconds.
    pub fn with_ms(&mut self, name: &str, d: Duration) -> &mut Row {
        self.with(name, d.as_secs_f64() * 1000.0, "ms")
    }

    fn json(&self) -> Value {
        let values: Vec<Value> = self
            .quantities
            .iter()
            .map(|q| json!({"name": q.name, "value": q.value, "unit": q.unit}))
            .collect();
        json!({
            "name": self.measure,
            "display": self.value,
            "values": values,
            "target": if self.target.is_empty() { Value::Null } else { json!(self.target) },
            "met": self.met,
        })
    }
}

#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn figure(&mut self, measure: impl Into<String>, value: impl Into<String>) -> &mut Row {
        self.push(measure.into(), value.into(), String::new(), None)
    }

    pub fn target(
        &mut self,
        measure: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        met: bool,
    ) -> &mut Row {
        self.push(measure.into(), value.into(), target.into(), Some(met))
    }

    fn push(
        &mut self,
        measure: String,
        value: String,
        target: String,
        met: Option<bool>,
    ) -> &mut Row {
        self.rows.push(Row {
            measure,
            value,
            target,
            met,
            quantities: Vec::new(),
        });
        self.rows.last_mut().expect("just pushed")
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

    /// Every row and note as one JSON document; `header` as an object.
    pub fn json(&self, header: &[(String, String)]) -> String {
        let header: serde_json::Map<String, Value> =
            header.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let doc = json!({
            "header": header,
            "measures": self.rows.iter().map(Row::json).collect::<Vec<_>>(),
            "notes": self.notes,
        });
        serde_json::to_string_pretty(&doc).expect("JSON of plain values")
    }
}

/// Megabytes (10^6 bytes), the unit the targets are written in.
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_carries_numbers_units_targets_and_met() {
        let mut report = Report::default();
        report
            .target("p99", "12.0 ms", "≤ 20 ms", true)
            .with_ms("p99", Duration::from_millis(12));
        report.figure("rate", "10/s").with("rate", 10.0, "1/s");
        let doc: Value = serde_json::from_str(&report.json(&[])).expect("valid JSON");
        let rows = doc["measures"].as_array().expect("rows");
        assert_eq!(rows[0]["values"][0]["value"], json!(12.0));
        assert_eq!(rows[0]["values"][0]["unit"], json!("ms"));
        assert_eq!(rows[0]["met"], json!(true));
        assert_eq!(rows[1]["target"], Value::Null);
        assert_eq!(rows[1]["met"], Value::Null);
    }
}
