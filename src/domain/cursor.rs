//! Keyset cursors of the admin lists that page newest first: the sort key `(created_at, id)`
//! of the last row a page showed, opaque to clients, so the next page starts right after it
//! through an index instead of counting past an offset.

use base64::Engine;

/// Where the next page starts: strictly after this `(at, id)` in the list's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: String,
    pub id: String,
}

/// Longest id a cursor may carry (ids here are a prefix and a few dozen characters).
const MAX_ID_LEN: usize = 100;

impl Cursor {
    pub fn new(at: &str, id: &str) -> Cursor {
        Cursor {
            at: at.to_string(),
            id: id.to_string(),
        }
    }

    /// The cursor as the `next_cursor` of an answer and the `cursor` query parameter.
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}\n{}", self.at, self.id))
    }

    /// A cursor this service made; anything else (edited, truncated, invented) is refused, so
    /// a bad `cursor` is a 400 rather than a page of who knows what.
    pub fn parse(raw: &str) -> Result<Cursor, &'static str> {
        const NOT_OURS: &str = "a next_cursor from an earlier page";
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw.trim())
            .map_err(|_| NOT_OURS)?;
        let text = String::from_utf8(bytes).map_err(|_| NOT_OURS)?;
        let (at, id) = text.split_once('\n').ok_or(NOT_OURS)?;
        let id_ok = !id.is_empty()
            && id.len() <= MAX_ID_LEN
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if super::time::parse(at).is_none() || !id_ok {
            return Err(NOT_OURS);
        }
        Ok(Cursor::new(at, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_nothing_else_parses() {
        let c = Cursor::new("2026-11-30T16:00:00.123Z", "seg_01JABC-x");
        assert_eq!(Cursor::parse(&c.encode()), Ok(c));
        for bad in [
            "",
            "not base64!",
            "bm8gbmV3bGluZQ", // "no newline"
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("yesterday\nseg_1"),
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("2026-11-30T16:00:00Z\n"),
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode("2026-11-30T16:00:00Z\nseg_1' OR 1=1"),
        ] {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
    }
}
