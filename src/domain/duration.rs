//! Durations as people write them in settings: `250ms`, `90s`, `15m`, `4h`, `1h30m`, `2d`.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DurationSetting(Duration);

impl DurationSetting {
    pub const fn from_secs(s: u64) -> Self {
        DurationSetting(Duration::from_secs(s))
    }
    pub const fn from_millis(ms: u64) -> Self {
        DurationSetting(Duration::from_millis(ms))
    }
    pub fn get(self) -> Duration {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty duration".into());
        }
        let mut total = Duration::ZERO;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(format!(
                    "invalid duration {text:?}: expected a number, e.g. 90s, 15m, 4h"
                ));
            }
            let n: u64 = rest[..digits]
                .parse()
                .map_err(|_| format!("number too large in {text:?}"))?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let part = match unit {
                "ms" => Duration::from_millis(n),
                "s" => Duration::from_secs(n),
                "m" => Duration::from_secs(n.saturating_mul(60)),
                "h" => Duration::from_secs(n.saturating_mul(3600)),
                "d" => Duration::from_secs(n.saturating_mul(86400)),
                "" => {
                    return Err(format!(
                        "invalid duration {text:?}: missing unit (ms, s, m, h or d)"
                    ));
                }
                other => return Err(format!("invalid duration {text:?}: unknown unit {other:?}")),
            };
            total = total.saturating_add(part);
        }
        Ok(DurationSetting(total))
    }
}

impl fmt::Display for DurationSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        if !ms.is_multiple_of(1000) {
            return write!(f, "{ms}ms");
        }
        let mut secs = self.0.as_secs();
        for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for DurationSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<'de> Deserialize<'de> for DurationSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        DurationSetting::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (text, secs, shown) in [
            ("90s", 90, "1m30s"),
            ("15m", 900, "15m"),
            ("4h", 14400, "4h"),
            ("1h30m", 5400, "1h30m"),
        ] {
            let d = DurationSetting::parse(text).unwrap();
            assert_eq!(d.get().as_secs(), secs);
            assert_eq!(d.to_string(), shown);
        }
        assert_eq!(
            DurationSetting::parse("250ms").unwrap().to_string(),
            "250ms"
        );
    }

    #[test]
    fn refuses_nonsense() {
        for bad in ["", "4", "h", "4x", "-1h", "1.5h"] {
            assert!(DurationSetting::parse(bad).is_err(), "{bad}");
        }
    }
}
