//! The signed links an email carries for its recipient: where each points and what it can do
//! (see `domain::link`). Signed now, under the contact's current epoch and the current key.

use crate::config::Config;
use crate::domain::consent::{MARKETING_EMAIL, SATISFACTION_SURVEYS};
use crate::domain::link::{self, LinkPurpose};
use crate::domain::time;

/// The two links of one message: leave this kind of email, or manage consents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactLinks {
    /// One-click unsubscribe (RFC 8058) from the kind of email it came in.
    pub unsubscribe_url: String,
    /// The preference center, in preferences-only mode.
    pub preferences_url: String,
}

/// Which kind of email the links travel in: it decides what unsubscribing withdraws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailStream {
    Marketing,
    Surveys,
}

impl MailStream {
    /// The stream whose one-click link withdraws consent `purpose`, if it has one of its own.
    pub fn for_purpose(purpose: &str) -> Option<MailStream> {
        match purpose {
            MARKETING_EMAIL => Some(MailStream::Marketing),
            SATISFACTION_SURVEYS => Some(MailStream::Surveys),
            _ => None,
        }
    }
}

pub fn for_contact(
    config: &Config,
    contact_id: &str,
    epoch: i64,
    stream: MailStream,
) -> ContactLinks {
    let now = time::now();
    let base = &config.public_base_url;
    let unsubscribe = match stream {
        MailStream::Marketing => LinkPurpose::UnsubscribeMarketing,
        MailStream::Surveys => LinkPurpose::UnsubscribeSurveys,
    };
    ContactLinks {
        unsubscribe_url: format!(
            "{base}/unsubscribe?t={}",
            link::sign(&config.keys, contact_id, unsubscribe, epoch, now)
        ),
        preferences_url: format!(
            "{base}/me?p={}",
            link::sign(
                &config.keys,
                contact_id,
                LinkPurpose::Preferences,
                epoch,
                now
            )
        ),
    }
}
