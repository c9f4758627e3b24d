//! JIT account passwords: generated with a CSPRNG to meet Entra's cloud password rules.
//!
//! Entra's rules for cloud accounts (https://learn.microsoft.com/entra/identity/authentication/concept-sspr-policy):
//! 8–256 characters, at least three of
//! lowercase / uppercase / digits / symbols, only `A–Z a–z 0–9`, the symbols
//! `@ # $ % ^ & * - _ ! + = [ ] { } | \ : ' , . ? / ` ~ " ( ) ; < >` and space.
//!
//! We generate 20 characters with all four classes. Look-alike characters (`I l 1 O 0`) and
//! symbols that trouble copy/paste, shells, URLs or quoting (space, quotes, backslash,
//! brackets, `<>`, `` ` ``, `,`, `;`, `/`, `|`) are left out; the remaining alphabet of 69
//! characters still gives over 120 bits.

use rand::RngExt as _;
use rand::seq::{IndexedRandom as _, SliceRandom as _};

use crate::secret::Password;

/// Length of generated passwords.
pub const GENERATED_LENGTH: usize = 20;

const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";
const SYMBOLS: &[u8] = b"@#$%^&*-_!+=?.:~";

/// All symbols Entra allows in a password.
const ENTRA_SYMBOLS: &str = "@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ";

/// A fresh password: one character of each class, the rest from all classes, shuffled.
/// `rand::rng()` is a ChaCha-based CSPRNG seeded from the operating system.
pub fn generate() -> Password {
    let mut rng = rand::rng();
    let classes = [LOWER, UPPER, DIGITS, SYMBOLS];
    let all: Vec<u8> = classes.concat();
    let mut chars: Vec<u8> = classes
        .iter()
        .map(|class| *class.choose(&mut rng).expect("non-empty class"))
        .collect();
    while chars.len() < GENERATED_LENGTH {
        chars.push(all[rng.random_range(0..all.len())]);
    }
    chars.shuffle(&mut rng);
    Password::from(String::from_utf8(chars).expect("ASCII"))
}

/// Whether `password` satisfies Entra's cloud password rules.
pub fn meets_entra_rules(password: &str) -> bool {
    let length = password.chars().count();
    if !(8..=256).contains(&length) {
        return false;
    }
    let is_symbol = |c: char| ENTRA_SYMBOLS.contains(c);
    if !password
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || is_symbol(c))
    {
        return false;
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(is_symbol),
    ];
    classes.into_iter().filter(|present| *present).count() >= 3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::ExposeSecret as _;

    #[test]
    fn rules_match_entra() {
        assert!(meets_entra_rules("Abcdefg1"));
        assert!(!meets_entra_rules("abcdefg1"));
        assert!(!meets_entra_rules("Abcdef1"));
        assert!(!meets_entra_rules("Abcdefg1ü"));
    }

    #[test]
    fn generated_passwords_use_all_classes() {
        for _ in 0..2000 {
            let password = generate();
            let p = password.expose_secret();
            assert_eq!(p.len(), GENERATED_LENGTH);
            assert!(meets_entra_rules(p), "{p}");
            assert!(p.bytes().any(|b| LOWER.contains(&b)));
            assert!(p.bytes().any(|b| UPPER.contains(&b)));
            assert!(p.bytes().any(|b| DIGITS.contains(&b)));
            assert!(p.bytes().any(|b| SYMBOLS.contains(&b)));
        }
    }
}
