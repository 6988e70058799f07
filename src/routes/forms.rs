//! Public form endpoints: the definition the widget renders, CORS preflight, and submissions
//! (JSON from the widget, urlencoded from a plain HTML form).

use serde_json::json;
use worker::{Request, Response};

use crate::config::Config;
use crate::domain::email::EmailHashes;
use crate::domain::form::{
    named_email, FormDefinition, Submission, SubmissionInput, SubmissionJson,
};
use crate::domain::i18n::Locale;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::flows::signup::{self, Submitted};
use crate::http::app::App;
use crate::http::body::{decode_json, media_type, read_limited};
use crate::http::{client, cors, response, turnstile};
use crate::store::contacts::Known;
use crate::store::forms;

/// A signup is a handful of short fields; anything bigger is not a person typing.
const SUBMISSION_LIMIT: usize = 16 * 1024;

/// Loads a live form and its validated definition, or 404.
async fn load_form(db: &crate::store::Db, id: &str) -> AppResult<FormDefinition> {
    forms::find(db, id)
        .await?
        .ok_or(AppError::NotFound)?
        .parse_definition()
}

pub async fn get_public(req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let db = app.db()?;
    let id = app.param("id")?;
    let form = load_form(&db, id).await?;
    let origin = cors::check_origin(&req, &form)?;
    let view = form.public_view(id, &config.public_base_url);
    Ok(cors::allow(response::json(200, &view)?, origin.as_deref()))
}

pub async fn preflight(req: Request, app: &App) -> AppResult<Response> {
    let db = app.db()?;
    let form = load_form(&db, app.param("id")?).await?;
    match cors::check_origin(&req, &form)? {
        Some(origin) => cors::preflight(&origin),
        None => Err(AppError::bad_request(
            "not_a_preflight",
            "a CORS preflight needs an Origin header",
        )),
    }
}

pub async fn submit(mut req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let db = app.db()?;
    let form_id = app.param("id")?.to_string();
    // The body is read first (it is bounded), so the address it names is looked up in the same
    // D1 read as the form: one round trip for everything the signup decides on, one for its
    // writes. Its errors are raised below, where they always were.
    let kind = media_type(&req);
    let body = read_limited(&mut req, SUBMISSION_LIMIT).await;
    let hashes = body
        .as_ref()
        .ok()
        .and_then(|b| named_email(b, kind == URLENCODED))
        .map(|email| email.keyed_hashes(&config.token_secret));
    // The per-IP limiter (a binding, not D1) is asked while the read runs: neither waits for
    // the other. Its verdict is applied below, where it always was.
    let (limited, read) = futures_util::future::join(
        client::limit_per_ip(&app.env, &req, "signup"),
        signup::look_up(&db, &form_id, hashes.as_ref()),
    )
    .await;
    let (row, known) = read?;
    let form = row.ok_or(AppError::NotFound)?.parse_definition()?;
    let origin = cors::check_origin(&req, &form)?;
    let received = Received {
        limited,
        kind,
        body,
        known: hashes.zip(known),
    };
    // From here on the browser may read every answer, errors included.
    let outcome = accept(&req, app, &config, &db, &form_id, &form, received).await;
    let response = match outcome {
        Ok(r) => r,
        Err(e) => response::error(&e)?,
    };
    Ok(cors::allow(response, origin.as_deref()))
}

const URLENCODED: &str = "application/x-www-form-urlencoded";

/// A submission as it arrived, before its form's checks: media type, body (or why it could not
/// be read), and what the first read found about the address it names.
struct Received {
    /// The per-IP limiter's verdict.
    limited: AppResult<()>,
    kind: String,
    body: AppResult<Vec<u8>>,
    known: Option<(EmailHashes, Known)>,
}

/// The one answer for every accepted submission: new, known, pending, suppressed or a bot.
fn accepted(form: &FormDefinition, plain_form_post: bool) -> AppResult<Response> {
    match (&form.redirect_url, plain_form_post) {
        (Some(url), true) => {
            let mut r = Response::empty()?.with_status(303);
            r.headers_mut().set("Location", url)?;
            Ok(r)
        }
        _ => response::json(202, &json!({ "status": "accepted" })),
    }
}

