//! Request bodies: content-type check (415), size limit (413), and JSON decoding into typed DTOs
//! whose errors name the field without echoing its value (it may be PII).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use worker::Request;

use crate::domain::email::EmailAddress;
use crate::domain::secret;
use crate::error::{AppError, AppResult};

/// Admin and self-service JSON bodies; orders and imports set their own limits.
pub const JSON_LIMIT: usize = 64 * 1024;

/// The media type of the request, lower-cased, without parameters.
pub fn media_type(req: &Request) -> String {
    req.headers()
        .get("Content-Type")
        .ok()
        .flatten()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Reads the whole body, refusing more than `limit` bytes.
pub async fn read_limited(req: &mut Request, limit: usize) -> AppResult<Vec<u8>> {
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(AppError::PayloadTooLarge { limit });
    }
    let bytes = req.bytes().await.map_err(|_| {
        AppError::bad_request("unreadable_body", "the request body could not be read")
    })?;
    if bytes.len() > limit {
        return Err(AppError::PayloadTooLarge { limit });
    }
    Ok(bytes)
}

/// Reads a JSON body into `T`, checking media type and size first.
pub async fn read_json<T: DeserializeOwned>(req: &mut Request, limit: usize) -> AppResult<T> {
    if media_type(req) != "application/json" {
        return Err(AppError::UnsupportedMediaType {
            expected: "application/json",
        });
    }
    let bytes = read_limited(req, limit).await?;
    decode_json(&bytes)
}

/// Decodes JSON into `T`, mapping serde's errors to field-level validation errors.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> AppResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(value) => Ok(value),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if !inner.is_data() {
                return Err(AppError::bad_request(
                    "invalid_json",
                    "the request body is not valid JSON",
                ));
            }
            let (field, problem) = describe_data_error(&path, &inner.to_string());
            let mut fields = BTreeMap::new();
            fields.insert(field, problem);
            Err(AppError::fields(fields))
        }
    }
}

/// Parses `email` the same way everywhere a raw address arrives.
pub fn parse_email_field(field: &str, raw: &str) -> AppResult<EmailAddress> {
    EmailAddress::parse(raw).map_err(|e| AppError::validation(field, e.message()))
}

/// A link token as it may appear in a URL, or 400.
pub fn parse_token(raw: &str) -> AppResult<&str> {
    let t = raw.trim();
    if secret::is_token_shaped(t) {
        Ok(t)
    } else {
        Err(AppError::bad_request(
            "invalid_token",
            "this link is malformed",
        ))
    }
}

/// Turns serde's message into (field path, problem) without any value from the input.
fn describe_data_error(path: &str, message: &str) -> (String, String) {
    let quoted = |m: &str| m.split('`').nth(1).map(str::to_string);
    let join = |base: &str, leaf: &str| {
        if base.is_empty() || base == "." {
            leaf.to_string()
        } else {
            format!("{base}.{leaf}")
        }
    };
    if message.starts_with("unknown field") {
        let name = quoted(message).unwrap_or_default();
        let parent = path.rsplit_once('.').map(|(p, _)| p).unwrap_or("");
        let field = if path.ends_with(&name) {
            path.to_string()
        } else {
            join(parent, &name)
        };
        return (field, "unknown field".into());
    }
    if message.starts_with("missing field") {
        let name = quoted(message).unwrap_or_default();
        return (join(path, &name), "required".into());
    }
    let expected = message
        .split(", expected ")
        .nth(1)
        .map(|e| e.split(" at line").next().unwrap_or(e).to_string());
    let field = if path.is_empty() || path == "." {
        "body".to_string()
    } else {
        path.to_string()
    };
    let problem = if message.starts_with("unknown variant") {
        "not one of the allowed values".to_string()
    } else {
        match expected {
            Some(e) => format!("invalid value, expected {e}"),
            None => "invalid value".to_string(),
        }
    };
    (field, problem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct KeyRequest {
        name: String,
        scopes: Vec<String>,
    }

    fn fields_of(err: AppError) -> BTreeMap<String, String> {
        match err {
            AppError::Validation { fields, .. } => fields,
            other => panic!("expected validation error, got {other:?}"),
        }
    }

    #[test]
    fn unknown_field_is_named() {
        let err =
            decode_json::<KeyRequest>(br#"{"name":"a","scopes":[],"admin":true}"#).unwrap_err();
        assert_eq!(
            fields_of(err).get("admin").map(String::as_str),
            Some("unknown field")
        );
    }

    #[test]
    fn missing_field_is_named() {
        let err = decode_json::<KeyRequest>(br#"{"name":"a"}"#).unwrap_err();
        assert_eq!(
            fields_of(err).get("scopes").map(String::as_str),
            Some("required")
        );
    }

    #[test]
    fn wrong_type_names_path_but_not_value() {
        let err = decode_json::<KeyRequest>(br#"{"name":"secret@example.com","scopes":[1]}"#)
            .unwrap_err();
        let fields = fields_of(err);
        let (field, problem) = fields.iter().next().unwrap();
        assert_eq!(field, "scopes[0]");
        assert!(!problem.contains("secret@example.com"));
    }

    #[test]
    fn syntax_errors_are_invalid_json() {
        let err = decode_json::<KeyRequest>(b"{not json").unwrap_err();
        assert_eq!(err.body()["error"]["code"], "invalid_json");
    }
}
