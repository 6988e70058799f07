//! What a form submission does to the base, decided from what we already know about the address.
//!
//! The rules that matter: data of a confirmed address is never overwritten, and it never goes
//! back to pending, unless the owner of the address confirms the change by email; and an erased
//! (suppressed) address comes back only through its owner's own confirmation, however forms are
//! chained. Consents given on a double opt-in form wait in the confirmation token and count
//! nowhere until the person confirms.

use serde::{Deserialize, Serialize};

use crate::domain::form::{ContactFields, GivenConsent};

/// A contact's `status` column, as stored and as documents show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactStatus {
    Pending,
    Active,
    Unsubscribed,
}

impl ContactStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ContactStatus::Pending => "pending",
            ContactStatus::Active => "active",
            ContactStatus::Unsubscribed => "unsubscribed",
        }
    }

    pub fn parse(s: &str) -> Option<ContactStatus> {
        match s {
            "pending" => Some(ContactStatus::Pending),
            "active" => Some(ContactStatus::Active),
            "unsubscribed" => Some(ContactStatus::Unsubscribed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupPlan {
    /// New address on a form without double opt-in: active at once.
    CreateActive,
    /// New address (or an erased one coming back) on a double opt-in form.
    CreatePending,
    /// Still unconfirmed: take the newer data, (re)send the confirmation.
    RefreshPending,
    /// Unconfirmed (and not erased), and this form does not ask for confirmation: take the data
    /// and the consents of this form, and activate.
    ActivatePending,
    /// Known, confirmed address: changes and consents wait for the owner's confirmation.
    ConfirmChanges,
    /// Accept and store nothing (an erased address on a form without double opt-in, whether or
    /// not a double opt-in form has left it pending).
    Drop,
}

/// `suppressed` is checked whatever the contact's state: an erased address left pending by a
/// double opt-in form is still erased until its owner confirms.
pub fn plan(existing: Option<ContactStatus>, suppressed: bool, double_opt_in: bool) -> SignupPlan {
    match existing {
        None | Some(ContactStatus::Pending) if suppressed && !double_opt_in => SignupPlan::Drop,
        None if double_opt_in || suppressed => SignupPlan::CreatePending,
        None => SignupPlan::CreateActive,
        Some(ContactStatus::Pending) if double_opt_in => SignupPlan::RefreshPending,
        Some(ContactStatus::Pending) => SignupPlan::ActivatePending,
        Some(ContactStatus::Active | ContactStatus::Unsubscribed) => SignupPlan::ConfirmChanges,
    }
}

/// What a confirmation link carries (inside the token row, never in the URL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmPayload {
    pub form_id: String,
    pub locale: String,
    pub consents: Vec<GivenConsent>,
    /// Set for `ConfirmChanges`: the submitted data, applied only on confirmation.
    pub changes: Option<PendingChanges>,
    /// When and from where the form was sent: recorded as the `form` event of each consent when
    /// the person confirms (absent in tokens issued before consents waited for confirmation).
    #[serde(default)]
    pub submitted: Option<SubmissionProof>,
}

/// The facts of a form submission that prove a consent, kept until its confirmation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmissionProof {
    pub at: String,
    pub ip_hash: String,
    pub user_agent: Option<String>,
    /// The submission carried `Sec-GPC: 1`: an objection to profiling, recorded when the owner
    /// of the address confirms (an anonymous post about an address proves nothing until then).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gpc: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingChanges {
    pub fields: ContactFields,
    pub attributes: std::collections::BTreeMap<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContactStatus::*;
    use SignupPlan::*;

    /// The stored status decides the plan: a status read wrongly would treat a confirmed
    /// address as new (or as unknown, and drop its data).
    #[test]
    fn stored_statuses_are_read_back() {
        assert_eq!(ContactStatus::parse("pending"), Some(Pending));
        assert_eq!(ContactStatus::parse("active"), Some(Active));
        assert_eq!(ContactStatus::parse("unsubscribed"), Some(Unsubscribed));
        assert_eq!(ContactStatus::parse("Active"), None);
        assert_eq!(ContactStatus::parse("erased"), None);
        // The column is written with `as_str` and read back by serde: both spell it the same.
        for status in [Pending, Active, Unsubscribed] {
            assert_eq!(ContactStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_value(status).ok();
            assert_eq!(
                json.as_ref().and_then(|v| v.as_str()),
                Some(status.as_str())
            );
            let back: Option<ContactStatus> = json.and_then(|v| serde_json::from_value(v).ok());
            assert_eq!(back, Some(status));
        }
    }

    #[test]
    fn confirmed_addresses_never_go_back_to_pending() {
        for doi in [true, false] {
            assert_eq!(plan(Some(Active), false, doi), ConfirmChanges);
            assert_eq!(plan(Some(Unsubscribed), false, doi), ConfirmChanges);
        }
    }

    #[test]
    fn new_addresses_follow_the_form() {
        assert_eq!(plan(None, false, true), CreatePending);
        assert_eq!(plan(None, false, false), CreateActive);
        assert_eq!(plan(Some(Pending), false, true), RefreshPending);
        assert_eq!(plan(Some(Pending), false, false), ActivatePending);
    }

    #[test]
    fn erased_addresses_come_back_only_through_double_opt_in() {
        assert_eq!(plan(None, true, true), CreatePending);
        assert_eq!(plan(None, true, false), Drop);
    }

    /// The chain that undid erasure: a double opt-in form leaves the erased address pending,
    /// then a single opt-in form must not activate it.
    #[test]
    fn a_pending_erased_address_is_not_activated_by_a_single_opt_in_form() {
        assert_eq!(plan(Some(Pending), true, false), Drop);
        assert_eq!(plan(Some(Pending), true, true), RefreshPending);
    }
}
