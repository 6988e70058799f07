//! Everything a segment rule can ask about one contact, as the store loads it, and the queries
//! that load it. The queries are the ones the property test runs against SQLite, so facts read
//! with them make [`eval`](super::SegmentRule::eval) agree with [`to_sql`](super::SegmentRule::to_sql).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One contact as segments see it. Times are stored text (RFC 3339), compared as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactFacts {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub locale: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    /// `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    pub gender: Option<String>,
    pub status: String,
    pub source: String,
    pub created_at: String,
    pub confirmed_at: Option<String>,
    pub last_activity_at: Option<String>,
    /// When the person last confirmed (or edited) their profile.
    pub data_confirmed_at: Option<String>,
    /// From `contact_stats`; a contact without a stats row has the row's defaults (0 orders,
    /// 0 spent, `cold`) and no other stats.
    pub order_count: i64,
    pub total_spent_cents: i64,
    pub first_order_at: Option<String>,
    pub last_order_at: Option<String>,
    pub last_nps: Option<i64>,
    pub nps_category: Option<String>,
    pub avg_csat: Option<f64>,
    pub temperature: String,
    pub rfm_r: Option<i64>,
    pub rfm_f: Option<i64>,
    pub rfm_m: Option<i64>,
    pub rfm_segment: Option<String>,
    /// The latest survey answer, for [`temperature`](super::temperature) (no rule field reads it).
    pub last_response_at: Option<String>,
    /// Custom attributes by key, each the JSON decoded from `contact_attributes.value`
    /// (including `null` when that is what is stored).
    pub attributes: BTreeMap<String, Value>,
    /// Purposes whose consent is currently granted.
    pub consents: BTreeSet<String>,
    /// Purposes with a `withdrawn` record (for a legitimate-interest purpose: an objection).
    pub withdrawn: BTreeSet<String>,
    /// The chosen frequency of each granted purpose (`all` when none was chosen).
    pub frequencies: BTreeMap<String, String>,
    /// Categories and SKUs of every item of every order (texts only).
    pub bought_categories: BTreeSet<String>,
    pub bought_skus: BTreeSet<String>,
    /// Ids of the segments the contact is a member of now.
    pub segments: BTreeSet<String>,
}

impl Default for ContactFacts {
    /// A contact with nothing known, with the schema's defaults.
    fn default() -> ContactFacts {
        ContactFacts {
            id: String::new(),
            email: String::new(),
            name: None,
            locale: None,
            country: None,
            city: None,
            birth_date: None,
            gender: None,
            status: "pending".into(),
            source: String::new(),
            created_at: String::new(),
            confirmed_at: None,
            last_activity_at: None,
            data_confirmed_at: None,
            order_count: 0,
            total_spent_cents: 0,
            first_order_at: None,
            last_order_at: None,
            last_nps: None,
            nps_category: None,
            avg_csat: None,
            temperature: "cold".into(),
            rfm_r: None,
            rfm_f: None,
            rfm_m: None,
            rfm_segment: None,
            last_response_at: None,
            attributes: BTreeMap::new(),
            consents: BTreeSet::new(),
            withdrawn: BTreeSet::new(),
            frequencies: BTreeMap::new(),
            bought_categories: BTreeSet::new(),
            bought_skus: BTreeSet::new(),
            segments: BTreeSet::new(),
        }
    }
}

impl ContactFacts {
    /// Adds one row of [`CONSENTS_SQL`].
    pub fn record_consent(&mut self, purpose: String, granted: bool, frequency: String) {
        if granted {
            self.frequencies.insert(purpose.clone(), frequency);
            self.consents.insert(purpose);
        } else {
            self.withdrawn.insert(purpose);
        }
    }

    /// Whether processing for `purpose` is allowed now, by its basis (see `domain::consent`).
    pub fn allows(&self, purpose: &str) -> bool {
        let granted = if self.consents.contains(purpose) {
            Some(true)
        } else if self.withdrawn.contains(purpose) {
            Some(false)
        } else {
            None
        };
        crate::domain::consent::Basis::of(purpose).allows(granted)
    }
}

/// The contact and stats columns, named as the fields of [`ContactFacts`]; `?1` is the contact
/// id. The defaults for a missing stats row are the ones `to_sql` applies.
pub const CONTACT_SQL: &str = "SELECT c.id, c.email, c.name, c.locale, c.country, c.city, \
     c.birth_date, c.gender, c.status, c.source, c.created_at, c.confirmed_at, \
     c.last_activity_at, c.data_confirmed_at, COALESCE(s.order_count, 0) AS order_count, \
     COALESCE(s.total_spent_cents, 0) AS total_spent_cents, s.first_order_at, s.last_order_at, \
     s.last_nps, s.nps_category, s.avg_csat, COALESCE(s.temperature, 'cold') AS temperature, \
     s.rfm_r, s.rfm_f, s.rfm_m, s.rfm_segment, \
     (SELECT MAX(i.answered_at) FROM survey_invitations i WHERE i.contact_id = c.id) AS last_response_at \
     FROM contacts c LEFT JOIN contact_stats s ON s.contact_id = c.id WHERE c.id = ?1";

/// `key`, `value` (JSON text, to decode into [`ContactFacts::attributes`]).
pub const ATTRIBUTES_SQL: &str =
    "SELECT key, value FROM contact_attributes WHERE contact_id = ?1 ORDER BY key";

/// Every decision on record: `purpose`, `granted` (0 or 1) and `frequency` (`all` when none
/// was chosen), for [`ContactFacts::record_consent`].
pub const CONSENTS_SQL: &str = "SELECT purpose, granted, COALESCE(frequency, 'all') AS frequency \
     FROM consents WHERE contact_id = ?1 ORDER BY purpose";

/// `category` of every item bought, once each.
pub const CATEGORIES_SQL: &str = "SELECT DISTINCT json_extract(j.value, '$.category') AS category \
     FROM orders o, json_each(o.items) j \
     WHERE o.contact_id = ?1 AND json_type(j.value, '$.category') = 'text'";

/// `sku` of every item bought, once each.
pub const SKUS_SQL: &str = "SELECT DISTINCT json_extract(j.value, '$.sku') AS sku \
     FROM orders o, json_each(o.items) j \
     WHERE o.contact_id = ?1 AND json_type(j.value, '$.sku') = 'text'";

/// `segment_id` of every current membership of a live segment (a deleted segment's rows stay
/// until its purge job has removed them, and count for nothing meanwhile).
pub const SEGMENTS_SQL: &str = "SELECT m.segment_id FROM segment_members m \
     JOIN segments g ON g.id = m.segment_id AND g.deleted_at IS NULL \
     WHERE m.contact_id = ?1 ORDER BY m.segment_id";
