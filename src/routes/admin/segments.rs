//! `/admin/v1/segments`: saved rules kept current by the queue, previews, and exports streamed
//! page by page so memory stays flat whatever the segment's size.

use std::collections::BTreeSet;

use futures_util::stream;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::domain::consent::Purpose;
use crate::domain::cursor::Cursor;
use crate::domain::export::{csv_header, parse_columns, streamable_members};
use crate::domain::scope::Scope;
use crate::domain::segment::{parse_rule, DEFAULT_PURPOSE};
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::flows::segments::{self as flow, MemberExport, SegmentSpec};
use crate::http::app::AdminCall;
use crate::http::app::{limit_param, only_params, param_value, query_pairs, App};
use crate::http::body::{read_json, JSON_LIMIT};
use crate::http::response;
use crate::jobs::export::EXPORT_PAGE;
use crate::store::{self, audit, exports, segments};

/// Contacts shown by a preview.
const SAMPLE: u32 = 10;
/// A preview counts matches up to this many and then says `count_capped`: an exact count of a
/// large base would read every contact on the database's only writer at each click.
const PREVIEW_COUNT_CAP: u64 = 100_000;
/// Segments per page of the list (and its default).
const LIST_PAGE: u32 = 500;
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

/// `GET /admin/v1/segments?cursor=&limit=`: live segments newest first, a page at a time;
/// `next_cursor` continues the list (null on its last page).
pub async fn list(req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let pairs = query_pairs(&req)?;
    only_params(&pairs, &["cursor", "limit"])?;
    let after = param_value(&pairs, "cursor")
        .map(|raw| Cursor::parse(raw).map_err(|message| AppError::validation("cursor", message)))
        .transpose()?;
    let limit = limit_param(&pairs, LIST_PAGE, LIST_PAGE)?;
    let rows = segments::page(&call.db, after.as_ref(), limit).await?;
    let next_cursor = (rows.len() == limit as usize)
        .then(|| {
            rows.last()
                .map(|r| Cursor::new(&r.created_at, &r.id).encode())
        })
        .flatten();
    let docs: Vec<Value> = rows.iter().map(document).collect();
    response::json(
        200,
        &json!({ "segments": docs, "next_cursor": next_cursor }),
    )
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
    flow::delete(&app.env, &call.db, &call.principal.actor, &id).await?;
    response::json(200, &json!({ "id": id, "status": "deleted" }))
}

/// `GET /admin/v1/segments/fields`: every field a rule may name, with its labels in the
/// workspace's languages, value type, operators and choices, so a builder offers exactly what
/// the parser accepts and hardcodes none of it.
pub async fn fields(_req: Request, app: &App) -> AppResult<Response> {
    app.admin()?;
    response::json(200, &crate::domain::segment::fields::document())
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
    let cap = preview_count_cap(app);
    let audience = segments::audience(&call.db, &spec.rule, spec.purpose.as_str()).await?;
    let (count, count_capped) =
        segments::count_matching(&call.db, &spec.rule, &audience, now, cap).await?;
    let may_read_contacts = call.principal.scopes.contains(Scope::ContactsRead);
    let sample = if may_read_contacts {
        segments::sample_matching(&call.db, &spec.rule, &audience, now, SAMPLE).await?
    } else {
        Vec::new()
    };
    response::json(
        200,
        &json!({
            "count": count,
            "count_capped": count_capped,
            "sample": sample,
            "sample_withheld": !may_read_contacts
        }),
    )
}

/// `PREVIEW_COUNT_CAP` (a positive integer; default [`PREVIEW_COUNT_CAP`]).
fn preview_count_cap(app: &App) -> u64 {
    app.env
        .var("PREVIEW_COUNT_CAP")
        .ok()
        .and_then(|v| v.to_string().trim().parse::<u64>().ok())
        .filter(|&cap| cap > 0)
        .unwrap_or(PREVIEW_COUNT_CAP)
}

