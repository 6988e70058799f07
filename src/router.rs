//! The route table, one line per route, and dispatch. `/openapi.json` is checked against
//! `ROUTES` by a test, so the published contract cannot drift from what is served.

use worker::{Context, Env, Request, Response};

use crate::domain::scope::Scope;
use crate::error::{AppError, AppResult};
use crate::http::response;
use crate::routes::{self, admin, App};
use crate::store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Healthz,
    OpenApi,
    KeysCreate,
    KeysList,
    KeysRevoke,
    AuditList,
    DeadLettersList,
    OutboxList,
    OutboxTest,
    EmbedJs,
    FormPublic,
    FormPreflight,
    FormSubmit,
    ConfirmPage,
    ConfirmPagePost,
    ConfirmApi,
    FormsCreate,
    FormsList,
    FormsGet,
    FormsPatch,
    ContactsSearch,
    ContactsGet,
    ContactsImport,
    ContactsRevokeLinks,
    NoticesGet,
    OrdersIngest,
    SurveysCreate,
    SurveysList,
    SurveysGet,
    SurveysPatch,
    SurveysInvite,
    SurveysResults,
    SurveysExport,
    SurveyPage,
    SurveyRespond,
    SegmentsCreate,
    SegmentsList,
    SegmentsPreview,
    SegmentsGet,
    SegmentsReplace,
    SegmentsDelete,
    SegmentsExport,
    AdminPage,
    MeLink,
    MeSession,
    MeGet,
    MePatch,
    MeExport,
    MeConsent,
    MeErase,
    MeSignInLink,
    MeSignOutEverywhere,
    MePage,
    UnsubscribePage,
    UnsubscribePost,
}

/// Who may call a route. Every row of [`ROUTES`] says it, so no route can be added without
/// deciding; `/openapi.json` publishes it as each operation's `security`, and the integration
/// scope matrix calls every admin operation with a key lacking exactly these scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credential: pages, the signup and link endpoints (a signed link or single-use token in
    /// the request is the capability, checked by the handler).
    Public,
    /// A self-service session from `POST /v1/me/session`.
    Session,
    /// An API key holding any one of these scopes (never empty).
    Admin(&'static [Scope]),
}

#[derive(Debug)]
pub struct Route {
    pub method: &'static str,
    /// Segments in braces match one non-empty path segment and become `App::params`.
    pub path: &'static str,
    pub access: Access,
    pub handler: Handler,
}

const fn route(
    method: &'static str,
    path: &'static str,
    access: Access,
    handler: Handler,
) -> Route {
    Route {
        method,
        path,
        access,
        handler,
    }
}

// Who may call each route, by name, so each row below stays one line.
const PUBLIC: Access = Access::Public;
const SESSION: Access = Access::Session;
const KEYS: Access = Access::Admin(&[Scope::Keys]);
const AUDIT: Access = Access::Admin(&[Scope::Audit]);
const FORMS: Access = Access::Admin(&[Scope::Forms]);
const SURVEYS: Access = Access::Admin(&[Scope::Surveys]);
const ORDERS: Access = Access::Admin(&[Scope::Orders]);
const CONTACTS_READ: Access = Access::Admin(&[Scope::ContactsRead]);
const CONTACTS_WRITE: Access = Access::Admin(&[Scope::ContactsWrite]);
const SEGMENTS: Access = Access::Admin(&[Scope::Segments]);
const EXPORTS: Access = Access::Admin(&[Scope::Exports]);
const OUTBOX: Access = Access::Admin(&[Scope::Outbox]);
/// The outbox list: the marketer's `outbox` (redacted) or the mail relay's `outbox:deliver`.
const OUTBOX_READ: Access = Access::Admin(&[Scope::Outbox, Scope::OutboxDeliver]);

