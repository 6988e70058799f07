//! Fuzzes form definitions as `POST`/`PATCH /admin/v1/forms` receive them: the body decoded
//! exactly as the route does (`decode_json::<FormInput>`), then `FormDefinition::parse`.
#![no_main]

use clientela::domain::form::{parse_origin, FormDefinition, FormInput};
use clientela::http::body::decode_json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(origin) = parse_origin(text) {
            // A browser's Origin is compared with the stored one after parsing both.
            assert_eq!(parse_origin(&origin).as_ref(), Some(&origin));
        }
    }
    let Ok(input) = decode_json::<FormInput>(data) else {
        return;
    };
    let Ok(form) = FormDefinition::parse(input) else {
        return;
    };
    let _ = form.public_view("frm_fuzz", "https://clientela.example");
    let _ = form.honeypot_field();
    for origin in &form.allowed_origins {
        assert!(
            form.allows_origin(origin),
            "stored origin {origin:?} is refused"
        );
    }
    // The route stores `serde_json::to_string(&form)` and every later request re-parses it
    // (`load_form`); a form that does not survive that is a 500 on every submission.
    let stored = serde_json::to_string(&form).expect("a form serializes");
    let reloaded: FormInput = serde_json::from_str(&stored).expect("the stored form decodes");
    assert_eq!(FormDefinition::parse(reloaded).as_ref(), Ok(&form));
});