/// `GET /admin/v1/segments/{id}/export.csv`: streamed CSV (or `?format=ndjson`), one keyset page
/// of members at a time, for segments one request can stream whole within its D1 budget. A larger
/// one is refused with `409 export_too_large` before anything is sent (a stream that ran out of
/// queries would end a 200 short); `POST …/exports` exports any size through the queue.
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
    let page_size = call.config.chunk(EXPORT_PAGE);
    // What the stream may spend: the budget left once this count and the audit entry are made.
    let for_pages = call.db.budget().remaining().saturating_sub(2);
    let fits = streamable_members(for_pages, page_size);
    if exports::members_up_to(&call.db, &row.id, fits.saturating_add(1)).await? > fits {
        return Err(AppError::Conflict {
            code: "export_too_large",
            message: format!(
                "this segment is larger than one request can stream ({fits} contacts); \
                 start an export job with POST /admin/v1/segments/{}/exports",
                row.id
            ),
        });
    }
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

    let export = MemberExport {
        db: app.db()?,
        config: call.config.clone(),
        segment_id: row.id.clone(),
        audience: segments::audience(&call.db, &row.rule()?, &row.purpose).await?,
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

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `POST /admin/v1/segments`: [`create`](super::create).
    pub fn create() -> Value {
        json!({
            "operationId": "createSegment",
            "summary": "Save a segment; the queue builds its members (state building, then ready)",
            "requestBody": json_body(json!({ "$ref": "#/components/schemas/SegmentInput" })),
            "responses": admin_errors(with_body_errors(json!({ "201": linked(json_response("created", json!({ "$ref": "#/components/schemas/Segment" })), "/id", &["getSegment", "replaceSegment", "deleteSegment", "exportSegment", "startSegmentExport"]) })))
        })
    }

    /// `GET /admin/v1/segments`: [`list`](super::list).
    pub fn list() -> Value {
        json!({
            "operationId": "listSegments",
            "summary": "List segments with size, state and version, newest first, a page at a time",
            "description": "At most `limit` segments (default and most 500); `next_cursor`, when not null, is the `cursor` of the next page.",
            "parameters": [
                { "name": "cursor", "in": "query", "schema": { "type": "string" }, "description": "`next_cursor` of the previous page" },
                limit(500)
            ],
            "responses": admin_errors(json!({
                "200": json_response("segments", json!({ "type": "object", "required": ["segments", "next_cursor"], "properties": {
                    "segments": { "type": "array", "items": { "$ref": "#/components/schemas/Segment" } },
                    "next_cursor": { "type": ["string", "null"] } } })),
                "400": error_response("invalid cursor or limit")
            }))
        })
    }

    /// `POST /admin/v1/segments/preview`: [`preview`](super::preview).
    pub fn preview() -> Value {
        json!({
            "operationId": "previewSegment",
            "summary": "Count and a small sample of who matches a rule now, without saving",
            "description": "The sample is personal data: it is filled only for a key that also holds `contacts:read`; for any other key it is empty and `sample_withheld` is true. The count stops at a cap (`PREVIEW_COUNT_CAP`, default 100000) so a preview stays cheap on a large base: past it, `count` is the cap and `count_capped` is true.",
            "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["rule"], "properties": { "rule": { "type": "object" }, "purpose": { "type": "string" } } })),
            "responses": admin_errors(with_body_errors(json!({ "200": json_response("preview", json!({ "type": "object", "required": ["count", "count_capped", "sample", "sample_withheld"], "properties": {
                "count": { "type": "integer", "minimum": 0, "description": "contacts matching now, at most the cap" },
                "count_capped": { "type": "boolean", "description": "true when more than the cap match: the true number is larger than `count`" },
                "sample_withheld": { "type": "boolean", "description": "true when the key lacks `contacts:read`: the sample is then empty" },
                "sample": { "type": "array", "items": { "type": "object", "required": ["id", "email"], "properties": {
                    "id": { "type": "string" }, "email": { "type": "string" }, "name": { "type": ["string", "null"] }, "country": { "type": ["string", "null"] } } } } } })) })))
        })
    }

    /// `GET /admin/v1/segments/fields`: [`fields`](super::fields).
    pub fn fields() -> Value {
        use crate::domain::segment::fields::{ValueType, OPERAND_SHAPES};
        use crate::domain::segment::Op;
        let labels = json!({ "type": "object", "required": ["en", "pt-BR"], "additionalProperties": { "type": "string" },
            "description": "the label in each language the workspace speaks" });
        let choices = json!({ "type": ["array", "null"], "items": { "type": "object", "additionalProperties": false, "required": ["value", "labels"], "properties": {
            "value": { "type": "string" }, "labels": labels } } });
        let ops: Vec<&str> = Op::ALL.iter().map(|op| op.as_str()).collect();
        let types: Vec<&str> = ValueType::ALL.iter().map(|t| t.as_str()).collect();
        let bound =
            json!({ "type": ["number", "null"], "description": "for integer and number fields" });
        let field = json!({ "type": "object", "additionalProperties": false,
            "required": ["name", "labels", "type", "operators", "values", "min", "max", "parameter", "derived", "requires_scope"],
            "properties": {
                "name": { "type": "string", "description": "as written in a rule's `field`; a family's parameter in angle brackets (`consent.<purpose>`)" },
                "labels": labels,
                "type": { "enum": types, "description": "what the value is: `enum` takes one of `values`; `money` a decimal amount (\"129.90\"); `date` YYYY-MM-DD or RFC 3339; `country` a two-letter code; `segment` a segment id; `attribute` a text, number or boolean" },
                "operators": { "type": "array", "items": { "enum": ops }, "description": "the operators the parser accepts for this field" },
                "values": choices,
                "min": bound,
                "max": bound,
                "parameter": { "type": ["object", "null"], "additionalProperties": false, "required": ["name", "prefix", "pattern", "values"],
                    "description": "for a family of fields: write `prefix` followed by a parameter matching `pattern` (one of `values` when listed)",
                    "properties": {
                        "name": { "type": "string" }, "prefix": { "type": "string" }, "pattern": { "type": "string" }, "values": choices } },
                "derived": { "type": "boolean", "description": "derived or behavioural data: a rule reading it profiles, and leaves out whoever objected to profiling" },
                "requires_scope": { "type": ["string", "null"], "enum": ["contacts:read", null], "description": "a field that can single a person out: only a key with this scope may count over it" }
            } });
        json!({
            "operationId": "describeSegmentFields",
            "summary": "Every field a segment rule may name, with labels, type, operators and choices, for a rule builder",
            "responses": admin_errors(json!({ "200": json_response("fields", json!({ "type": "object", "additionalProperties": false, "required": ["fields", "operators", "limits"], "properties": {
                "fields": { "type": "array", "items": field },
                "operators": { "type": "array", "items": { "type": "object", "additionalProperties": false, "required": ["name", "value", "labels"], "properties": {
                    "name": { "enum": ops },
                    "value": { "enum": OPERAND_SHAPES, "description": "the shape of `value` under it: `one` value, a `list` of 1 to max_list, a `range` [low, high], a `flag` (true or false), `days` (a whole number of days)" },
                    "labels": labels } } },
                "limits": { "type": "object", "additionalProperties": false, "required": ["max_depth", "max_conditions", "max_list", "max_days"], "properties": {
                    "max_depth": { "type": "integer" }, "max_conditions": { "type": "integer" }, "max_list": { "type": "integer" }, "max_days": { "type": "integer" } } }
            } })) }))
        })
    }

    /// `GET /admin/v1/segments/{id}`: [`get`](super::get).
    pub fn get() -> Value {
        json!({
            "operationId": "getSegment",
            "summary": "Read a segment",
            "parameters": [id_param()],
            "responses": admin_errors(json!({ "200": json_response("segment", json!({ "$ref": "#/components/schemas/Segment" })), "404": error_response("no such segment") }))
        })
    }

    /// `PUT /admin/v1/segments/{id}`: [`replace`](super::replace).
    pub fn replace() -> Value {
        json!({
            "operationId": "replaceSegment",
            "summary": "Replace name, rule and purpose: a new version, rebuilt by the queue",
            "parameters": [id_param()],
            "requestBody": json_body(json!({ "$ref": "#/components/schemas/SegmentInput" })),
            "responses": admin_errors(with_body_errors(json!({ "200": json_response("segment", json!({ "$ref": "#/components/schemas/Segment" })), "404": error_response("no such segment") })))
        })
    }

    /// `DELETE /admin/v1/segments/{id}`: [`delete`](super::delete).
    pub fn delete() -> Value {
        json!({
            "operationId": "deleteSegment",
            "summary": "Delete a segment: gone at once for every reader; its memberships are purged by the queue in chunks",
            "parameters": [id_param()],
            "responses": admin_errors(json!({ "200": json_response("deleted", json!({ "type": "object", "required": ["id", "status"], "properties": { "id": { "type": "string" }, "status": { "const": "deleted" } } })), "404": error_response("no such segment") }))
        })
    }

    /// `GET /admin/v1/segments/{id}/export.csv`: [`export`](super::export).
    pub fn export() -> Value {
        json!({
            "operationId": "exportSegment",
            "summary": "Stream the members as RFC 4180 CSV (or NDJSON); signed preferences and unsubscribe URLs only when named in `columns`",
            "parameters": [
                id_param(),
                { "name": "columns", "in": "query", "required": false, "schema": { "type": "string" }, "description": columns_note() },
                { "name": "format", "in": "query", "required": false, "schema": { "type": "string", "enum": ["csv", "ndjson"] } }
            ],
            "responses": admin_errors(json!({
                "200": { "description": "the members", "content": { "text/csv": { "schema": { "type": "string" } }, "application/x-ndjson": { "schema": { "type": "string" } } } },
                "400": error_response("unknown column or format"),
                "404": error_response("no such segment"),
                "409": error_response("`export_too_large`: more members than one request can stream within its D1 budget; start an export job with `POST /admin/v1/segments/{id}/exports`")
            }))
        })
    }
}
