//! HTML escaping: the workspace's one function for putting text into HTML.
//!
//! The HaloPSA note renderer uses it, and so does every page the app renders (the credential
//! page), so text that reaches a browser is escaped the same way everywhere.

/// Escapes text for HTML element content and for double- or single-quoted attribute values:
/// `&`, `<`, `>`, `"` and `'` become character references; everything else is kept.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_html_cares_about() {
        assert_eq!(
            escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain text, ünïcode"), "plain text, ünïcode");
    }
}
