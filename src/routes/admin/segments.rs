//! `/admin/v1/segments`: saved rules kept current by the queue, previews, and exports streamed
//! page by page so memory stays flat whatever the segment's size.

use std::collections::BTreeSet;

use futures_util::stream;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::domain::consent::Purpose;
use crate::domain::export::{csv_header, parse_columns};
use crate::domain::scope::Scope;
use crate::domain::segment::{parse_rule, DEFAULT_PURPOSE};
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::flows::segments::{self as flow, MemberExport, SegmentSpec};
use crate::http::app::AdminCall;
use crate::http::app::{only_params, param_value, query_pairs, App};
use crate::http::body::{read_json, JSON_LIMIT};
use crate::http::response;
use crate::store::{self, audit, segments};

/// Members per D1 query while exporting.
const EXPORT_PAGE: usize = 500;
/// Contacts shown by a preview.
const SAMPLE: u32 = 10;
const MAX_NAME_LEN: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentInput {
    name: String,
    rule: Value,
    purpose: Option<String>,
}

async fn parse_input(
    call: &AdminCall,
    input: SegmentInput,
    own_id: Option<&str>,
) -> AppResult<SegmentSpec> {
    let mut errors = std::collections::BTreeMap::new();
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        errors.insert(
            "name".to_string(),
            format!("1 to {MAX_NAME_LEN} characters"),
        );
    }
    let purpose = match Purpose::parse(input.purpose.as_deref().unwrap_or(DEFAULT_PURPOSE)) {
        Ok(p) => Some(p),
        Err(e) => {
            errors.insert("purpose".to_string(), e.to_string());
            None
        }
    };
    let rule = match parse_rule(&input.rule) {
        Ok(rule) => Some(rule),
        Err(rule_errors) => {
            errors.extend(rule_errors);
            None
        }
    };
    if let Some(rule) = &rule {
        for referenced in rule.referenced_segments() {
            if Some(referenced.as_str()) == own_id {
                errors.insert("rule".to_string(), "a segment cannot contain itself".into());
            } else if segments::find(&call.db, &referenced).await?.is_none() {
                errors.insert(
                    "rule".to_string(),
                    "names a segment that does not exist".into(),
                );
            } else if let Some(own) = own_id {
                if reaches(call, &referenced, own).await? {
                    errors.insert(
                        "rule".to_string(),
                        "segments would contain each other".into(),
                    );
                }
            }
        }
    }
    if let Some(rule) = &rule {
        // A segment's size is a count too: the same oracle as a preview.
        if rule.reads_identifying_fields() && !call.principal.scopes.contains(Scope::ContactsRead) {
            return Err(AppError::Forbidden {
                code: "missing_scope",
                message: "rules on email, name or custom attributes need the 'contacts:read' scope"
                    .into(),
            });
        }
    }
    match (rule, purpose) {
        (Some(rule), Some(purpose)) if errors.is_empty() => Ok(SegmentSpec {
            name,
            rule,
            purpose,
        }),
        _ => Err(AppError::fields(errors)),
    }
}

/// Whether segment `from`, through the segments its rule names, leads back to `target`.
async fn reaches(call: &AdminCall, from: &str, target: &str) -> AppResult<bool> {
    let mut seen = BTreeSet::new();
    let mut pending = vec![from.to_string()];
    while let Some(id) = pending.pop() {
        if id == target {
            return Ok(true);
        }
        if !seen.insert(id.clone()) || seen.len() > 100 {
            continue;
        }
        if let Some(row) = segments::find(&call.db, &id).await? {
            if let Ok(rule) = row.rule() {
                pending.extend(rule.referenced_segments());
            }
        }
    }
    Ok(false)
}

