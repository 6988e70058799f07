//! Fuzzes the signed links of every marketing email (`link::verify`): a token from a URL is
//! attacker-controlled text, and only a token `link::sign` made may ever verify.
#![no_main]

use arbitrary::Arbitrary;
use clientela::domain::link::{sign, verify, LinkPurpose};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-secret-0123456789abcdef";

#[derive(Debug, Arbitrary)]
struct Case {
    token: String,
    contact_id: String,
    preferences: bool,
    mutate_at: usize,
    mutate_to: u8,
}

fuzz_target!(|case: Case| {
    let purpose = if case.preferences {
        LinkPurpose::Preferences
    } else {
        LinkPurpose::Unsubscribe
    };
    let other = match purpose {
        LinkPurpose::Preferences => LinkPurpose::Unsubscribe,
        LinkPurpose::Unsubscribe => LinkPurpose::Preferences,
    };

    // Only the exact token `sign` makes for an id verifies. libFuzzer does produce genuine ones
    // (it replays bytes it saw compared, earlier runs' signatures included), so the check is
    // that a token verifies exactly when it is genuine, not that none ever does.
    if let Some(id) = verify(SECRET, &case.token, purpose) {
        assert_eq!(
            case.token.trim(),
            sign(SECRET, &id, purpose),
            "forged token verified"
        );
    }

    // Ids are what the store mints (UUIDs); anything else is refused by `verify` on its own.
    let id_ok = (1..=64).contains(&case.contact_id.len())
        && case
            .contact_id
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '-');
    let token = sign(SECRET, &case.contact_id, purpose);
    let verified = verify(SECRET, &token, purpose);
    if id_ok {
        assert_eq!(verified.as_deref(), Some(case.contact_id.as_str()));
    } else {
        assert_eq!(verified, None);
    }
    assert_eq!(verify(SECRET, &token, other), None, "purpose not bound");
    assert_eq!(verify("another-secret", &token, purpose), None);

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
        verify(SECRET, &mutated, purpose),
        None,
        "a mutated token verified: {mutated:?}"
    );
});
