//! Outbox messages: their kinds, the JSON a webhook receives, and the delivery retry schedule.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Confirm,
    MagicLink,
    SurveyInvitation,
    /// The one reminder of a survey invitation not yet answered.
    SurveyReminder,
    /// "Is this still right?": a profile nobody confirmed for a long time.
    UpdateRequest,
    /// A consent about to lapse: one "keep me subscribed" button.
    RePermission,
    /// Tells a person their data was erased (no link: there is nothing left to reach).
    ErasureNotice,
    /// Sent by a marketer to check that the webhook is wired correctly.
    Test,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Confirm => "confirm",
            MessageKind::MagicLink => "magic_link",
            MessageKind::SurveyInvitation => "survey_invitation",
            MessageKind::SurveyReminder => "survey_reminder",
            MessageKind::UpdateRequest => "update_request",
            MessageKind::RePermission => "re_permission",
            MessageKind::ErasureNotice => "erasure_notice",
            MessageKind::Test => "test",
        }
    }
}

/// One outbox message as the admin API lists it and as the email webhook receives it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct OutboxMessage {
    pub id: String,
    pub to: String,
    pub kind: String,
    pub subject: String,
    /// The body; `None` when redacted.
    pub text: Option<String>,
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsubscribe_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferences_url: Option<String>,
    /// Headers the relay puts on the email as they are ([`relay_headers`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    pub created_at: String,
    pub sent_at: Option<String>,
    /// Whether the body and links were withheld (not `outbox:deliver`, or delivered already).
    #[serde(default)]
    pub redacted: bool,
}

impl OutboxMessage {
    /// What a key without `outbox:deliver` sees, and what is left of any message once it is
    /// delivered: the metadata, never a body or a live link.
    pub fn redacted(mut self) -> OutboxMessage {
        self.text = None;
        self.url = None;
        self.unsubscribe_url = None;
        self.preferences_url = None;
        self.headers.clear();
        self.redacted = true;
        self
    }
}

/// The headers an email carrying an unsubscribe link goes out with, ready for the relay to add
/// as they are: `List-Unsubscribe` (RFC 2369) with that link, and `List-Unsubscribe-Post:
/// List-Unsubscribe=One-Click` (RFC 8058), so mail providers unsubscribe with one POST to it
/// (the link withdraws the purpose of the email it came in). Transactional mail (confirmation,
/// sign-in) has no such link and gets none.
pub fn relay_headers(unsubscribe_url: Option<&str>) -> BTreeMap<String, String> {
    unsubscribe_url
        .map(|url| {
            BTreeMap::from([
                ("List-Unsubscribe".to_string(), format!("<{url}>")),
                (
                    "List-Unsubscribe-Post".to_string(),
                    "List-Unsubscribe=One-Click".to_string(),
                ),
            ])
        })
        .unwrap_or_default()
}

/// Seconds to wait before delivery attempt `attempts + 1`: exponential from 2 s, capped at
/// one hour, so a webhook that is down for a while is not hammered and recovers within the hour.
pub fn retry_delay_secs(attempts: u32) -> u32 {
    let exp = attempts.clamp(1, 12);
    (1u32 << exp).min(3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redacted_message_keeps_no_body_or_link() {
        let m = OutboxMessage {
            id: "msg_1".into(),
            to: "ana@example.com".into(),
            kind: "magic_link".into(),
            subject: "Sign in".into(),
            text: Some("https://x/me?t=secret".into()),
            url: Some("https://x/me?t=secret".into()),
            unsubscribe_url: Some("https://x/unsubscribe?t=s".into()),
            preferences_url: Some("https://x/me?p=s".into()),
            headers: relay_headers(Some("https://x/unsubscribe?t=s")),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            sent_at: None,
            redacted: false,
        }
        .redacted();
        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("secret") && !json.contains("?t=") && !json.contains("?p="));
        assert!(m.redacted && m.subject == "Sign in");
    }

    #[test]
    fn mail_with_an_unsubscribe_link_carries_rfc_8058_headers_and_other_mail_none() {
        let headers = relay_headers(Some("https://x/unsubscribe?t=abc"));
        assert_eq!(
            headers.get("List-Unsubscribe").map(String::as_str),
            Some("<https://x/unsubscribe?t=abc>")
        );
        assert_eq!(
            headers.get("List-Unsubscribe-Post").map(String::as_str),
            Some("List-Unsubscribe=One-Click")
        );
        assert!(relay_headers(None).is_empty());
    }

    #[test]
    fn backoff_grows_then_caps() {
        assert_eq!(retry_delay_secs(0), 2);
        assert_eq!(retry_delay_secs(1), 2);
        assert_eq!(retry_delay_secs(2), 4);
        assert_eq!(retry_delay_secs(5), 32);
        assert_eq!(retry_delay_secs(30), 3600);
        let mut last = 0;
        for a in 0..40 {
            let d = retry_delay_secs(a);
            assert!(d >= last && d <= 3600);
            last = d;
        }
    }
}
