//! The import rules ARCHITECTURE.md states, checked on the source: a lower layer of the root
//! crate never names a higher one.

use std::path::Path;

/// (module, modules it must not import).
const RULES: &[(&str, &[&str])] = &[
    ("store", &["jobs", "http", "app", "psa", "services", "cli"]),
    ("jobs", &["http", "app", "cli"]),
    ("psa", &["jobs", "http", "app", "services", "cli"]),
    (
        "crypto",
        &["store", "jobs", "http", "app", "psa", "services"],
    ),
    (
        "domain",
        &["store", "jobs", "http", "app", "psa", "services"],
    ),
    // The OpenID Connect protocol knows HTTP and tokens, not jitgate's data or pages.
    (
        "oidc",
        &["store", "jobs", "http", "app", "psa", "services", "cli"],
    ),
    (
        "supervision",
        &["store", "jobs", "http", "app", "psa", "services"],
    ),
];

fn sources(module: &str) -> Vec<std::path::PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let file = src.join(format!("{module}.rs"));
    if file.exists() {
        out.push(file);
    }
    let mut dirs = vec![src.join(module)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn lower_layers_never_import_higher_ones() {
    let mut violations = Vec::new();
    for (module, forbidden) in RULES {
        let files = sources(module);
        assert!(!files.is_empty(), "no sources for {module}");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                for higher in *forbidden {
                    if line.contains(&format!("crate::{higher}::"))
                        || line.contains(&format!("crate::{higher};"))
                        || line.contains(&format!("crate::{higher}::{{"))
                    {
                        violations.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering broken:\n{}",
        violations.join("\n")
    );
}
