//! Fuzzes `EmailAddress::parse`, the gate every form, import, order and magic-link request
//! passes an address through.
#![no_main]

use clientela::domain::email::EmailAddress;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(email) = EmailAddress::parse(input) else {
        return;
    };
    // The normalized address is what gets stored, hashed and exported; the next import or
    // submission of it must land on the same contact, so parsing it again changes nothing.
    let again = EmailAddress::parse(email.as_str());
    assert_eq!(again.as_ref(), Ok(&email), "normalization is not stable");
    assert!(
        email.as_str().len() <= 254,
        "a stored address exceeds 254 bytes"
    );
    assert!(!email.domain().is_empty());
});