fn document(row: &segments::SegmentRow) -> Value {
    json!({
        "id": row.id,
        "name": row.name,
        "rule": serde_json::from_str::<Value>(&row.rule).unwrap_or(Value::Null),
        "purpose": row.purpose,
        "version": row.version,
        "state": row.state.as_str(),
        "size": row.size,
        "computed_at": row.computed_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}

pub async fn create(mut req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let input: SegmentInput = read_json(&mut req, JSON_LIMIT).await?;
    let spec = parse_input(call, input, None).await?;
    let row = flow::create(&app.env, &call.db, &call.principal.actor, &spec).await?;
    response::json(201, &document(&row))
}

pub async fn list(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let docs: Vec<Value> = segments::list(&call.db)
        .await?
        .iter()
        .map(document)
        .collect();
    response::json(200, &json!({ "segments": docs }))
}

pub async fn get(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let row = segments::find(&call.db, app.param("id")?)
        .await?
        .ok_or(AppError::NotFound)?;
    response::json(200, &document(&row))
}

/// A new rule is a new version: the members are rebuilt and older rebuilds stop.
pub async fn replace(mut req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let id = app.param("id")?.to_string();
    let input: SegmentInput = read_json(&mut req, JSON_LIMIT).await?;
    segments::find(&call.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    let spec = parse_input(call, input, Some(&id)).await?;
    let row = flow::replace(&app.env, &call.db, &call.principal.actor, &id, &spec).await?;
    response::json(200, &document(&row))
}

pub async fn delete(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let id = app.param("id")?.to_string();
    flow::delete(&call.db, &call.principal.actor, &id).await?;
    response::json(200, &json!({ "id": id, "status": "deleted" }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewInput {
    rule: Value,
    purpose: Option<String>,
}

/// `POST /admin/v1/segments/preview`: how many match now, without saving. The sample of who
/// matches is personal data: it comes only to a key that may read contacts (`contacts:read`);
/// a `segments`-only key gets the count and an empty sample, and may not count over email,
/// name or custom attributes at all (see `parse_input`).
pub async fn preview(mut req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let input: PreviewInput = read_json(&mut req, JSON_LIMIT).await?;
    let spec = parse_input(
        call,
        SegmentInput {
            name: "preview".into(),
            rule: input.rule,
            purpose: input.purpose,
        },
        None,
    )
    .await?;
    let now = time::now();
    let count = segments::count_matching(&call.db, &spec.rule, spec.purpose.as_str(), now).await?;
    let may_read_contacts = call.principal.scopes.contains(Scope::ContactsRead);
    let sample = if may_read_contacts {
        segments::sample_matching(&call.db, &spec.rule, spec.purpose.as_str(), now, SAMPLE).await?
    } else {
        Vec::new()
    };
    response::json(
        200,
        &json!({ "count": count, "sample": sample, "sample_withheld": !may_read_contacts }),
    )
}

/// `GET /admin/v1/segments/{id}/export.csv`: streamed CSV (or `?format=ndjson`), one keyset page
/// of members at a time.
pub async fn export(req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let pairs = query_pairs(&req)?;
    only_params(&pairs, &["columns", "format"])?;
    let columns = parse_columns(param_value(&pairs, "columns"))
        .map_err(|message| AppError::validation("columns", &message))?;
    let ndjson = match param_value(&pairs, "format") {
        None | Some("csv") => false,
        Some("ndjson") => true,
        Some(_) => return Err(AppError::validation("format", "csv or ndjson")),
    };
    let row = segments::find(&call.db, app.param("id")?)
        .await?
        .ok_or(AppError::NotFound)?;
    store::batch(
        &call.db,
        vec![audit::record(
            &call.db,
            &call.principal.actor,
            if ndjson {
                "segment.export.ndjson"
            } else {
                "segment.export.csv"
            },
            Some(&row.id),
        )?],
    )
    .await?;

    let page_size = call.config.chunk(EXPORT_PAGE);
    let export = MemberExport {
        db: app.db()?,
        config: call.config.clone(),
        segment_id: row.id.clone(),
        purpose: row.purpose.clone(),
        columns,
        ndjson,
        page_size,
    };
    let header = if ndjson {
        Vec::new()
    } else {
        csv_header(&export.columns).into_bytes()
    };
    let state = (export, Some(String::new()), Some(header));
    let body = stream::unfold(state, |(export, cursor, header)| async move {
        if let Some(header) = header {
            return Some((Ok(header), (export, cursor, None)));
        }
        let after = cursor?;
        match export.page(&after).await {
            Ok((bytes, next)) => Some((Ok(bytes), (export, next, None))),
            Err(e) => {
                worker::console_error!("segment export failed mid-stream: {e:?}");
                Some((
                    Err(worker::Error::RustError("export failed".into())),
                    (export, None, None),
                ))
            }
        }
    });
    let mut response = Response::from_stream(body)?;
    let headers = response.headers_mut();
    let (content_type, extension) = if ndjson {
        ("application/x-ndjson; charset=utf-8", "ndjson")
    } else {
        ("text/csv; charset=utf-8", "csv")
    };
    headers.set("Content-Type", content_type)?;
    headers.set(
        "Content-Disposition",
        &format!("attachment; filename=\"segment-{}.{extension}\"", row.id),
    )?;
    headers.set("Cache-Control", "no-store")?;
    Ok(response)
}

// The contract: each handler's OpenAPI operation.

/// `POST /admin/v1/segments`: the contract of [`create`].
pub fn create_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("post", "/admin/v1/segments")
}

/// `GET /admin/v1/segments`: the contract of [`list`].
pub fn list_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("get", "/admin/v1/segments")
}

/// `POST /admin/v1/segments/preview`: the contract of [`preview`].
pub fn preview_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("post", "/admin/v1/segments/preview")
}

/// `GET /admin/v1/segments/{id}`: the contract of [`get`].
pub fn get_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("get", "/admin/v1/segments/{id}")
}

/// `PUT /admin/v1/segments/{id}`: the contract of [`replace`].
pub fn replace_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("put", "/admin/v1/segments/{id}")
}

/// `DELETE /admin/v1/segments/{id}`: the contract of [`delete`].
pub fn delete_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("delete", "/admin/v1/segments/{id}")
}

/// `GET /admin/v1/segments/{id}/export.csv`: the contract of [`export`].
pub fn export_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("get", "/admin/v1/segments/{id}/export.csv")
}