pub const ROUTES: &[Route] = &[
    route("GET", "/healthz", PUBLIC, Handler::Healthz),
    route("GET", "/openapi.json", PUBLIC, Handler::OpenApi),
    route("POST", "/admin/v1/keys", KEYS, Handler::KeysCreate),
    route("GET", "/admin/v1/keys", KEYS, Handler::KeysList),
    route("DELETE", "/admin/v1/keys/{id}", KEYS, Handler::KeysRevoke),
    route("GET", "/admin/v1/audit", AUDIT, Handler::AuditList),
    route(
        "GET",
        "/admin/v1/dead-letters",
        AUDIT,
        Handler::DeadLettersList,
    ),
    route("GET", "/admin/v1/outbox", OUTBOX_READ, Handler::OutboxList),
    route("POST", "/admin/v1/outbox/test", OUTBOX, Handler::OutboxTest),
    route("GET", "/embed.js", PUBLIC, Handler::EmbedJs),
    route("GET", "/v1/forms/{id}", PUBLIC, Handler::FormPublic),
    route("OPTIONS", "/v1/forms/{id}", PUBLIC, Handler::FormPreflight),
    route(
        "POST",
        "/v1/forms/{id}/submissions",
        PUBLIC,
        Handler::FormSubmit,
    ),
    route(
        "OPTIONS",
        "/v1/forms/{id}/submissions",
        PUBLIC,
        Handler::FormPreflight,
    ),
    route("GET", "/confirm", PUBLIC, Handler::ConfirmPage),
    route("POST", "/confirm", PUBLIC, Handler::ConfirmPagePost),
    route("POST", "/v1/confirm", PUBLIC, Handler::ConfirmApi),
    route("POST", "/admin/v1/forms", FORMS, Handler::FormsCreate),
    route("GET", "/admin/v1/forms", FORMS, Handler::FormsList),
    route("GET", "/admin/v1/forms/{id}", FORMS, Handler::FormsGet),
    route("PATCH", "/admin/v1/forms/{id}", FORMS, Handler::FormsPatch),
    route(
        "GET",
        "/admin/v1/contacts",
        CONTACTS_READ,
        Handler::ContactsSearch,
    ),
    route(
        "GET",
        "/admin/v1/contacts/{id}",
        CONTACTS_READ,
        Handler::ContactsGet,
    ),
    route(
        "POST",
        "/admin/v1/contacts/import",
        CONTACTS_WRITE,
        Handler::ContactsImport,
    ),
    route(
        "POST",
        "/admin/v1/contacts/{id}/revoke-links",
        CONTACTS_WRITE,
        Handler::ContactsRevokeLinks,
    ),
    route(
        "GET",
        "/admin/v1/notices/{sha256}",
        CONTACTS_READ,
        Handler::NoticesGet,
    ),
    route("POST", "/admin/v1/orders", ORDERS, Handler::OrdersIngest),
    route("POST", "/admin/v1/surveys", SURVEYS, Handler::SurveysCreate),
    route("GET", "/admin/v1/surveys", SURVEYS, Handler::SurveysList),
    route(
        "GET",
        "/admin/v1/surveys/{id}",
        SURVEYS,
        Handler::SurveysGet,
    ),
    route(
        "PATCH",
        "/admin/v1/surveys/{id}",
        SURVEYS,
        Handler::SurveysPatch,
    ),
    route(
        "POST",
        "/admin/v1/surveys/{id}/invitations",
        SURVEYS,
        Handler::SurveysInvite,
    ),
    route(
        "GET",
        "/admin/v1/surveys/{id}/results",
        SURVEYS,
        Handler::SurveysResults,
    ),
    route(
        "GET",
        "/admin/v1/surveys/{id}/responses.csv",
        SURVEYS,
        Handler::SurveysExport,
    ),
    route("GET", "/s/{token}", PUBLIC, Handler::SurveyPage),
    route(
        "POST",
        "/v1/surveys/responses",
        PUBLIC,
        Handler::SurveyRespond,
    ),
    route(
        "POST",
        "/admin/v1/segments",
        SEGMENTS,
        Handler::SegmentsCreate,
    ),
    route("GET", "/admin/v1/segments", SEGMENTS, Handler::SegmentsList),
    route(
        "POST",
        "/admin/v1/segments/preview",
        SEGMENTS,
        Handler::SegmentsPreview,
    ),
    route(
        "GET",
        "/admin/v1/segments/{id}",
        SEGMENTS,
        Handler::SegmentsGet,
    ),
    route(
        "PUT",
        "/admin/v1/segments/{id}",
        SEGMENTS,
        Handler::SegmentsReplace,
    ),
    route(
        "DELETE",
        "/admin/v1/segments/{id}",
        SEGMENTS,
        Handler::SegmentsDelete,
    ),
    route(
        "GET",
        "/admin/v1/segments/{id}/export.csv",
        EXPORTS,
        Handler::SegmentsExport,
    ),
    route("GET", "/admin", PUBLIC, Handler::AdminPage),
    route("POST", "/v1/me/link", PUBLIC, Handler::MeLink),
    route("POST", "/v1/me/session", PUBLIC, Handler::MeSession),
    route("GET", "/v1/me", SESSION, Handler::MeGet),
    route("PATCH", "/v1/me", SESSION, Handler::MePatch),
    route("DELETE", "/v1/me", SESSION, Handler::MeErase),
    route("GET", "/v1/me/export", SESSION, Handler::MeExport),
    route(
        "PUT",
        "/v1/me/consents/{purpose}",
        SESSION,
        Handler::MeConsent,
    ),
    route(
        "POST",
        "/v1/me/sign-in-link",
        SESSION,
        Handler::MeSignInLink,
    ),
    route(
        "POST",
        "/v1/me/sign-out-everywhere",
        SESSION,
        Handler::MeSignOutEverywhere,
    ),
    route("GET", "/me", PUBLIC, Handler::MePage),
    route("GET", "/unsubscribe", PUBLIC, Handler::UnsubscribePage),
    route("POST", "/unsubscribe", PUBLIC, Handler::UnsubscribePost),
];

