//! Events out: the event types integrations subscribe to, the rules for a subscription's URL,
//! the delivery backoff, and the one body an event is sent as (webhooks and the change feed).
//!
//! What each event's `data` holds is decided here, once: ids, the time, what changed, and the
//! person's email address only when the reader may read contacts, never for `contact.erased`.

use serde_json::{json, Map, Value};
use url::{Host, Url};

/// What happened. The names are the contract (`type` in every body, `events` in subscriptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    ContactConfirmed,
    ContactUpdated,
    ContactConsentChanged,
    ContactErased,
    SegmentEntered,
    SegmentExited,
    SurveyAnswered,
    ExportReady,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::ContactConfirmed,
        EventType::ContactUpdated,
        EventType::ContactConsentChanged,
        EventType::ContactErased,
        EventType::SegmentEntered,
        EventType::SegmentExited,
        EventType::SurveyAnswered,
        EventType::ExportReady,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ContactConfirmed => "contact.confirmed",
            EventType::ContactUpdated => "contact.updated",
            EventType::ContactConsentChanged => "contact.consent_changed",
            EventType::ContactErased => "contact.erased",
            EventType::SegmentEntered => "segment.entered",
            EventType::SegmentExited => "segment.exited",
            EventType::SurveyAnswered => "survey.answered",
            EventType::ExportReady => "export.ready",
        }
    }

    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether the body may carry the person's address: never once they are erased.
    fn may_carry_email(self) -> bool {
        !matches!(self, EventType::ContactErased | EventType::ExportReady)
    }
}

/// A non-empty, duplicate-free list of event types, in the contract's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypes(Vec<EventType>);

impl EventTypes {
    /// The error names the first unknown type.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<EventTypes, String> {
        if names.is_empty() {
            return Err("at least one event type is required".into());
        }
        let mut types = Vec::new();
        for name in names {
            let name = name.as_ref();
            let t = EventType::parse(name).ok_or_else(|| {
                format!(
                    "unknown event type '{}'",
                    name.chars().take(40).collect::<String>()
                )
            })?;
            if !types.contains(&t) {
                types.push(t);
            }
        }
        types.sort();
        Ok(EventTypes(types))
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|t| t.as_str()).collect()
    }
}

/// Where a subscription's deliveries go: `https`, or plain `http` to a loopback address only
/// when the deployment itself is served from loopback (local runs and tests). No credentials in
/// the URL (they would be shown back in every listing), no fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn parse(input: &str, public_base_url: &str) -> Result<WebhookUrl, &'static str> {
        if input.len() > 2000 {
            return Err("at most 2000 characters");
        }
        let url = Url::parse(input.trim()).map_err(|_| "an absolute https URL")?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("no user name or password in the URL");
        }
        if url.fragment().is_some() {
            return Err("no #fragment");
        }
        let loopback = |u: &Url| match u.host() {
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        // Addresses inside a network (loopback, private, link-local, unspecified) are no
        // receiver of a deployment on the internet; a local deployment may use loopback.
        let internal = |u: &Url| match u.host() {
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(Host::Ipv4(ip)) => {
                ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
            }
            Some(Host::Ipv6(ip)) => {
                let first = ip.segments()[0];
                ip.is_loopback()
                    || ip.is_unspecified()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
                    || ip.to_ipv4_mapped().is_some()
            }
            None => true,
        };
        let local_deployment = Url::parse(public_base_url).is_ok_and(|b| loopback(&b));
        match url.scheme() {
            "https" if !internal(&url) || (local_deployment && loopback(&url)) => {
                Ok(WebhookUrl(url.to_string()))
            }
            "http" if local_deployment && loopback(&url) => Ok(WebhookUrl(url.to_string())),
            "https" => Err("a public https URL (not a loopback or private address)"),
            _ => Err("an https URL"),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A note about a subscription, as the marketer wrote it.
pub fn parse_description(input: &str) -> Result<String, &'static str> {
    let text = input.trim();
    if text.chars().count() > 200 || text.chars().any(char::is_control) {
        return Err("at most 200 characters, on one line");
    }
    Ok(text.to_string())
}

/// Attempts before a delivery is given up as failed: the first, then one per delay.
pub const MAX_ATTEMPTS: u32 = 8;
/// Seconds to wait after failed attempt `n` (1-based): about 5 s, 5 min, 30 min, 2 h, 5 h,
/// 10 h, 10 h, as Standard Webhooks' reference schedule.
const BACKOFF_SECS: [u32; 7] = [5, 300, 1800, 7200, 18000, 36000, 36000];
/// A subscription whose deliveries have failed without a success for this long is disabled.
pub const DISABLE_AFTER_DAYS: i64 = 3;

/// After failed attempt `attempts`: the wait before the next one, or `None` when it was the
/// last. `test_secs` (a test-only setting) replaces every wait.
pub fn next_attempt_in(attempts: u32, test_secs: Option<u32>) -> Option<u32> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let natural = BACKOFF_SECS[(attempts.max(1) - 1) as usize];
    Some(test_secs.map_or(natural, |s| s.min(natural)))
}

/// One stored event, as the store reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: i64,
    pub kind: EventType,
    pub at: String,
    pub contact_id: Option<String>,
    pub segment_id: Option<String>,
    /// Type-specific fields (what changed), a JSON object.
    pub detail: Map<String, Value>,
    /// Written by the first build of a new segment.
    pub rebuild: bool,
}

