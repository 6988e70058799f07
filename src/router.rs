//! The route table: one row per route naming who may call it, its handler and its contract.
//! Dispatch matches the path (literal segments beat parameters), answers 404 or 405 with
//! `Allow`, admits the caller the row names, then runs the handler. `/openapi.json` is written
//! from the same rows, so the published contract cannot drift from what is served.
//!
//! Adding an endpoint: write `async fn name(req: Request, app: &App) -> AppResult<Response>` and
//! its `fn name_doc() -> Value` (the OpenAPI operation) side by side in a module under
//! `src/routes`, then add one row below.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use serde_json::Value;
use worker::{Context, Env, Request, Response};

use crate::domain::scope::Scope;
use crate::error::{AppError, AppResult};
use crate::http::app::{AdminCall, App, Caller, PersonCall};
use crate::http::{auth, response, session};
use crate::routes::{
    admin, confirm, embed, exports, forms, health, keep, me, openapi, surveys, unsubscribe,
};
use crate::store::{self, Budget, Db};
use std::rc::Rc;

/// Who may call a route. Every row of [`ROUTES`] says it, so no route can be added without
/// deciding; dispatch enforces it before the handler runs, `/openapi.json` publishes it as each
/// operation's `security`, and the integration scope matrix calls every admin operation with a
/// key lacking exactly these scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credential: pages, the signup and link endpoints (a signed link or single-use token in
    /// the request is the capability, checked by the handler).
    Public,
    /// A self-service session from `POST /v1/me/session`.
    Session,
    /// An API key holding any one of these scopes (never empty; the first is the one a refusal
    /// names).
    Admin(&'static [Scope]),
}

/// A handler's answer, boxed so that every handler fits one row type.
pub type Reply<'a> = Pin<Box<dyn Future<Output = AppResult<Response>> + 'a>>;
/// Every handler has this shape: `async fn(Request, &App) -> AppResult<Response>`, boxed by
/// [`handler!`].
pub type Handler = for<'a> fn(Request, &'a App) -> Reply<'a>;

/// Wraps `async fn(Request, &App) -> AppResult<Response>` as a [`Handler`].
macro_rules! handler {
    ($f:path) => {{
        fn run(req: Request, app: &App) -> Reply<'_> {
            Box::pin($f(req, app))
        }
        run as Handler
    }};
}

