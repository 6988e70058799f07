//! Hosted pages (server-rendered HTML, no external assets) and the embeddable widget script, and
//! how a scripted page is assembled: its template, the shared runtime and its locale's strings.

use crate::domain::i18n::{page_strings, Locale, Page};
use serde_json::Value;

pub const EMBED_JS: &str = include_str!("embed.js");
/// The preference center; `{{lang}}`, `{{strings}}` and `{{runtime}}` are filled by `preferences`.
const PREFERENCES_HTML: &str = include_str!("me.html");
/// The survey page; as the preference center, plus `{{data}}`, the survey as script-safe JSON.
const SURVEY_HTML: &str = include_str!("survey.html");
/// `t`, `el`, `$`, `show` and JSON calls, shared by the scripted pages and inlined into each (the
/// pages' CSP allows inline scripts only, so no extra request and no new source).
const RUNTIME_JS: &str = include_str!("runtime.js");
/// The marketer's workspace (`GET /admin`): the shell (sign-in, navigation, the `Admin` helpers
/// every view uses); it signs in with an API key kept in session storage.
const ADMIN_HTML: &str = include_str!("admin.html");
/// The workspace's views and charts, one file each, inlined in this order after the shell's
/// script (`{{modules}}`). A new view is a new file here and in this list.
const ADMIN_MODULES: &[(&str, &str)] = &[
    ("charts", include_str!("admin/charts.js")),
    ("overview", include_str!("admin/overview.js")),
    ("segments", include_str!("admin/segments.js")),
    ("forms", include_str!("admin/forms.js")),
    ("surveys", include_str!("admin/surveys.js")),
    ("webhooks", include_str!("admin/webhooks.js")),
    ("contacts", include_str!("admin/contacts.js")),
];

/// `GET /me`: the preference center, speaking `locale`.
pub fn preferences(locale: Locale) -> String {
    scripted(PREFERENCES_HTML, locale, Page::Preferences, None)
}

/// `GET /s/{token}`: the survey page, speaking `locale`; `data` is what its script renders.
pub fn survey(locale: Locale, data: &Value) -> String {
    scripted(SURVEY_HTML, locale, Page::Survey, Some(data))
}

/// `GET /admin`: the marketer's workspace, speaking `locale` as far as the workspace does
/// ([`workspace_locale`](crate::domain::i18n::workspace_locale)).
pub fn admin(locale: Locale) -> String {
    let locale = crate::domain::i18n::workspace_locale(locale);
    scripted(ADMIN_HTML, locale, Page::Admin, None)
}

/// The workspace's modules, each in a `<script>` element of its own headed by its name, so a
/// module that throws as it loads stops only itself: the other views still register and work.
/// The signup widget comes first: the form builder's live preview is the widget itself
/// (`window.__clientela.preview`), drawn from the definition being typed, so the page needs no
/// frame and no script source beyond its own inline ones (its CSP stays as it is).
fn admin_modules() -> String {
    let mut out = String::new();
    for (name, source) in [("embed", EMBED_JS)].iter().chain(ADMIN_MODULES) {
        out.push_str("<script>\n// ---- ");
        out.push_str(if *name == "embed" { "" } else { "admin/" });
        out.push_str(name);
        out.push_str(".js ----\n");
        out.push_str(source);
        out.push_str("\n</script>\n");
    }
    out
}