impl Event {
    /// `evt_` and the feed position: the same for every attempt and every subscriber.
    pub fn id(&self) -> String {
        format!("evt_{}", self.seq)
    }

    /// The body of a delivery and of a feed entry: `{"type","timestamp","data"}`. `email` is
    /// the person's address when the reader may see it (it is dropped for erasures whatever
    /// is passed).
    pub fn body(&self, email: Option<&str>) -> Value {
        let mut data = Map::new();
        if let Some(id) = &self.contact_id {
            data.insert("contact_id".into(), json!(id));
        }
        if let Some(id) = &self.segment_id {
            data.insert("segment_id".into(), json!(id));
        }
        if let (Some(email), true) = (email, self.kind.may_carry_email()) {
            data.insert("email".into(), json!(email));
        }
        for (k, v) in &self.detail {
            data.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if self.rebuild {
            data.insert("rebuild".into(), json!(true));
        }
        json!({ "type": self.kind.as_str(), "timestamp": self.at, "data": data })
    }
}

/// `evt_<n>` (or `<n>`) as a feed position.
pub fn parse_cursor(input: &str) -> Option<i64> {
    let digits = input.strip_prefix("evt_").unwrap_or(input);
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_round_trips_and_lists_sort_without_duplicates() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        let types =
            EventTypes::parse(&["segment.exited", "contact.erased", "segment.exited"]).unwrap();
        assert_eq!(types.names(), vec!["contact.erased", "segment.exited"]);
        assert!(EventTypes::parse::<&str>(&[]).is_err());
        assert!(EventTypes::parse(&["contact.*"])
            .unwrap_err()
            .contains("'contact.*'"));
    }

    #[test]
    fn only_https_or_loopback_on_a_loopback_deployment() {
        let prod = "https://crm.shop.example";
        let local = "http://127.0.0.1:8787";
        assert!(WebhookUrl::parse("https://hooks.example/in?x=1", prod).is_ok());
        for bad in [
            "http://hooks.example/in",
            "http://127.0.0.1:9000/in",
            "ftp://hooks.example/",
            "https://user:pw@hooks.example/",
            "https://hooks.example/#frag",
            "/relative",
            "javascript:alert(1)",
        ] {
            assert!(WebhookUrl::parse(bad, prod).is_err(), "{bad}");
        }
        for ok in [
            "http://127.0.0.1:9000/in",
            "http://localhost:9/x",
            "http://[::1]:9/",
        ] {
            assert!(WebhookUrl::parse(ok, local).is_ok(), "{ok}");
        }
        for internal in [
            "https://127.0.0.1/in",
            "https://localhost/in",
            "https://10.1.2.3/in",
            "https://192.168.0.1/in",
            "https://169.254.169.254/latest",
            "https://[::1]/in",
            "https://[fd00::1]/in",
            "https://[::ffff:10.0.0.1]/in",
            "https://0.0.0.0/in",
        ] {
            assert!(WebhookUrl::parse(internal, prod).is_err(), "{internal}");
        }
        // Loopback is a local convenience, not a way to reach other plain-http hosts.
        assert!(WebhookUrl::parse("http://10.0.0.1/in", local).is_err());
        assert!(WebhookUrl::parse("http://127.0.0.1.nip.io/in", local).is_err());
    }

    #[test]
    fn the_backoff_follows_the_schedule_then_gives_up() {
        let waits: Vec<Option<u32>> = (1..=8).map(|n| next_attempt_in(n, None)).collect();
        assert_eq!(
            waits,
            vec![
                Some(5),
                Some(300),
                Some(1800),
                Some(7200),
                Some(18000),
                Some(36000),
                Some(36000),
                None
            ]
        );
        assert_eq!(next_attempt_in(2, Some(1)), Some(1));
        assert_eq!(next_attempt_in(8, Some(1)), None);
    }

    fn event(kind: EventType) -> Event {
        Event {
            seq: 42,
            kind,
            at: "2026-12-01T10:00:00.000Z".into(),
            contact_id: Some("c1".into()),
            segment_id: None,
            detail: Map::new(),
            rebuild: false,
        }
    }

    #[test]
    fn an_erasure_never_carries_the_address_even_when_one_is_passed() {
        let erased = event(EventType::ContactErased).body(Some("ana@example.com"));
        assert_eq!(erased["data"], json!({ "contact_id": "c1" }));
        let confirmed = event(EventType::ContactConfirmed).body(Some("ana@example.com"));
        assert_eq!(
            confirmed,
            json!({ "type": "contact.confirmed", "timestamp": "2026-12-01T10:00:00.000Z",
                    "data": { "contact_id": "c1", "email": "ana@example.com" } })
        );
        assert_eq!(event(EventType::ContactConfirmed).id(), "evt_42");
    }

    #[test]
    fn detail_never_overrides_the_ids() {
        let mut e = event(EventType::ContactConsentChanged);
        e.detail.insert("contact_id".into(), json!("someone else"));
        e.detail.insert("purpose".into(), json!("marketing_email"));
        let body = e.body(None);
        assert_eq!(body["data"]["contact_id"], "c1");
        assert_eq!(body["data"]["purpose"], "marketing_email");
    }

    #[test]
    fn cursors_are_event_ids_or_their_numbers() {
        assert_eq!(parse_cursor("evt_17"), Some(17));
        assert_eq!(parse_cursor("17"), Some(17));
        for bad in ["", "evt_", "evt_-1", "1e3", "evt_99999999999999999999"] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }
}