pub struct Route {
    pub method: &'static str,
    /// `{name}` segments match one non-empty path segment and become `App::params`.
    pub path: &'static str,
    pub access: Access,
    pub handler: Handler,
    /// The OpenAPI operation, written beside the handler.
    pub contract: fn() -> Value,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

const fn route(
    method: &'static str,
    path: &'static str,
    access: Access,
    handler: Handler,
    contract: fn() -> Value,
) -> Route {
    Route {
        method,
        path,
        access,
        handler,
        contract,
    }
}

const GET: &str = "GET";
const POST: &str = "POST";
const PUT: &str = "PUT";
const PATCH: &str = "PATCH";
const DELETE: &str = "DELETE";
const OPTIONS: &str = "OPTIONS";

// Who may call each route, by name, so each row below stays one line.
const PUBLIC: Access = Access::Public;
const SESSION: Access = Access::Session;
const KEYS: Access = Access::Admin(&[Scope::Keys]);
/// Any valid key, whatever it may do (every key holds at least one scope).
const ANY_KEY: Access = Access::Admin(&Scope::ALL);
const AUDIT: Access = Access::Admin(&[Scope::Audit]);
const FORMS: Access = Access::Admin(&[Scope::Forms]);
const SURVEYS: Access = Access::Admin(&[Scope::Surveys]);
const ORDERS: Access = Access::Admin(&[Scope::Orders]);
const CONTACTS_READ: Access = Access::Admin(&[Scope::ContactsRead]);
const CONTACTS_WRITE: Access = Access::Admin(&[Scope::ContactsWrite]);
const SEGMENTS: Access = Access::Admin(&[Scope::Segments]);
const EXPORTS: Access = Access::Admin(&[Scope::Exports]);
const OUTBOX: Access = Access::Admin(&[Scope::Outbox]);
const WEBHOOKS: Access = Access::Admin(&[Scope::Webhooks]);
const BACKUPS: Access = Access::Admin(&[Scope::Backups]);
/// The outbox list: the marketer's `outbox` (redacted) or the mail relay's `outbox:deliver`.
const OUTBOX_READ: Access = Access::Admin(&[Scope::Outbox, Scope::OutboxDeliver]);

#[rustfmt::skip]
pub const ROUTES: &[Route] = &[
    route(GET,    "/healthz",                             PUBLIC,         handler!(health::get),                       health::doc::get),
    route(GET,    "/openapi.json",                        PUBLIC,         handler!(openapi::get),                      openapi::doc::get),
    route(POST,   "/admin/v1/keys",                       KEYS,           handler!(admin::keys::create),               admin::keys::doc::create),
    route(GET,    "/admin/v1/keys",                       KEYS,           handler!(admin::keys::list),                 admin::keys::doc::list),
    route(GET,    "/admin/v1/key",                        ANY_KEY,        handler!(admin::keys::current),              admin::keys::doc::current),
    route(DELETE, "/admin/v1/keys/{id}",                  KEYS,           handler!(admin::keys::revoke),               admin::keys::doc::revoke),
    route(GET,    "/admin/v1/audit",                      AUDIT,          handler!(admin::audit::list),                admin::audit::doc::list),
    route(GET,    "/admin/v1/dead-letters",               AUDIT,          handler!(admin::dead_letters::list),         admin::dead_letters::doc::list),
    route(GET,    "/admin/v1/outbox",                     OUTBOX_READ,    handler!(admin::outbox::list),               admin::outbox::doc::list),
    route(POST,   "/admin/v1/outbox/test",                OUTBOX,         handler!(admin::outbox::send_test),          admin::outbox::doc::send_test),
    route(POST,   "/admin/v1/webhooks",                   WEBHOOKS,       handler!(admin::webhooks::create),           admin::webhooks::doc::create),
    route(GET,    "/admin/v1/webhooks",                   WEBHOOKS,       handler!(admin::webhooks::list),             admin::webhooks::doc::list),
    route(GET,    "/admin/v1/webhooks/{id}",              WEBHOOKS,       handler!(admin::webhooks::get),              admin::webhooks::doc::get),
    route(PATCH,  "/admin/v1/webhooks/{id}",              WEBHOOKS,       handler!(admin::webhooks::patch),            admin::webhooks::doc::patch),
    route(DELETE, "/admin/v1/webhooks/{id}",              WEBHOOKS,       handler!(admin::webhooks::delete),           admin::webhooks::doc::delete),
    route(GET,    "/admin/v1/webhooks/{id}/deliveries",   WEBHOOKS,       handler!(admin::webhooks::deliveries),       admin::webhooks::doc::deliveries),
    route(POST,   "/admin/v1/webhooks/{id}/deliveries/{delivery_id}/retry", WEBHOOKS, handler!(admin::webhooks::retry), admin::webhooks::doc::retry),
    route(GET,    "/admin/v1/events",                     WEBHOOKS,       handler!(admin::webhooks::feed),             admin::webhooks::doc::feed),
    route(GET,    "/embed.js",                            PUBLIC,         handler!(embed::get),                        embed::doc::get),
    route(GET,    "/v1/forms/{id}",                       PUBLIC,         handler!(forms::get_public),                 forms::doc::get_public),
    route(OPTIONS,"/v1/forms/{id}",                       PUBLIC,         handler!(forms::preflight),                  forms::doc::preflight),
    route(POST,   "/v1/forms/{id}/submissions",           PUBLIC,         handler!(forms::submit),                     forms::doc::submit),
    route(OPTIONS,"/v1/forms/{id}/submissions",           PUBLIC,         handler!(forms::preflight),                  forms::doc::preflight_submission),
    route(GET,    "/confirm",                             PUBLIC,         handler!(confirm::page_get),                 confirm::doc::page_get),
    route(POST,   "/confirm",                             PUBLIC,         handler!(confirm::page_post),                confirm::doc::page_post),
    route(POST,   "/v1/confirm",                          PUBLIC,         handler!(confirm::post_json),                confirm::doc::post_json),
    route(GET,    "/keep",                                PUBLIC,         handler!(keep::page_get),                    keep::doc::page_get),
    route(POST,   "/keep",                                PUBLIC,         handler!(keep::page_post),                   keep::doc::page_post),
    route(POST,   "/admin/v1/forms",                      FORMS,          handler!(admin::forms::create),              admin::forms::doc::create),
    route(GET,    "/admin/v1/forms",                      FORMS,          handler!(admin::forms::list),                admin::forms::doc::list),
    route(GET,    "/admin/v1/forms/{id}",                 FORMS,          handler!(admin::forms::get),                 admin::forms::doc::get),
    route(PATCH,  "/admin/v1/forms/{id}",                 FORMS,          handler!(admin::forms::patch),               admin::forms::doc::patch),
    route(GET,    "/admin/v1/contacts",                   CONTACTS_READ,  handler!(admin::contacts::search),           admin::contacts::doc::search),
    route(GET,    "/admin/v1/contacts/{id}",              CONTACTS_READ,  handler!(admin::contacts::get),              admin::contacts::doc::get),
    route(POST,   "/admin/v1/contacts/import",            CONTACTS_WRITE, handler!(admin::import::import),             admin::import::doc::import),
    route(POST,   "/admin/v1/contacts/{id}/revoke-links", CONTACTS_WRITE, handler!(admin::contacts::revoke_links),     admin::contacts::doc::revoke_links),
    route(POST,   "/admin/v1/contacts/{id}/erase",        CONTACTS_WRITE, handler!(admin::contacts::erase),            admin::contacts::doc::erase),
    route(GET,    "/admin/v1/contacts/{id}/export",       CONTACTS_READ,  handler!(admin::contacts::export),           admin::contacts::doc::export),
    route(GET,    "/admin/v1/privacy-requests",           AUDIT,          handler!(admin::privacy_requests::list),     admin::privacy_requests::doc::list),
    route(GET,    "/admin/v1/notices/{sha256}",           CONTACTS_READ,  handler!(admin::notices::get),               admin::notices::doc::get),
    route(POST,   "/admin/v1/orders",                     ORDERS,         handler!(admin::orders::ingest),             admin::orders::doc::ingest),
    route(POST,   "/admin/v1/surveys",                    SURVEYS,        handler!(admin::surveys::create),            admin::surveys::doc::create),
    route(GET,    "/admin/v1/surveys",                    SURVEYS,        handler!(admin::surveys::list),              admin::surveys::doc::list),
    route(GET,    "/admin/v1/surveys/{id}",               SURVEYS,        handler!(admin::surveys::get),               admin::surveys::doc::get),
    route(PATCH,  "/admin/v1/surveys/{id}",               SURVEYS,        handler!(admin::surveys::patch),             admin::surveys::doc::patch),
    route(POST,   "/admin/v1/surveys/{id}/invitations",   SURVEYS,        handler!(admin::surveys::invite),            admin::surveys::doc::invite),
    route(GET,    "/admin/v1/surveys/{id}/results",       SURVEYS,        handler!(admin::surveys::results),           admin::surveys::doc::results),
    route(GET,    "/admin/v1/surveys/{id}/responses.csv", SURVEYS,        handler!(admin::surveys::export_csv),        admin::surveys::doc::export_csv),
    route(GET,    "/s/{token}",                           PUBLIC,         handler!(surveys::page),                     surveys::doc::page),
    route(POST,   "/v1/surveys/responses",                PUBLIC,         handler!(surveys::respond),                  surveys::doc::respond),
    route(GET,    "/admin/v1/overview",                   SEGMENTS,       handler!(admin::overview::get),              admin::overview::doc::get),
    route(POST,   "/admin/v1/segments",                   SEGMENTS,       handler!(admin::segments::create),           admin::segments::doc::create),
    route(GET,    "/admin/v1/segments",                   SEGMENTS,       handler!(admin::segments::list),             admin::segments::doc::list),
    route(POST,   "/admin/v1/segments/preview",           SEGMENTS,       handler!(admin::segments::preview),          admin::segments::doc::preview),
    route(GET,    "/admin/v1/segments/fields",            SEGMENTS,       handler!(admin::segments::fields),           admin::segments::doc::fields),
    route(GET,    "/admin/v1/segments/{id}",              SEGMENTS,       handler!(admin::segments::get),              admin::segments::doc::get),
    route(PUT,    "/admin/v1/segments/{id}",              SEGMENTS,       handler!(admin::segments::replace),          admin::segments::doc::replace),
    route(DELETE, "/admin/v1/segments/{id}",              SEGMENTS,       handler!(admin::segments::delete),           admin::segments::doc::delete),
    route(GET,    "/admin/v1/segments/{id}/export.csv",   EXPORTS,        handler!(admin::segments::export),           admin::segments::doc::export),
    route(POST,   "/admin/v1/segments/{id}/exports",      EXPORTS,        handler!(admin::exports::create),            admin::exports::doc::create),
    route(GET,    "/admin/v1/exports/{id}",               EXPORTS,        handler!(admin::exports::get),               admin::exports::doc::get),
    route(POST,   "/admin/v1/backups",                    BACKUPS,        handler!(admin::backups::create),            admin::backups::doc::create),
    route(GET,    "/admin/v1/backups",                    BACKUPS,        handler!(admin::backups::list),              admin::backups::doc::list),
    route(GET,    "/admin/v1/backups/{id}",               BACKUPS,        handler!(admin::backups::get),               admin::backups::doc::get),
    route(GET,    "/v1/exports/{id}/download",            PUBLIC,         handler!(exports::download),                 exports::doc::download),
    route(GET,    "/admin",                               PUBLIC,         handler!(admin::page),                       admin::doc::page),
    route(POST,   "/v1/me/link",                          PUBLIC,         handler!(me::request_link),                  me::doc::request_link),
    route(POST,   "/v1/me/session",                       PUBLIC,         handler!(me::start_session),                 me::doc::start_session),
    route(GET,    "/v1/me",                               SESSION,        handler!(me::get),                           me::doc::get),
    route(PATCH,  "/v1/me",                               SESSION,        handler!(me::patch),                         me::doc::patch),
    route(DELETE, "/v1/me",                               SESSION,        handler!(me::erase),                         me::doc::erase),
    route(GET,    "/v1/me/export",                        SESSION,        handler!(me::export),                        me::doc::export),
    route(PUT,    "/v1/me/consents/{purpose}",            SESSION,        handler!(me::put_consent),                   me::doc::put_consent),
    route(POST,   "/v1/me/data-confirmed",                SESSION,        handler!(me::confirm_data),                  me::doc::confirm_data),
    route(POST,   "/v1/me/sign-in-link",                  SESSION,        handler!(me::email_sign_in_link),            me::doc::email_sign_in_link),
    route(POST,   "/v1/me/sign-out-everywhere",           SESSION,        handler!(me::sign_out_everywhere),           me::doc::sign_out_everywhere),
    route(GET,    "/me",                                  PUBLIC,         handler!(me::page),                          me::doc::page),
    route(GET,    "/unsubscribe",                         PUBLIC,         handler!(unsubscribe::page_get),             unsubscribe::doc::page_get),
    route(POST,   "/unsubscribe",                         PUBLIC,         handler!(unsubscribe::post),                 unsubscribe::doc::post),
];

/// The path patterns in matchit's syntax, each with the rows (one per method) it serves.
struct Table {
    paths: matchit::Router<Vec<usize>>,
}

/// `{name}` (the contract's template syntax) as matchit 0.7 writes it, `:name`.
fn matchit_pattern(path: &str) -> String {
    path.split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!(":{name}"),
                None => s.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut by_path: Vec<(&str, Vec<usize>)> = Vec::new();
        for (i, r) in ROUTES.iter().enumerate() {
            match by_path.iter_mut().find(|(p, _)| *p == r.path) {
                Some((_, rows)) => rows.push(i),
                None => by_path.push((r.path, vec![i])),
            }
        }
        let mut paths = matchit::Router::new();
        for (path, rows) in by_path {
            // The table is a constant: a pattern matchit refuses fails the unit tests, not a
            // request. Were it ever to happen, the path would simply answer 404.
            let _ = paths.insert(matchit_pattern(path), rows);
        }
        Table { paths }
    })
}

