//! Fuzzes the signed links of every marketing and survey email (`link::verify`): a token from a
//! URL is attacker-controlled text, and only a token `link::sign` made may ever verify, for its
//! own purpose, under a key that is not retired, within its lifetime.
#![no_main]

use arbitrary::Arbitrary;
use chrono::{DateTime, Utc};
use clientela::domain::keyring::Keyring;
use clientela::domain::link::{sign, verify, LinkPurpose};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-secret-0123456789abcdef-0123";
const PURPOSES: [LinkPurpose; 3] = [
    LinkPurpose::Preferences,
    LinkPurpose::UnsubscribeMarketing,
    LinkPurpose::UnsubscribeSurveys,
];

#[derive(Debug, Arbitrary)]
struct Case {
    token: String,
    contact_id: String,
    purpose: u8,
    epoch: u32,
    issued: u32,
    age_days: u16,
    mutate_at: usize,
    mutate_to: u8,
}

fn keys() -> Keyring {
    Keyring::new(SECRET, "1", "").expect("valid keyring")
}

fuzz_target!(|case: Case| {
    let keys = keys();
    let purpose = PURPOSES[usize::from(case.purpose) % PURPOSES.len()];
    let issued_at = DateTime::<Utc>::from_timestamp(1_700_000_000 + i64::from(case.issued), 0)
        .expect("in range");
    let now = issued_at + chrono::Duration::days(i64::from(case.age_days));

    // Arbitrary text: whatever verifies must be exactly what `sign` makes for what it claims.
    if let Some(v) = verify(&keys, &case.token, purpose, now) {
        assert_eq!(v.purpose, purpose);
        let parts: Vec<&str> = case.token.trim().split('.').collect();
        if parts.len() == 6 {
            let issued: i64 = parts[3].parse().expect("verified issue time");
            let again = sign(
                &keys,
                &v.contact_id,
                purpose,
                v.epoch,
                DateTime::from_timestamp(issued, 0).expect("in range"),
            );
            assert_eq!(case.token.trim(), again, "forged token verified");
        }
    }

    let id_ok = (1..=64).contains(&case.contact_id.len())
        && case
            .contact_id
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '-');
    let epoch = i64::from(case.epoch);
    let token = sign(&keys, &case.contact_id, purpose, epoch, issued_at);
    let verified = verify(&keys, &token, purpose, now);
    let alive = now - issued_at <= purpose.lifetime();
    if id_ok && alive {
        let v = verified.expect("a genuine, live link verifies");
        assert_eq!(
            (v.contact_id.as_str(), v.epoch),
            (case.contact_id.as_str(), epoch)
        );
    } else {
        assert_eq!(verified, None);
    }
    for other in PURPOSES.into_iter().filter(|p| *p != purpose) {
        assert_eq!(verify(&keys, &token, other, now), None, "purpose not bound");
    }
    let other_root = Keyring::new("another-secret-0123456789abcdef-01", "1", "").expect("keyring");
    assert_eq!(verify(&other_root, &token, purpose, now), None);
    let retired = Keyring::new(SECRET, "2", "1").expect("keyring");
    assert_eq!(
        verify(&retired, &token, purpose, now),
        None,
        "retired key verified"
    );

    // Any one-byte change must break the link, except whitespace at either end, which `verify`
    // trims on purpose (mail clients add it when they wrap long URLs).
    let mut bytes = token.clone().into_bytes();
    let at = case.mutate_at % bytes.len();
    if bytes[at] == case.mutate_to {
        return;
    }
    bytes[at] = case.mutate_to;
    let Ok(mutated) = String::from_utf8(bytes) else {
        return;
    };
    if mutated.trim() == token.trim() {
        return;
    }
    assert_eq!(
        verify(&keys, &mutated, purpose, issued_at),
        None,
        "a mutated token verified: {mutated:?}"
    );
});
