//! The one error type of the service and its single mapping to HTTP responses.
//!
//! Bodies follow the API contract (README, `/openapi.json`): `{"error":{"code","message","fields"?}}`. Server-side failures are
//! logged with their cause (never a request body, so never PII) and answered with a generic body.

use std::collections::BTreeMap;

use serde_json::json;

#[derive(Debug)]
pub enum AppError {
    /// The request body or query failed validation; `fields` names each bad field.
    Validation {
        message: String,
        fields: BTreeMap<String, String>,
    },
    /// A malformed request that is not about one field (bad JSON, bad query).
    BadRequest {
        code: &'static str,
        message: String,
    },
    Unauthorized,
    Forbidden {
        code: &'static str,
        message: String,
    },
    NotFound,
    /// `allow` lists the methods the path does serve, for the `Allow` header RFC 9110 requires.
    MethodNotAllowed {
        allow: String,
    },
    Conflict {
        code: &'static str,
        message: String,
    },
    /// A link token that was used, expired, forged or meant for something else.
    Gone,
    PayloadTooLarge {
        limit: usize,
    },
    UnsupportedMediaType {
        expected: &'static str,
    },
    TooManyRequests {
        retry_after_secs: u32,
    },
    /// A dependency (D1) does not answer; the caller may retry.
    Unavailable,
    /// A required secret or binding is missing: the deployment, not the request, is wrong.
    Misconfigured(&'static str),
    /// The invocation passed a Cloudflare limit the guard enforces (`store::budget`): a bug in
    /// how the code chunks its work, logged as `platform limit exceeded:` where it happened.
    PlatformLimit,
    /// Anything unexpected. The string is logged, never sent.
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

/// What an error says over HTTP (see [`AppError::answer`]).
#[derive(Debug, PartialEq)]
pub struct ErrorAnswer<'a> {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Each bad field and what is wrong with it (validation errors only).
    pub fields: Option<&'a BTreeMap<String, String>>,
}

impl AppError {
    pub fn validation(field: &str, problem: &str) -> Self {
        let mut fields = BTreeMap::new();
        fields.insert(field.to_string(), problem.to_string());
        AppError::Validation {
            message: "the request has invalid fields".into(),
            fields,
        }
    }

    pub fn fields(fields: BTreeMap<String, String>) -> Self {
        AppError::Validation {
            message: "the request has invalid fields".into(),
            fields,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        AppError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        AppError::Internal(format!("{context}: {cause}"))
    }

    /// The one place errors become HTTP: status, code, message and the fields at fault.
    pub fn answer(&self) -> ErrorAnswer<'_> {
        let answer = |status, code, message: &str| ErrorAnswer {
            status,
            code,
            message: message.to_string(),
            fields: None,
        };
        match self {
            AppError::Validation { message, fields } => ErrorAnswer {
                fields: Some(fields),
                ..answer(400, "validation_failed", message)
            },
            AppError::BadRequest { code, message } => answer(400, code, message),
            AppError::Unauthorized => {
                answer(401, "unauthorized", "a valid bearer credential is required")
            }
            AppError::Forbidden { code, message } => answer(403, code, message),
            AppError::NotFound => answer(404, "not_found", "no such resource"),
            AppError::MethodNotAllowed { .. } => answer(
                405,
                "method_not_allowed",
                "this method is not allowed on this resource",
            ),
            AppError::Conflict { code, message } => answer(409, code, message),
            AppError::Gone => answer(410, "link_invalid", "this link is invalid or has expired"),
            AppError::PayloadTooLarge { limit } => answer(
                413,
                "payload_too_large",
                &format!("the request body exceeds {limit} bytes"),
            ),
            AppError::UnsupportedMediaType { expected } => answer(
                415,
                "unsupported_media_type",
                &format!("the request body must be {expected}"),
            ),
            AppError::TooManyRequests { .. } => {
                answer(429, "rate_limited", "too many requests, retry later")
            }
            AppError::Unavailable => {
                answer(503, "unavailable", "the service is temporarily unavailable")
            }
            AppError::Misconfigured(what) => answer(
                500,
                "misconfigured",
                &format!("the service is not configured: {what} is missing"),
            ),
            AppError::PlatformLimit => answer(
                500,
                "platform_limit",
                "this request needed more than one invocation may do",
            ),
            AppError::Internal(_) => {
                answer(500, "internal_error", "something went wrong on our side")
            }
        }
    }

    /// The JSON body of this error.
    pub fn body(&self) -> serde_json::Value {
        let answer = self.answer();
        let mut error = json!({ "code": answer.code, "message": answer.message });
        if let Some(fields) = answer.fields {
            error["fields"] = json!(fields);
        }
        json!({ "error": error })
    }

    pub fn status(&self) -> u16 {
        self.answer().status
    }

    /// Headers that belong to this error (e.g. `Retry-After`).
    pub fn extra_headers(&self) -> Vec<(&'static str, String)> {
        match self {
            AppError::TooManyRequests { retry_after_secs } => {
                vec![("Retry-After", retry_after_secs.to_string())]
            }
            AppError::Unauthorized => vec![("WWW-Authenticate", "Bearer".to_string())],
            AppError::MethodNotAllowed { allow } => vec![("Allow", allow.clone())],
            _ => Vec::new(),
        }
    }
}

impl From<worker::Error> for AppError {
    fn from(e: worker::Error) -> Self {
        AppError::Internal(format!("runtime: {e}"))
    }
}

impl From<serde_json::Error> for AppError {
    fn from(e: serde_json::Error) -> Self {
        AppError::Internal(format!("json: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_name_their_fields() {
        let body = AppError::validation("email", "not an email address").body();
        assert_eq!(body["error"]["code"], "validation_failed");
        assert_eq!(body["error"]["fields"]["email"], "not an email address");
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let e = AppError::internal("d1", "UNIQUE constraint failed: someone@example.com");
        assert_eq!(e.status(), 500);
        assert!(!e.body().to_string().contains("someone@example.com"));
    }

    #[test]
    fn rate_limit_carries_retry_after() {
        let e = AppError::TooManyRequests {
            retry_after_secs: 30,
        };
        assert_eq!(e.status(), 429);
        assert_eq!(e.extra_headers(), vec![("Retry-After", "30".to_string())]);
    }
}
