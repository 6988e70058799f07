//! Self-service sessions: what a session may do (decided by the link that opened it) and the
//! person behind a request's session token. Dispatch resolves it for every `Session` route.

use crate::store::Db;
use serde::{Deserialize, Serialize};
use worker::Request;

use crate::domain::{secret, time};
use crate::error::{AppError, AppResult};
use crate::http::auth::bearer_token;
use crate::store::{contacts, tokens};

/// What a session may do, decided by the link that opened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionScope {
    /// From a preferences link: purposes only, email masked.
    Preferences,
    /// From a sign-in link: the mailbox was proven; everything.
    Full,
}

impl SessionScope {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionScope::Preferences => "preferences",
            SessionScope::Full => "full",
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct SessionPayload {
    pub scope: SessionScope,
    /// The contact's link epoch when the session began: a session that began while "sign out
    /// everywhere" ran (and so escaped its delete) still ends, because the epoch moved on.
    #[serde(default)]
    pub epoch: i64,
}

/// A signed-in person and what their session may do.
pub struct Session {
    pub contact: contacts::ContactRow,
    pub scope: SessionScope,
}

impl Session {
    /// 403 `needs_sign_in` unless the mailbox was proven by a sign-in link.
    pub fn require_full(&self) -> AppResult<()> {
        match self.scope {
            SessionScope::Full => Ok(()),
            SessionScope::Preferences => Err(AppError::Forbidden {
                code: "needs_sign_in",
                message: "this needs a sign-in link sent to your email address".into(),
            }),
        }
    }

    pub fn actor(&self) -> String {
        format!("contact:{}", self.contact.id)
    }
}

/// The contact behind the request's session, or 401.
pub async fn signed_in(req: &Request, db: &Db) -> AppResult<Session> {
    let token = bearer_token(req).ok_or(AppError::Unauthorized)?;
    if !secret::is_token_shaped(&token) {
        return Err(AppError::Unauthorized);
    }
    let session = tokens::session(db, &secret::sha256_hex(&token), &time::now_string())
        .await?
        .ok_or(AppError::Unauthorized)?;
    // A session without a recorded scope predates scopes: it gets the lesser one.
    let payload = session
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str::<SessionPayload>(p).ok())
        .unwrap_or(SessionPayload {
            scope: SessionScope::Preferences,
            epoch: 0,
        });
    let contact = contacts::find(db, &session.contact_id)
        .await?
        .ok_or(AppError::Unauthorized)?;
    if contact.link_epoch != payload.epoch {
        return Err(AppError::Unauthorized);
    }
    Ok(Session {
        contact,
        scope: payload.scope,
    })
}