/// Matches `path` against a route pattern; returns the captured segments.
pub fn match_path(pattern: &str, path: &str) -> Option<Vec<String>> {
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    let mut params = Vec::new();
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return None;
                }
                params.push(g.to_string());
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// Finds the route for a request: 404 when no path matches, 405 when only the method is wrong.
pub fn resolve(method: &str, path: &str) -> AppResult<(Handler, Vec<String>)> {
    let matching: Vec<(&Route, Vec<String>)> = ROUTES
        .iter()
        .filter_map(|r| match_path(r.path, path).map(|params| (r, params)))
        .collect();
    // A literal segment beats a parameter: `/admin/v1/segments/preview` is not the segment
    // `preview`, so only the patterns with the fewest parameters count for this path.
    let fewest = matching.iter().map(|(_, p)| p.len()).min().unwrap_or(0);
    let mut allowed = Vec::new();
    for (r, params) in matching.into_iter().filter(|(_, p)| p.len() == fewest) {
        if r.method == method || (method == "HEAD" && r.method == "GET") {
            return Ok((r.handler, params));
        }
        allowed.push(r.method);
        if r.method == "GET" {
            allowed.push("HEAD");
        }
    }
    Err(if allowed.is_empty() {
        AppError::NotFound
    } else {
        AppError::MethodNotAllowed {
            allow: allowed.join(", "),
        }
    })
}

pub async fn handle(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    // The raw method: worker's `Method` turns the ones it does not know (QUERY, PROPFIND, …)
    // into GET, which would serve them as reads instead of refusing them with a 405.
    let method = req.inner().method().to_ascii_uppercase();
    let path = req.path();
    // `make bench` sets D1_ROW_METER=on to read D1 rows per request from response headers.
    let metered = env.var("D1_ROW_METER").is_ok_and(|v| v.to_string() == "on");
    store::set_row_meter(metered);
    let (read_before, written_before) = store::rows_metered();
    let outcome = match resolve(&method, &path) {
        Ok((handler, params)) => {
            let app = App { env, params, ctx };
            dispatch(handler, req, &app).await
        }
        Err(e) => Err(e),
    };
    let mut response = outcome.or_else(|e| response::error(&e))?;
    if metered {
        let (read, written) = store::rows_metered();
        // Redirects carry immutable headers; the meter then stays silent rather than fail.
        let headers = response.headers_mut();
        let _ = headers.set("X-D1-Rows-Read", &(read - read_before).to_string());
        let _ = headers.set("X-D1-Rows-Written", &(written - written_before).to_string());
    }
    Ok(response)
}

