//! Field-level validation every parser of a client's input shares: the error map keyed by path,
//! the key and text rules, and the rejection of unknown keys.
//!
//! - [`FieldErrors`]: path → problem (`questions[2].key`, `orders[0].items[1].price`). Messages
//!   never quote what was submitted (values are PII); a path may name a submitted key, shown by
//!   [`shown_key`].
//! - [`valid_key`]: a key a marketer chooses (question, form field, custom attribute): 1–40 of
//!   `[a-z0-9_]`, starting with a letter.
//! - [`printable`], [`short_text`]: free text without control characters.
//! - [`reject_unknown`]: every key of an object that is not in the known list, at its own path.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Path → problem, in path order; empty means valid.
pub type FieldErrors = BTreeMap<String, String>;

/// Most characters of a submitted key that an error path shows.
pub const SHOWN_KEY_LEN: usize = 40;

/// No control characters (line breaks included).
pub fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// 1 to 40 of `[a-z0-9_]`, starting with a lower-case letter: safe as a JSON key, a path segment
/// and a SQL `json_extract` path without quoting.
pub fn valid_key(key: &str) -> bool {
    (1..=40).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Free text of at most `max` characters without control characters, trimmed; `None` when blank.
pub fn short_text(input: &str, max: usize) -> Option<String> {
    let t = input.trim();
    (!t.is_empty() && t.chars().count() <= max && printable(t)).then(|| t.to_string())
}

/// A submitted key as it may appear in an error path: without control characters and at most
/// [`SHOWN_KEY_LEN`] characters, so an error map can be neither garbled nor inflated at will.
pub fn shown_key(key: &str) -> String {
    key.chars()
        .filter(|c| !c.is_control())
        .take(SHOWN_KEY_LEN)
        .collect()
}

/// `path.key`, or `key` at the top level (empty `path`).
pub fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Records `message` at `path.<key>` for every key of `map` not in `known`. The message is the
/// caller's because each API has always worded it its own way ("unknown key", "unknown field").
pub fn reject_unknown(
    map: &Map<String, Value>,
    known: &[&str],
    path: &str,
    message: &str,
    errors: &mut FieldErrors,
) {
    for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
        errors.insert(join_path(path, &shown_key(key)), message.to_string());
    }
}
