//! The locales Clientela speaks (en, pt-BR, ro, ru), how a request picks one, and the strings of
//! the hosted pages and emails, read from one JSON file per locale in `src/domain/i18n/`.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Locale {
    En,
    PtBr,
    Ro,
    Ru,
}

impl Locale {
    pub const ALL: [Locale; 4] = [Locale::En, Locale::PtBr, Locale::Ro, Locale::Ru];

    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::PtBr => "pt-BR",
            Locale::Ro => "ro",
            Locale::Ru => "ru",
        }
    }

    /// Understands a BCP 47 tag by its primary language: `pt`, `pt-PT` and `pt_br` all mean pt-BR,
    /// the only Portuguese we have.
    pub fn from_tag(tag: &str) -> Option<Locale> {
        let primary = tag
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Locale::En),
            "pt" => Some(Locale::PtBr),
            "ro" => Some(Locale::Ro),
            "ru" => Some(Locale::Ru),
            _ => None,
        }
    }

    /// The best supported locale in an `Accept-Language` header, honouring q-values.
    pub fn from_accept_language(header: &str) -> Option<Locale> {
        let mut ranked: Vec<(f32, usize, Locale)> = header
            .split(',')
            .enumerate()
            .filter_map(|(i, part)| {
                let mut pieces = part.split(';');
                let tag = pieces.next()?.trim();
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                let locale = Locale::from_tag(tag)?;
                (q > 0.0).then_some((q, i, locale))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.first().map(|r| r.2)
    }

    /// The form's locale when it has one, else the visitor's preference, else English.
    pub fn negotiate(preferred: Option<Locale>, accept_language: Option<&str>) -> Locale {
        preferred
            .or_else(|| accept_language.and_then(Locale::from_accept_language))
            .unwrap_or(Locale::En)
    }
}

/// Picks the text for `locale` from a map of locale tags to texts: exact tag, then same
/// language, then English, then whatever comes first.
pub fn pick(
    texts: &std::collections::BTreeMap<String, String>,
    locale: Locale,
) -> Option<(&str, &str)> {
    texts
        .iter()
        .find(|(tag, _)| tag.eq_ignore_ascii_case(locale.tag()))
        .or_else(|| {
            texts
                .iter()
                .find(|(tag, _)| Locale::from_tag(tag) == Some(locale))
        })
        .or_else(|| {
            texts
                .iter()
                .find(|(tag, _)| Locale::from_tag(tag) == Some(Locale::En))
        })
        .or_else(|| texts.iter().next())
        .map(|(tag, text)| (tag.as_str(), text.as_str()))
}

/// The strings of one locale, as `src/domain/i18n/<tag>.json` holds them: the one table that the
/// server's emails and pages (`text`, `preference_notice`) and the hosted pages' scripts
/// (`page_strings`, injected into the page when it is served) all read.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Catalog {
    /// `Text` variant name → text.
    server: HashMap<String, String>,
    /// Purpose → the words shown beside its switch in the preference center.
    notices: HashMap<String, String>,
    /// The notice of any other purpose; `{purpose}` is replaced with its name.
    notice_for_other_purpose: String,
    preferences: BTreeMap<String, String>,
    survey: BTreeMap<String, String>,
    /// The words of "why am I in this segment" (`domain::segment::explain`), with plural forms.
    reasons: BTreeMap<String, String>,
    /// The marketer's workspace (`GET /admin`): only in the locales of [`workspace_locale`].
    #[serde(default)]
    admin: BTreeMap<String, String>,
}

/// The JSON source of each locale, in `Locale::ALL` order.
const SOURCES: [&str; 4] = [
    include_str!("i18n/en.json"),
    include_str!("i18n/pt-BR.json"),
    include_str!("i18n/ro.json"),
    include_str!("i18n/ru.json"),
];

