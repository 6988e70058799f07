//! `/admin/v1/overview`: the base at a glance, counts only: contacts by status and temperature,
//! the RFM grid, new contacts and confirmations per day, consent withdrawals per week.
//!
//! Scope `segments`: a key that builds segments already sees counts of the base (every
//! segment's size, and a preview's count for any rule over status, temperature, RFM scores,
//! creation and confirmation dates), so these aggregates tell it nothing it could not count;
//! they name nobody. `contacts:read` is not enough: it looks one person up by address and
//! cannot count the base, so it does not get the overview.

use worker::{Request, Response};

use crate::domain::overview::shape;
use crate::domain::time;
use crate::error::AppResult;
use crate::http::app::App;
use crate::http::response;
use crate::store::overview;

pub async fn get(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let today = time::now().date_naive();
    let counts = overview::counts(&call.db, today).await?;
    response::json(
        200,
        &shape(
            today,
            &counts.base,
            &counts.signups,
            &counts.confirmations,
            &counts.withdrawals,
        ),
    )
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    fn count() -> Value {
        json!({ "type": "integer", "minimum": 0 })
    }

    fn named(keys: &[&str]) -> Value {
        json!({ "type": "array", "minItems": keys.len(), "maxItems": keys.len(), "items": { "type": "object", "additionalProperties": false, "required": ["key", "count"], "properties": {
            "key": { "type": "string", "enum": keys }, "count": count() } } })
    }

    /// `GET /admin/v1/overview`: [`get`](super::get).
    pub fn get() -> Value {
        let day = json!({ "type": "string", "format": "date" });
        json!({
            "operationId": "getOverview",
            "summary": "The base at a glance, counts only: contacts by status and temperature, the RFM grid, new contacts and confirmations per day (90 days), consent withdrawals per week (26 weeks)",
            "description": "Scope `segments`, which already sees counts of the base (segment sizes and previews). Erased people are not counted anywhere. Days and weeks are UTC; every day and week of the window is listed, oldest first, zeros included. `signups` counts contacts created that day from any source (a form, an import, an order, the API); `confirmations` counts first confirmations of a signup; `withdrawals` counts consent withdrawals (a lapse after a period without engagement is not one). Costs about two reads of the contacts table and one of the consent events: open it, do not poll it.",
            "responses": admin_errors(json!({
                "200": json_response("the overview", json!({ "type": "object", "additionalProperties": false, "required": ["today", "contacts", "rfm", "days", "weeks"], "properties": {
                    "today": { "type": "string", "format": "date", "description": "the UTC day the counts end on" },
                    "contacts": { "type": "object", "additionalProperties": false, "required": ["total", "by_status", "by_temperature"], "properties": {
                        "total": count(),
                        "by_status": named(&["pending", "active", "unsubscribed"]),
                        "by_temperature": named(&["cold", "warm", "hot"]) } },
                    "rfm": { "type": "object", "additionalProperties": false, "required": ["scored", "cells"], "description": "contacts by RFM recency (r) and frequency (f) quintile, 5 best, as the daily run scores buyers", "properties": {
                        "scored": count(),
                        "cells": { "type": "array", "minItems": 25, "maxItems": 25, "description": "r from 5 to 1, then f from 1 to 5", "items": { "type": "object", "additionalProperties": false, "required": ["r", "f", "count"], "properties": {
                            "r": { "type": "integer", "minimum": 1, "maximum": 5 }, "f": { "type": "integer", "minimum": 1, "maximum": 5 }, "count": count() } } } } },
                    "days": { "type": "array", "minItems": 90, "maxItems": 90, "items": { "type": "object", "additionalProperties": false, "required": ["day", "signups", "confirmations"], "properties": {
                        "day": day, "signups": count(), "confirmations": count() } } },
                    "weeks": { "type": "array", "minItems": 26, "maxItems": 26, "items": { "type": "object", "additionalProperties": false, "required": ["week", "withdrawals"], "properties": {
                        "week": { "type": "string", "format": "date", "description": "the week's Monday" }, "withdrawals": count() } } } } }))
            }))
        })
    }
}
