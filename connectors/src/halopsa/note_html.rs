//! Rendering a plain-text [`Note`] as the `note_html` of a Halo action.
//!
//! Everything from the note is HTML-escaped (a ticket title or a PSA name could contain markup);
//! blank lines become paragraphs, single line breaks become `<br>`, and `http(s)://` links become
//! anchors so the technician can click the credential link inside Halo.

use crate::Note;
use crate::html::escape;

pub fn render(note: &Note) -> String {
    let mut html = String::new();
    let title = note.title.trim();
    if !title.is_empty() {
        html.push_str("<p><strong>");
        html.push_str(&escape(title));
        html.push_str("</strong></p>");
    }
    let body = note.body.replace("\r\n", "\n");
    for paragraph in body.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        html.push_str("<p>");
        let lines: Vec<String> = paragraph
            .lines()
            .map(|line| linkify(line.trim_end()))
            .collect();
        html.push_str(&lines.join("<br>"));
        html.push_str("</p>");
    }
    html
}

/// Escape a line, turning each `http://` / `https://` word into a link. Trailing sentence
/// punctuation stays outside the link.
fn linkify(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = find_link_start(rest) {
        out.push_str(&escape(&rest[..start]));
        let after = &rest[start..];
        let word_end = after.find(char::is_whitespace).unwrap_or(after.len());
        let word = &after[..word_end];
        let link = word.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'', '"']);
        let link = if link.len() <= "https://".len() {
            word
        } else {
            link
        };
        let href = escape(link);
        out.push_str(&format!(
            "<a href=\"{href}\" target=\"_blank\" rel=\"noopener noreferrer\">{href}</a>"
        ));
        out.push_str(&escape(&word[link.len()..]));
        rest = &after[word_end..];
    }
    out.push_str(&escape(rest));
    out
}

fn find_link_start(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let https = lower.find("https://");
    let http = lower.find("http://");
    match (https, http) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(title: &str, body: &str) -> Note {
        Note {
            title: title.into(),
            body: body.into(),
        }
    }

    #[test]
    fn escapes_markup_and_keeps_structure() {
        let html = render(&note(
            "JIT <b>account</b>",
            "Line 1 & <script>alert(1)</script>\nLine 2\n\nSecond paragraph",
        ));
        assert_eq!(
            html,
            "<p><strong>JIT &lt;b&gt;account&lt;/b&gt;</strong></p>\
             <p>Line 1 &amp; &lt;script&gt;alert(1)&lt;/script&gt;<br>Line 2</p>\
             <p>Second paragraph</p>"
        );
    }

    #[test]
    fn links_become_anchors_without_trailing_punctuation() {
        let html = render(&note(
            "",
            "Open https://jit.example/c/abc?x=1&y=\"2\". Then sign in.",
        ));
        assert_eq!(
            html,
            "<p>Open <a href=\"https://jit.example/c/abc?x=1&amp;y=&quot;2\" target=\"_blank\" rel=\"noopener noreferrer\">\
             https://jit.example/c/abc?x=1&amp;y=&quot;2</a>&quot;. Then sign in.</p>"
        );
    }

    #[test]
    fn crlf_and_non_ascii() {
        assert_eq!(render(&note("", "é\r\nü")), "<p>é<br>ü</p>");
        assert_eq!(
            render(&note("", "HTTPS://")),
            "<p><a href=\"HTTPS://\" target=\"_blank\" rel=\"noopener noreferrer\">HTTPS://</a></p>"
        );
    }
}