/// Parsed once per isolate. The files are compiled in and a unit test parses each one, so the
/// empty fallback is never reached in a build that passed its tests; it keeps requests infallible.
fn catalog(locale: Locale) -> &'static Catalog {
    static CATALOGS: OnceLock<[Catalog; 4]> = OnceLock::new();
    let all = CATALOGS
        .get_or_init(|| SOURCES.map(|source| serde_json::from_str(source).unwrap_or_default()));
    &all[locale as usize]
}

macro_rules! texts {
    ($($variant:ident),* $(,)?) => {
        /// Every user-facing string of the server's own pages and emails; each variant is a key
        /// of the `server` table in every locale file.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Text {
            $($variant,)*
        }

        impl Text {
            pub const ALL: &'static [Text] = &[$(Text::$variant,)*];

            /// The key in the locale files: the variant's own name.
            fn key(self) -> &'static str {
                match self {
                    $(Text::$variant => stringify!($variant),)*
                }
            }
        }
    };
}

texts! {
    ConfirmTitle,
    ConfirmIntro,
    ConfirmButton,
    ConfirmDone,
    LinkInvalid,
    TryAgainLater,
    ConfirmEmailSubject,
    ConfirmEmailBody,
    Working,
    MagicLinkSubject,
    MagicLinkBody,
    UnsubscribeTitle,
    UnsubscribeIntro,
    UnsubscribeButton,
    UnsubscribeDone,
    SurveyEmailSubject,
    SurveyEmailBody,
    SurveyReminderSubject,
    SurveyReminderBody,
    SurveyTitle,
    SurveyAnswered,
    SurveyExpired,
    UnsubscribeSurveysIntro,
    UnsubscribeSurveysDone,
    ErasureSubject,
    ErasureBody,
    RePermissionSubject,
    RePermissionBody,
    RePermissionPreferences,
    KeepTitle,
    KeepIntro,
    KeepButton,
    KeepDone,
    FreshnessSubject,
    FreshnessBody,
}

pub fn text(locale: Locale, key: Text) -> &'static str {
    catalog(locale)
        .server
        .get(key.key())
        .map_or("", String::as_str)
}

/// The exact words the preference center shows next to a purpose's switch. A grant made there
/// records the SHA-256 of this text, and the text itself goes to the notice archive.
pub fn preference_notice(locale: Locale, purpose: &str) -> String {
    let strings = catalog(locale);
    match strings.notices.get(purpose) {
        Some(text) => text.clone(),
        None => strings
            .notice_for_other_purpose
            .replace("{purpose}", purpose),
    }
}

/// A hosted page whose script reads its strings from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// `GET /me`, the preference center (`src/pages/me.html`).
    Preferences,
    /// `GET /s/{token}`, the survey page (`src/pages/survey.html`).
    Survey,
    /// `GET /admin`, the marketer's workspace (`src/pages/admin.html` and `src/pages/admin/`).
    Admin,
}

impl Page {
    pub const ALL: [Page; 3] = [Page::Preferences, Page::Survey, Page::Admin];
}

/// The locale the marketer's workspace speaks for a visitor who asked for `locale`: English and
/// Brazilian Portuguese (the shops' own languages); anyone else reads it in English. The
/// customer-facing pages and emails speak all four.
pub fn workspace_locale(locale: Locale) -> Locale {
    match locale {
        Locale::PtBr => Locale::PtBr,
        _ => Locale::En,
    }
}

/// The strings a page's script looks up with `t('key')`, in `locale`. Keys ending in a CLDR
/// plural category (`_one`, `_few`, …) are the forms of their base key for counts that need them.
pub fn page_strings(locale: Locale, page: Page) -> &'static BTreeMap<String, String> {
    let strings = catalog(locale);
    match page {
        Page::Preferences => &strings.preferences,
        Page::Survey => &strings.survey,
        Page::Admin => &catalog(workspace_locale(locale)).admin,
    }
}