async fn dispatch(handler: Handler, req: Request, app: &App) -> AppResult<Response> {
    match handler {
        Handler::Healthz => routes::health::get(app).await,
        Handler::OpenApi => routes::openapi::get(),
        Handler::KeysCreate => admin::keys::create(req, app).await,
        Handler::KeysList => admin::keys::list(req, app).await,
        Handler::KeysRevoke => admin::keys::revoke(req, app).await,
        Handler::AuditList => admin::audit::list(req, app).await,
        Handler::DeadLettersList => admin::dead_letters::list(req, app).await,
        Handler::OutboxList => admin::outbox::list(req, app).await,
        Handler::OutboxTest => admin::outbox::send_test(req, app).await,
        Handler::EmbedJs => routes::embed::get(),
        Handler::FormPublic => routes::forms::get_public(req, app).await,
        Handler::FormPreflight => routes::forms::preflight(req, app).await,
        Handler::FormSubmit => routes::forms::submit(req, app).await,
        Handler::ConfirmPage => routes::confirm::page_get(req, app).await,
        Handler::ConfirmPagePost => routes::confirm::page_post(req, app).await,
        Handler::ConfirmApi => routes::confirm::post_json(req, app).await,
        Handler::FormsCreate => admin::forms::create(req, app).await,
        Handler::FormsList => admin::forms::list(req, app).await,
        Handler::FormsGet => admin::forms::get(req, app).await,
        Handler::FormsPatch => admin::forms::patch(req, app).await,
        Handler::ContactsSearch => admin::contacts::search(req, app).await,
        Handler::ContactsGet => admin::contacts::get(req, app).await,
        Handler::ContactsImport => admin::import::import(req, app).await,
        Handler::ContactsRevokeLinks => admin::contacts::revoke_links(req, app).await,
        Handler::NoticesGet => admin::notices::get(req, app).await,
        Handler::OrdersIngest => admin::orders::ingest(req, app).await,
        Handler::SurveysCreate => admin::surveys::create(req, app).await,
        Handler::SurveysList => admin::surveys::list(req, app).await,
        Handler::SurveysGet => admin::surveys::get(req, app).await,
        Handler::SurveysPatch => admin::surveys::patch(req, app).await,
        Handler::SurveysInvite => admin::surveys::invite(req, app).await,
        Handler::SurveysResults => admin::surveys::results(req, app).await,
        Handler::SurveysExport => admin::surveys::export_csv(req, app).await,
        Handler::SurveyPage => routes::surveys::page(req, app).await,
        Handler::SurveyRespond => routes::surveys::respond(req, app).await,
        Handler::SegmentsCreate => admin::segments::create(req, app).await,
        Handler::SegmentsList => admin::segments::list(req, app).await,
        Handler::SegmentsPreview => admin::segments::preview(req, app).await,
        Handler::SegmentsGet => admin::segments::get(req, app).await,
        Handler::SegmentsReplace => admin::segments::replace(req, app).await,
        Handler::SegmentsDelete => admin::segments::delete(req, app).await,
        Handler::SegmentsExport => admin::segments::export(req, app).await,
        Handler::AdminPage => admin::page(),
        Handler::MeLink => routes::me::request_link(req, app).await,
        Handler::MeSession => routes::me::start_session(req, app).await,
        Handler::MeGet => routes::me::get(req, app).await,
        Handler::MePatch => routes::me::patch(req, app).await,
        Handler::MeExport => routes::me::export(req, app).await,
        Handler::MeConsent => routes::me::put_consent(req, app).await,
        Handler::MeErase => routes::me::erase(req, app).await,
        Handler::MeSignInLink => routes::me::email_sign_in_link(req, app).await,
        Handler::MeSignOutEverywhere => routes::me::sign_out_everywhere(req, app).await,
        Handler::MePage => routes::me::page(req, app),
        Handler::UnsubscribePage => routes::unsubscribe::page_get(req, app).await,
        Handler::UnsubscribePost => routes::unsubscribe::post(req, app).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_literal_and_parameter_segments() {
        assert_eq!(match_path("/healthz", "/healthz"), Some(vec![]));
        assert_eq!(
            match_path("/admin/v1/keys/{id}", "/admin/v1/keys/key_1"),
            Some(vec!["key_1".to_string()])
        );
        assert_eq!(match_path("/admin/v1/keys/{id}", "/admin/v1/keys/"), None);
        assert_eq!(
            match_path("/admin/v1/keys/{id}", "/admin/v1/keys/a/b"),
            None
        );
        assert_eq!(match_path("/healthz", "/healthz/"), None);
    }

    #[test]
    fn wrong_method_is_405_and_unknown_path_404() {
        assert!(matches!(
            resolve("PUT", "/healthz"),
            Err(AppError::MethodNotAllowed { allow }) if allow == "GET, HEAD"
        ));
        assert!(matches!(
            resolve("GET", "/admin/v1/segments/preview"),
            Err(AppError::MethodNotAllowed { allow }) if allow == "POST"
        ));
        assert!(matches!(
            resolve("GET", "/admin/v1/segments/seg_1"),
            Ok((Handler::SegmentsGet, _))
        ));
        assert!(matches!(
            resolve("TRACE", "/v1/me"),
            Err(AppError::MethodNotAllowed { allow }) if allow == "GET, HEAD, PATCH, DELETE"
        ));
        assert!(matches!(resolve("GET", "/nope"), Err(AppError::NotFound)));
        assert!(matches!(
            resolve("HEAD", "/healthz"),
            Ok((Handler::Healthz, _))
        ));
    }

    #[test]
    fn every_admin_route_needs_a_scope_and_no_other_route_does() {
        for r in ROUTES {
            let admin = r.path.starts_with("/admin/v1/");
            match r.access {
                Access::Admin(scopes) => {
                    assert!(admin, "{} {} asks for an API key", r.method, r.path);
                    assert!(!scopes.is_empty(), "{} {} names no scope", r.method, r.path);
                }
                Access::Session => assert!(
                    r.path.starts_with("/v1/me"),
                    "{} {} asks for a session",
                    r.method,
                    r.path
                ),
                Access::Public => assert!(!admin, "{} {} is public", r.method, r.path),
            }
        }
    }

    #[test]
    fn self_service_needs_a_session_except_the_ways_to_get_one() {
        for r in ROUTES.iter().filter(|r| r.path.starts_with("/v1/me")) {
            let opens_one = matches!(r.path, "/v1/me/link" | "/v1/me/session");
            assert_eq!(
                r.access == Access::Public,
                opens_one,
                "{} {}",
                r.method,
                r.path
            );
        }
    }

    #[test]
    fn every_route_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "duplicate {a:?}"
                );
            }
        }
    }
}
