//! Hosted pages (server-rendered HTML, no external assets) and the embeddable widget script.

use crate::domain::i18n::Locale;

pub const EMBED_JS: &str = include_str!("embed.js");
/// The preference center; `{{lang}}` is replaced with the negotiated locale tag.
pub const PREFERENCES_HTML: &str = include_str!("me.html");
/// The survey page; `{{lang}}` is the locale tag and `{{data}}` the survey as script-safe JSON.
pub const SURVEY_HTML: &str = include_str!("survey.html");
/// The marketer's page (`GET /admin`); it signs in with an API key kept in session storage.
pub const ADMIN_HTML: &str = include_str!("admin.html");

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A complete page: readable on a phone, accessible, no scripts or outside resources.
/// `body` must already be escaped HTML.
pub fn page(locale: Locale, title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2430}}
main{{max-width:32rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.08)}}
h1{{font-size:1.5rem;margin-top:0}}
button{{font:inherit;font-size:1.1rem;padding:.8rem 1.6rem;border:0;border-radius:8px;background:#1f5eff;color:#fff;cursor:pointer;min-height:44px}}
button:focus-visible{{outline:3px solid #ffbf47;outline-offset:2px}}
@media (max-width:480px){{main{{margin:0;border-radius:0;min-height:100vh;box-sizing:border-box}}button{{width:100%}}}}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"#,
        lang = locale.tag(),
        title = escape(title),
        body = body
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn pages_declare_their_language() {
        assert!(page(Locale::Ru, "Т", "").contains(r#"<html lang="ru">"#));
    }
}
