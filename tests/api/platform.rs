//! The platform every feature stands on: health, the contract document, error shapes, limits.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;

use crate::ensure;
use crate::ensure_eq;
use crate::harness::{Auth, TestApp, TestFn};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        health_answers_ok_once_d1_is_ready,
        openapi_document_lists_exactly_the_served_routes,
        unknown_route_is_a_json_404,
        wrong_method_is_a_json_405,
        oversized_body_is_refused_with_413,
        wrong_content_type_is_refused_with_415,
        malformed_json_is_a_400_not_a_500,
        responses_forbid_sniffing_caching_and_referrers,
    ]
}

async fn health_answers_ok_once_d1_is_ready(app: Arc<TestApp>) -> Result<(), String> {
    let reply = app.get("/healthz", Auth::None).await?.expect(200)?;
    ensure_eq!(
        reply.json(),
        json!({"status": "ok"}),
        "body was {}",
        reply.text
    );
    Ok(())
}

async fn openapi_document_lists_exactly_the_served_routes(app: Arc<TestApp>) -> Result<(), String> {
    let doc = app
        .get("/openapi.json", Auth::None)
        .await?
        .expect(200)?
        .json();
    ensure_eq!(
        doc["openapi"],
        "3.1.0",
        "not OpenAPI 3.1: {}",
        doc["openapi"]
    );
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().ok_or("no paths")? {
        for (method, op) in item.as_object().ok_or("bad path item")? {
            ensure!(
                op["responses"].is_object(),
                "{method} {path} has no responses"
            );
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = clientela::router::ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&served).collect();
    ensure!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    ensure!(phantom.is_empty(), "documented but not served: {phantom:?}");
    Ok(())
}

async fn unknown_route_is_a_json_404(app: Arc<TestApp>) -> Result<(), String> {
    app.get("/no/such/thing", Auth::None)
        .await?
        .expect_error(404, "not_found")?;
    app.get("/admin/v1/keys/", Auth::Admin)
        .await?
        .expect_error(404, "not_found")?;
    Ok(())
}

async fn wrong_method_is_a_json_405(app: Arc<TestApp>) -> Result<(), String> {
    let reply = app
        .delete("/healthz", Auth::None)
        .await?
        .expect_error(405, "method_not_allowed")?;
    ensure_eq!(
        reply.header("allow").as_deref(),
        Some("GET, HEAD"),
        "Allow was {:?}",
        reply.header("allow")
    );
    // A method the runtime's bindings do not name must not be served as a GET.
    let query = reqwest::Method::from_bytes(b"QUERY").map_err(|e| e.to_string())?;
    let reply = app
        .send(
            app.client.request(query, app.url("/admin/v1/keys")),
            Auth::Admin,
        )
        .await?
        .expect_error(405, "method_not_allowed")?;
    ensure_eq!(
        reply.header("allow").as_deref(),
        Some("POST, GET, HEAD"),
        "Allow was {:?}",
        reply.header("allow")
    );
    Ok(())
}

async fn oversized_body_is_refused_with_413(app: Arc<TestApp>) -> Result<(), String> {
    let name = "x".repeat(2 * 1024 * 1024);
    let body = serde_json::to_vec(&json!({"name": name, "scopes": ["forms"]}))
        .map_err(|e| e.to_string())?;
    app.post_raw("/admin/v1/keys", "application/json", body, Auth::Admin)
        .await?
        .expect_error(413, "payload_too_large")?;
    Ok(())
}

async fn wrong_content_type_is_refused_with_415(app: Arc<TestApp>) -> Result<(), String> {
    let body = br#"{"name":"ci","scopes":["forms"]}"#.to_vec();
    app.post_raw("/admin/v1/keys", "text/plain", body, Auth::Admin)
        .await?
        .expect_error(415, "unsupported_media_type")?;
    Ok(())
}

async fn malformed_json_is_a_400_not_a_500(app: Arc<TestApp>) -> Result<(), String> {
    app.post_raw(
        "/admin/v1/keys",
        "application/json",
        b"{\"name\": ".to_vec(),
        Auth::Admin,
    )
    .await?
    .expect_error(400, "invalid_json")?;
    app.post_raw(
        "/admin/v1/keys",
        "application/json",
        b"[1,2,3]".to_vec(),
        Auth::Admin,
    )
    .await?
    .expect_error(400, "validation_failed")?;
    Ok(())
}

async fn responses_forbid_sniffing_caching_and_referrers(app: Arc<TestApp>) -> Result<(), String> {
    for reply in [
        app.get("/healthz", Auth::None).await?,
        app.get("/nope", Auth::None).await?,
    ] {
        ensure_eq!(
            reply.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "no nosniff"
        );
        ensure_eq!(
            reply.header("referrer-policy").as_deref(),
            Some("no-referrer"),
            "no referrer policy"
        );
        ensure_eq!(
            reply.header("cache-control").as_deref(),
            Some("no-store"),
            "cacheable"
        );
        ensure!(
            reply
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "not JSON"
        );
    }
    Ok(())
}