async fn accept(
    req: &Request,
    app: &App,
    config: &Config,
    db: &crate::store::Db,
    form_id: &str,
    form: &FormDefinition,
    received: Received,
) -> AppResult<Response> {
    let ip = client::ip(req);
    let Received {
        limited,
        kind,
        body,
        known,
    } = received;
    limited?;
    let plain_form_post = kind == URLENCODED;
    if kind != "application/json" && !plain_form_post {
        return Err(AppError::UnsupportedMediaType {
            expected: "application/json or application/x-www-form-urlencoded",
        });
    }
    let body = body?;
    let input: SubmissionInput = if plain_form_post {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        SubmissionInput::from_pairs(&pairs, form)
    } else {
        decode_json::<SubmissionJson>(&body)?.into()
    };
    if input.trips_honeypot(form) {
        return accepted(form, plain_form_post);
    }
    // A form that shows Turnstile must have it verified; without the secret we cannot, so we
    // refuse rather than let bots through.
    if form.turnstile_site_key.is_some() {
        let secret = config
            .turnstile_secret
            .as_deref()
            .ok_or(AppError::Misconfigured("TURNSTILE_SECRET"))?;
        let hosts: Vec<String> = form
            .allowed_origins
            .iter()
            .filter_map(|o| url::Url::parse(o).ok())
            .filter_map(|u| u.host_str().map(str::to_string))
            .collect();
        if !turnstile::verify(
            config,
            secret,
            input.turnstile_token.as_deref(),
            &ip,
            &hosts,
        )
        .await
        {
            return Err(AppError::Forbidden {
                code: "turnstile_failed",
                message: "the anti-bot check failed, please try again".into(),
            });
        }
    }
    let accept_language = client::accept_language(req);
    let locale = Locale::negotiate(form.locale(), accept_language.as_deref());
    let now = time::now();
    let submission =
        Submission::parse(form, &input, locale, now.date_naive()).map_err(AppError::fields)?;
    signup::sign_up(
        &app.env,
        config,
        db,
        Submitted {
            form_id,
            double_opt_in: form.double_opt_in,
            submission: &submission,
            locale,
            now,
            ip_hash: client::ip_hash(req, &config.keys),
            user_agent: client::user_agent(req),
            gpc: client::gpc(req),
        },
        known,
    )
    .await?;
    accepted(form, plain_form_post)
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /v1/forms/{id}`: [`get_public`](super::get_public).
    pub fn get_public() -> Value {
        json!({
            "operationId": "getPublicForm",
            "summary": "A form's public definition (CORS for its allowed origins)",
            "parameters": [id_param()],
            "responses": {
                "200": json_response("form", json!({ "$ref": "#/components/schemas/PublicForm" })),
                "403": error_response("origin not allowed"),
                "404": error_response("no such form")
            }
        })
    }

    /// `OPTIONS /v1/forms/{id}`: [`preflight`](super::preflight).
    pub fn preflight() -> Value {
        json!({
            "operationId": "preflightPublicForm",
            "summary": "CORS preflight",
            "parameters": [id_param()],
            "responses": { "204": { "description": "allowed" }, "400": error_response("no Origin"), "403": error_response("origin not allowed"), "404": error_response("no such form") }
        })
    }

    /// `POST /v1/forms/{id}/submissions`: [`submit`](super::submit).
    pub fn submit() -> Value {
        json!({
            "operationId": "submitForm",
            "summary": "Sign up through a form; the same answer whether the address is new or known",
            "parameters": [id_param()],
            "requestBody": { "required": true, "content": {
                "application/json": { "schema": { "$ref": "#/components/schemas/Submission" } },
                "application/x-www-form-urlencoded": { "schema": { "type": "object", "additionalProperties": { "type": "string" } } }
            } },
            "responses": with_body_errors(json!({
                "202": json_response("accepted", json!({ "type": "object", "required": ["status"], "properties": { "status": { "const": "accepted" } } })),
                "303": { "description": "plain form post: redirect to the form's redirect_url" },
                "403": error_response("origin not allowed or Turnstile failed"),
                "404": error_response("no such form"),
                "429": rate_limited("too many submissions; see Retry-After")
            }))
        })
    }

    /// `OPTIONS /v1/forms/{id}/submissions`: [`preflight`](super::preflight).
    pub fn preflight_submission() -> Value {
        json!({
            "operationId": "preflightSubmission",
            "summary": "CORS preflight",
            "parameters": [id_param()],
            "responses": { "204": { "description": "allowed" }, "400": error_response("no Origin"), "403": error_response("origin not allowed"), "404": error_response("no such form") }
        })
    }
}