/// Finds the route for a request: 404 when no path matches, 405 (with the methods the path
/// does serve) when only the method is wrong. HEAD is served by GET.
pub fn resolve(method: &str, path: &str) -> AppResult<(&'static Route, Vec<(String, String)>)> {
    let found = table().paths.at(path).map_err(|_| AppError::NotFound)?;
    let params: Vec<(String, String)> = found
        .params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let rows = found.value.iter().map(|&i| &ROUTES[i]);
    let head_of_get = |r: &Route| method == "HEAD" && r.method == GET;
    if let Some(route) = rows.clone().find(|r| r.method == method || head_of_get(r)) {
        return Ok((route, params));
    }
    let allow: Vec<&str> = rows
        .flat_map(|r| match r.method {
            GET => vec![GET, "HEAD"],
            other => vec![other],
        })
        .collect();
    Err(AppError::MethodNotAllowed {
        allow: allow.join(", "),
    })
}

/// The caller a row admits, or the 401/403 that refuses them.
async fn admit(access: Access, req: &Request, env: &Env, budget: &Rc<Budget>) -> AppResult<Caller> {
    match access {
        Access::Public => Ok(Caller::Anyone),
        Access::Admin(scopes) => {
            let config = crate::config::Config::from_env(env)?;
            let db = Db::open(env, budget)?;
            let principal = auth::authenticate(req, &db, &config).await?;
            if !scopes.iter().any(|s| principal.scopes.contains(*s)) {
                // Names the first, the one the operation is really about.
                principal.require(scopes[0])?;
            }
            Ok(Caller::Admin(AdminCall {
                config,
                db,
                principal,
            }))
        }
        Access::Session => {
            let db = Db::open(env, budget)?;
            let session = session::signed_in(req, &db).await?;
            Ok(Caller::Person(PersonCall { db, session }))
        }
    }
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
    let mut calls = 0;
    let outcome = match resolve(&method, &path) {
        Ok((route, params)) => {
            let what = format!("{} {}", route.method, route.path);
            let budget = store::budget(&env, &what);
            match admit(route.access, &req, &env, &budget).await {
                Ok(caller) => {
                    let app = App {
                        env,
                        budget,
                        params,
                        ctx,
                        caller,
                    };
                    let answer = (route.handler)(req, &app).await;
                    // A streamed body (exports) keeps querying after this; its calls are not seen.
                    store::report_calls(&what, &app.budget);
                    calls = app.budget.used();
                    answer
                }
                Err(e) => Err(e),
            }
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
        // D1 round trips (a batch is one), the figure the signup's speed rests on.
        let _ = headers.set("X-D1-Calls", &calls.to_string());
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(method: &str, path: &str) -> Result<(String, Vec<(String, String)>), String> {
        match resolve(method, path) {
            Ok((r, params)) => Ok((format!("{} {}", r.method, r.path), params)),
            Err(AppError::MethodNotAllowed { allow }) => Err(format!("405 {allow}")),
            Err(AppError::NotFound) => Err("404".into()),
            Err(e) => Err(format!("{e:?}")),
        }
    }

    #[test]
    fn every_pattern_is_accepted_by_the_matcher() {
        let mut paths = matchit::Router::new();
        let mut seen = Vec::new();
        for r in ROUTES {
            if seen.contains(&r.path) {
                continue;
            }
            seen.push(r.path);
            assert!(paths.insert(matchit_pattern(r.path), ()).is_ok(), "{r:?}");
        }
    }

    #[test]
    fn matches_literal_and_parameter_segments() {
        assert_eq!(
            resolved("GET", "/healthz"),
            Ok(("GET /healthz".into(), vec![]))
        );
        assert_eq!(
            resolved("DELETE", "/admin/v1/keys/key_1"),
            Ok((
                "DELETE /admin/v1/keys/{id}".into(),
                vec![("id".into(), "key_1".into())]
            ))
        );
        assert_eq!(resolved("DELETE", "/admin/v1/keys/"), Err("404".into()));
        assert_eq!(resolved("DELETE", "/admin/v1/keys/a/b"), Err("404".into()));
        assert_eq!(resolved("GET", "/healthz/"), Err("404".into()));
        assert_eq!(
            resolved("PUT", "/v1/me/consents/marketing_email"),
            Ok((
                "PUT /v1/me/consents/{purpose}".into(),
                vec![("purpose".into(), "marketing_email".into())]
            ))
        );
    }

    #[test]
    fn wrong_method_is_405_and_unknown_path_404() {
        assert_eq!(resolved("PUT", "/healthz"), Err("405 GET, HEAD".into()));
        // A literal segment beats a parameter: `preview` is not the segment of that id.
        assert_eq!(
            resolved("GET", "/admin/v1/segments/preview"),
            Err("405 POST".into())
        );
        assert_eq!(
            resolved("GET", "/admin/v1/segments/seg_1").map(|(r, _)| r),
            Ok("GET /admin/v1/segments/{id}".into())
        );
        assert_eq!(
            resolved("TRACE", "/v1/me"),
            Err("405 GET, HEAD, PATCH, DELETE".into())
        );
        assert_eq!(resolved("GET", "/nope"), Err("404".into()));
        assert_eq!(
            resolved("HEAD", "/healthz").map(|(r, _)| r),
            Ok("GET /healthz".into())
        );
    }

    #[test]
    fn every_route_resolves_to_its_own_row() {
        for r in ROUTES {
            let concrete = r
                .path
                .split('/')
                .map(|s| if s.starts_with('{') { "x1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            assert_eq!(
                resolved(r.method, &concrete).map(|(found, _)| found),
                Ok(format!("{} {}", r.method, r.path))
            );
        }
    }

    #[test]
    fn every_admin_route_needs_a_scope_and_no_other_route_does() {
        for r in ROUTES {
            let admin = r.path.starts_with("/admin/v1/");
            match r.access {
                Access::Admin(scopes) => {
                    assert!(admin, "{r:?} asks for an API key");
                    assert!(!scopes.is_empty(), "{r:?} names no scope");
                }
                Access::Session => {
                    assert!(r.path.starts_with("/v1/me"), "{r:?} asks for a session")
                }
                Access::Public => assert!(!admin, "{r:?} is public"),
            }
        }
    }

    #[test]
    fn self_service_needs_a_session_except_the_ways_to_get_one() {
        for r in ROUTES.iter().filter(|r| r.path.starts_with("/v1/me")) {
            let opens_one = matches!(r.path, "/v1/me/link" | "/v1/me/session");
            assert_eq!(r.access == Access::Public, opens_one, "{r:?}");
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