/// Fills a scripted page's template in one pass, so text inserted for one placeholder (a survey
/// name that reads `{{runtime}}`, say) is never read as another.
fn scripted(template: &str, locale: Locale, page: Page, data: Option<&Value>) -> String {
    let strings = script_json(&serde_json::json!({
        "locale": locale.tag(),
        "strings": page_strings(locale, page),
    }));
    let data = data.map(script_json).unwrap_or_default();
    let modules = if page == Page::Admin {
        admin_modules()
    } else {
        String::new()
    };
    let mut out = String::with_capacity(
        template.len() + RUNTIME_JS.len() + strings.len() + data.len() + modules.len(),
    );
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let value = match &rest[start + 2..start + len] {
            "lang" => locale.tag(),
            "strings" => strings.as_str(),
            "runtime" => RUNTIME_JS,
            "data" => data.as_str(),
            "modules" => modules.as_str(),
            _ => {
                // Not ours (none today): copied as it stands.
                out.push_str(&rest[..start + 2]);
                rest = &rest[start + 2..];
                continue;
            }
        };
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// JSON for a `<script type="application/json">` element: no `<`, `>` or `&` survives unescaped,
/// so no string can close the element (`</script>`) or open a comment (`<!--`) that changes how
/// the HTML parser finds its end. `JSON.parse` reads the escapes back as the same characters.
pub fn script_json(value: &Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

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

    /// The string keys a page's source names literally: `t('key'`, `has('key'` and `data-t="key"`.
    /// Keys built at run time (`t('status_' + d.status)`) are looked up with `has` first.
    fn literal_keys(source: &str) -> Vec<&str> {
        let mut keys = Vec::new();
        for opener in ["t('", "Admin.t('", "has('", "data-t=\""] {
            let close = if opener.ends_with('"') { '"' } else { '\'' };
            for (at, _) in source.match_indices(opener) {
                // `t(` must be the call itself, not the end of a longer name such as `split(`
                // (`Admin.t(` is its own opener).
                let before = source[..at].chars().next_back();
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
                    continue;
                }
                let rest = &source[at + opener.len()..];
                let Some(end) = rest.find(close) else {
                    continue;
                };
                // `t('status_' + d.status)`: a prefix, not a key.
                if rest[end + 1..].trim_start().starts_with('+') {
                    continue;
                }
                keys.push(&rest[..end]);
            }
        }
        keys
    }

    /// Every quoted whole key in a namespace of `page`'s table (`'contacts.timeline.granted'`),
    /// wherever it stands: in a ternary (`t(on ? 'a.on' : 'a.off')`), a fallback or a name table
    /// that `t` reads later. A prefix (`'fields.' + name`) is not a key.
    fn namespaced_literals(source: &str, page: Page) -> Vec<&str> {
        let namespaces: std::collections::BTreeSet<&str> = page_strings(Locale::En, page)
            .keys()
            .filter_map(|k| k.split_once('.').map(|(ns, _)| ns))
            .collect();
        let mut keys = Vec::new();
        for ns in namespaces {
            for (at, _) in source.match_indices(&format!("'{ns}.")) {
                let rest = &source[at + 1..];
                let Some(end) = rest.find('\'') else {
                    continue;
                };
                let key = &rest[..end];
                let whole = key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                    && !key.ends_with(['.', '_']);
                if whole && !rest[end + 1..].trim_start().starts_with('+') {
                    keys.push(key);
                }
            }
        }
        keys
    }

    #[test]
    fn every_key_a_page_script_looks_up_exists_in_every_locale() {
        let admin_sources: String = std::iter::once(ADMIN_HTML)
            .chain(ADMIN_MODULES.iter().map(|(_, source)| *source))
            .collect();
        for (page, source) in [
            (Page::Preferences, PREFERENCES_HTML),
            (Page::Survey, SURVEY_HTML),
            (Page::Admin, admin_sources.as_str()),
        ] {
            let mut keys = literal_keys(source);
            assert!(keys.len() > 20, "{page:?}: the scan found only {keys:?}");
            if page == Page::Admin {
                keys.extend(namespaced_literals(source, page));
            }
            for locale in Locale::ALL {
                for key in &keys {
                    assert!(
                        page_strings(locale, page).contains_key(*key),
                        "{page:?} looks up {key:?}, missing in {}",
                        locale.tag()
                    );
                }
            }
        }
        // The runtime is shared: it names no page's key.
        assert_eq!(literal_keys(RUNTIME_JS), Vec::<&str>::new());
        // Charts draw what they are given: the strings are the views'.
        for (name, source) in ADMIN_MODULES.iter().chain([&("embed", EMBED_JS)]) {
            assert!(
                !source.contains("</script") && !source.contains("<!--"),
                "admin/{name}.js would end or confuse its script element"
            );
        }
    }

    #[test]
    fn injected_json_cannot_leave_its_script_element() {
        let hostile = serde_json::json!({ "name": "</script><script>alert(1)</script><!--<script>", "and": "&amp; >" });
        let out = script_json(&hostile);
        assert!(
            !out.contains('<') && !out.contains('>') && !out.contains('&'),
            "{out}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(&out).ok(),
            Some(hostile.clone())
        );

        // In a served page, only the template's own elements close: the survey data adds none.
        let data = serde_json::json!({ "token": "t", "survey": hostile });
        let html = survey(Locale::En, &data);
        assert_eq!(
            html.matches("</script").count(),
            SURVEY_HTML.matches("</script").count()
        );
        assert!(!html.contains("<!--<script>"));
    }

    #[test]
    fn the_runtime_and_the_strings_are_inlined_as_scripts_can_hold_them() {
        // The runtime goes in raw, so it must not hold what would end or confuse its element.
        assert!(!RUNTIME_JS.contains("</script") && !RUNTIME_JS.contains("<!--"));
        for locale in Locale::ALL {
            for page in Page::ALL {
                let html = match page {
                    Page::Preferences => preferences(locale),
                    Page::Survey => survey(locale, &serde_json::json!({})),
                    Page::Admin => admin(locale),
                };
                assert!(
                    !html.contains("{{"),
                    "{page:?} {}: a placeholder is left",
                    locale.tag()
                );
                let spoken = if page == Page::Admin {
                    crate::domain::i18n::workspace_locale(locale)
                } else {
                    locale
                };
                assert!(html.contains(&format!(r#"<html lang="{}">"#, spoken.tag())));
                assert!(html.contains(RUNTIME_JS));
                let start = html.find(r#"<script type="application/json" id="page-strings">"#);
                let json = start.and_then(|s| {
                    let from = &html[s..];
                    let open = from.find('>')? + 1;
                    Some(&from[open..from.find("</script>")?])
                });
                let injected: Option<Value> = json.and_then(|j| serde_json::from_str(j).ok());
                let injected = injected.unwrap_or_default();
                assert_eq!(injected["locale"], spoken.tag());
                assert_eq!(
                    injected["strings"],
                    serde_json::to_value(page_strings(locale, page)).unwrap_or_default()
                );
            }
        }
    }

    #[test]
    fn a_placeholder_in_the_data_stays_text() {
        let data = serde_json::json!({ "survey": { "name": "{{runtime}} {{strings}} {{lang}}" } });
        let html = survey(Locale::Ro, &data);
        assert!(html.contains("{{runtime}} {{strings}} {{lang}}"));
        assert_eq!(html.matches(RUNTIME_JS).count(), 1);
    }
}