/// A string of the `reasons` table: `key` in its CLDR plural form for `n` when the locale has
/// one (`key_one`, `key_few`, …), else the base key; empty when missing (a unit test checks
/// every key the explanation uses exists in every locale).
pub fn reason_text(locale: Locale, key: &str, n: Option<i64>) -> &'static str {
    let table = &catalog(locale).reasons;
    n.and_then(|n| table.get(&format!("{key}_{}", plural_category(locale, n))))
        .or_else(|| table.get(key))
        .map_or("", String::as_str)
}

/// The CLDR plural category of a whole number in `locale` (integers only, which is all the
/// explanations count): `one`, `few`, `many` or `other`.
pub fn plural_category(locale: Locale, n: i64) -> &'static str {
    let n = n.unsigned_abs();
    let (mod10, mod100) = (n % 10, n % 100);
    match locale {
        Locale::En if n == 1 => "one",
        Locale::PtBr if n <= 1 => "one",
        Locale::Ro if n == 1 => "one",
        Locale::Ro if n == 0 || (1..=19).contains(&mod100) => "few",
        Locale::Ru if mod10 == 1 && mod100 != 11 => "one",
        Locale::Ru if (2..=4).contains(&mod10) && !(12..=14).contains(&mod100) => "few",
        Locale::Ru => "many",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn tags_map_to_supported_locales() {
        assert_eq!(Locale::from_tag("pt-BR"), Some(Locale::PtBr));
        assert_eq!(Locale::from_tag("pt_pt"), Some(Locale::PtBr));
        assert_eq!(Locale::from_tag("RO-ro"), Some(Locale::Ro));
        assert_eq!(Locale::from_tag("de"), None);
    }

    #[test]
    fn accept_language_honours_q_values() {
        assert_eq!(
            Locale::from_accept_language("de-DE,ru;q=0.5,ro;q=0.8"),
            Some(Locale::Ro)
        );
        assert_eq!(
            Locale::from_accept_language("pt-BR,pt;q=0.9,en;q=0.8"),
            Some(Locale::PtBr)
        );
        assert_eq!(Locale::from_accept_language("fr, de"), None);
        assert_eq!(
            Locale::from_accept_language("ru;q=0, en;q=0.1"),
            Some(Locale::En)
        );
    }

    #[test]
    fn form_locale_wins_over_the_browser() {
        assert_eq!(
            Locale::negotiate(Some(Locale::Ru), Some("pt-BR")),
            Locale::Ru
        );
        assert_eq!(Locale::negotiate(None, Some("pt-BR")), Locale::PtBr);
        assert_eq!(Locale::negotiate(None, None), Locale::En);
    }

    #[test]
    fn pick_falls_back_to_english_then_first() {
        let mut texts = BTreeMap::new();
        texts.insert("en".to_string(), "Email".to_string());
        texts.insert("pt-BR".to_string(), "E-mail".to_string());
        assert_eq!(pick(&texts, Locale::PtBr), Some(("pt-BR", "E-mail")));
        assert_eq!(pick(&texts, Locale::Ru), Some(("en", "Email")));
        let mut only_ro = BTreeMap::new();
        only_ro.insert("ro".to_string(), "Nume".to_string());
        assert_eq!(pick(&only_ro, Locale::Ru), Some(("ro", "Nume")));
    }

    /// `key_one`, `key_few`, …: a CLDR plural form of `key`, present only where the language has it.
    fn plural_base(key: &str) -> Option<&str> {
        ["zero", "one", "two", "few", "many", "other"]
            .iter()
            .find_map(|category| key.strip_suffix(category)?.strip_suffix('_'))
    }

    /// The keys of a table that every locale must have: all but the plural forms.
    fn base_keys<'a>(keys: impl Iterator<Item = &'a String>) -> BTreeSet<&'a str> {
        keys.map(String::as_str)
            .filter(|k| plural_base(k).is_none())
            .collect()
    }

    fn parsed(locale: Locale) -> Catalog {
        match serde_json::from_str(SOURCES[locale as usize]) {
            Ok(catalog) => catalog,
            Err(e) => panic!("src/domain/i18n/{}.json: {e}", locale.tag()),
        }
    }

    #[test]
    fn every_locale_file_parses_with_no_unknown_table() {
        for l in Locale::ALL {
            parsed(l);
        }
    }

    #[test]
    fn every_locale_has_exactly_the_keys_of_english() {
        let en = parsed(Locale::En);
        for l in Locale::ALL {
            let other = parsed(l);
            let tables: [(&str, BTreeSet<&str>, BTreeSet<&str>); 5] = [
                (
                    "server",
                    base_keys(en.server.keys()),
                    base_keys(other.server.keys()),
                ),
                (
                    "notices",
                    base_keys(en.notices.keys()),
                    base_keys(other.notices.keys()),
                ),
                (
                    "preferences",
                    base_keys(en.preferences.keys()),
                    base_keys(other.preferences.keys()),
                ),
                (
                    "survey",
                    base_keys(en.survey.keys()),
                    base_keys(other.survey.keys()),
                ),
                (
                    "reasons",
                    base_keys(en.reasons.keys()),
                    base_keys(other.reasons.keys()),
                ),
            ];
            for (table, want, got) in tables {
                assert_eq!(got, want, "{}: table {table}", l.tag());
            }
            // The workspace's table: complete where it is spoken, absent elsewhere (no half
            // translation that would mix languages on one screen).
            let admin = base_keys(other.admin.keys());
            if workspace_locale(l) == l {
                assert_eq!(
                    admin,
                    base_keys(en.admin.keys()),
                    "{}: table admin",
                    l.tag()
                );
                assert!(admin.len() > 20, "the admin table is read");
            } else {
                assert!(admin.is_empty(), "{}: the workspace is not spoken", l.tag());
            }
            for page in Page::ALL {
                for key in page_strings(l, page).keys() {
                    if let Some(base) = plural_base(key) {
                        assert!(
                            page_strings(l, page).contains_key(base),
                            "{}: {key} is a plural form of a key that does not exist",
                            l.tag()
                        );
                    }
                }
            }
            assert!(other.notice_for_other_purpose.contains("{purpose}"));
        }
    }

    #[test]
    fn every_text_has_a_string_in_every_locale_and_no_string_lacks_a_text() {
        let names: BTreeSet<&str> = Text::ALL.iter().map(|t| t.key()).collect();
        for l in Locale::ALL {
            for &t in Text::ALL {
                assert!(!text(l, t).trim().is_empty(), "{}: {t:?}", l.tag());
            }
            let catalog = parsed(l);
            let keys: BTreeSet<&str> = catalog.server.keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                names,
                "{}: server keys are the Text variants",
                l.tag()
            );
        }
    }

    #[test]
    fn plural_categories_follow_cldr() {
        let cats = |l| [0, 1, 2, 5, 11, 21, 22, 25, 101, 120].map(|n| plural_category(l, n));
        assert_eq!(
            cats(Locale::En),
            [
                "other", "one", "other", "other", "other", "other", "other", "other", "other",
                "other"
            ]
        );
        assert_eq!(cats(Locale::PtBr)[..3], ["one", "one", "other"]);
        assert_eq!(
            cats(Locale::Ro),
            ["few", "one", "few", "few", "few", "other", "other", "other", "few", "other"]
        );
        assert_eq!(
            cats(Locale::Ru),
            ["many", "one", "few", "many", "many", "one", "few", "many", "one", "many"]
        );
    }

    #[test]
    fn notices_of_other_purposes_name_the_purpose() {
        assert_eq!(
            preference_notice(Locale::Ro, "loyalty"),
            "Sunt de acord cu folosirea datelor mele în scopul „loyalty”."
        );
        assert_eq!(
            preference_notice(Locale::En, "sms"),
            "I want to receive offers and news by text message (SMS)."
        );
    }
}
