//! Admin authentication, scoped API keys and the audit trail.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::harness::{audit_entries, Auth, TestApp, TestFn};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        admin_api_without_a_key_is_401,
        admin_api_with_a_wrong_key_is_401,
        bootstrap_key_holds_every_scope,
        created_key_is_shown_once_and_listed_without_its_secret,
        key_without_the_scope_gets_403,
        revoked_key_is_refused_and_revoking_twice_is_harmless,
        key_cannot_grant_scopes_it_lacks,
        key_requests_are_validated_field_by_field,
        key_changes_land_in_the_audit_log,
        audit_log_rejects_a_malformed_since,
        a_key_reads_its_own_scopes_and_nothing_of_another_key,
        the_workspace_speaks_portuguese_when_asked_and_english_to_everyone_else,
    ]
}

async fn create_key(app: &TestApp, name: &str, scopes: &[&str]) -> Result<Value, String> {
    Ok(app
        .post_json(
            "/admin/v1/keys",
            &json!({"name": name, "scopes": scopes}),
            Auth::Admin,
        )
        .await?
        .expect(201)?
        .json())
}

async fn admin_api_without_a_key_is_401(app: Arc<TestApp>) -> Result<(), String> {
    let reply = app
        .get("/admin/v1/keys", Auth::None)
        .await?
        .expect_error(401, "unauthorized")?;
    ensure_eq!(
        reply.header("www-authenticate").as_deref(),
        Some("Bearer"),
        "no WWW-Authenticate"
    );
    let basic = app
        .send(
            app.client
                .get(app.url("/admin/v1/keys"))
                .header("Authorization", "Basic YWRtaW46YWRtaW4="),
            Auth::None,
        )
        .await?;
    basic.expect_error(401, "unauthorized")?;
    Ok(())
}

async fn admin_api_with_a_wrong_key_is_401(app: Arc<TestApp>) -> Result<(), String> {
    app.get("/admin/v1/keys", Auth::Bearer("ck_not_a_real_key"))
        .await?
        .expect_error(401, "unauthorized")?;
    let almost = format!("{}x", app.admin_key);
    app.get("/admin/v1/audit", Auth::Bearer(&almost))
        .await?
        .expect_error(401, "unauthorized")?;
    Ok(())
}

async fn bootstrap_key_holds_every_scope(app: Arc<TestApp>) -> Result<(), String> {
    for path in ["/admin/v1/keys", "/admin/v1/audit", "/admin/v1/outbox"] {
        app.get(path, Auth::Admin).await?.expect(200)?;
    }
    Ok(())
}

async fn created_key_is_shown_once_and_listed_without_its_secret(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let created = create_key(&app, "shop backend", &["orders", "outbox"]).await?;
    let secret = created["key"]
        .as_str()
        .ok_or("no key in response")?
        .to_string();
    let id = created["id"].as_str().ok_or("no id")?.to_string();
    ensure!(
        secret.starts_with("ck_") && secret.len() >= 35,
        "weak key {secret}"
    );
    ensure_eq!(
        created["scopes"],
        json!(["orders", "outbox"]),
        "scopes {}",
        created["scopes"]
    );
    let listing = app.get("/admin/v1/keys", Auth::Admin).await?.expect(200)?;
    ensure!(
        !listing.text.contains(&secret),
        "listing reveals the secret"
    );
    let listed = listing.json()["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["id"] == id.as_str()).cloned())
        .ok_or("new key not listed")?;
    ensure!(
        listed["name"] == "shop backend" && listed["revoked_at"].is_null(),
        "listed as {listed}"
    );
    ensure!(listed.get("key").is_none(), "listing has a key field");
    app.get("/admin/v1/outbox", Auth::Bearer(&secret))
        .await?
        .expect(200)?;
    Ok(())
}

async fn key_without_the_scope_gets_403(app: Arc<TestApp>) -> Result<(), String> {
    let created = create_key(&app, "outbox reader", &["outbox"]).await?;
    let secret = created["key"].as_str().ok_or("no key")?;
    let reply = app
        .get("/admin/v1/keys", Auth::Bearer(secret))
        .await?
        .expect_error(403, "missing_scope")?;
    ensure!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("keys"),
        "403 does not name the scope"
    );
    app.get("/admin/v1/audit", Auth::Bearer(secret))
        .await?
        .expect_error(403, "missing_scope")?;
    app.get("/admin/v1/outbox", Auth::Bearer(secret))
        .await?
        .expect(200)?;
    Ok(())
}

async fn revoked_key_is_refused_and_revoking_twice_is_harmless(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let created = create_key(&app, "temporary", &["audit"]).await?;
    let secret = created["key"].as_str().ok_or("no key")?;
    let id = created["id"].as_str().ok_or("no id")?;
    app.get("/admin/v1/audit", Auth::Bearer(secret))
        .await?
        .expect(200)?;
    let revoked = app
        .delete(&format!("/admin/v1/keys/{id}"), Auth::Admin)
        .await?
        .expect(200)?
        .json();
    ensure!(revoked["revoked_at"].is_string(), "not revoked: {revoked}");
    app.get("/admin/v1/audit", Auth::Bearer(secret))
        .await?
        .expect_error(401, "unauthorized")?;
    let again = app
        .delete(&format!("/admin/v1/keys/{id}"), Auth::Admin)
        .await?
        .expect(200)?
        .json();
    ensure_eq!(
        again["revoked_at"],
        revoked["revoked_at"],
        "second revoke changed the time"
    );
    app.delete("/admin/v1/keys/key_doesnotexist", Auth::Admin)
        .await?
        .expect_error(404, "not_found")?;
    Ok(())
}

async fn key_cannot_grant_scopes_it_lacks(app: Arc<TestApp>) -> Result<(), String> {
    let created = create_key(&app, "key manager", &["keys"]).await?;
    let secret = created["key"].as_str().ok_or("no key")?;
    app.post_json(
        "/admin/v1/keys",
        &json!({"name": "escalate", "scopes": ["keys", "exports"]}),
        Auth::Bearer(secret),
    )
    .await?
    .expect_error(403, "scope_escalation")?;
    app.post_json(
        "/admin/v1/keys",
        &json!({"name": "same", "scopes": ["keys"]}),
        Auth::Bearer(secret),
    )
    .await?
    .expect(201)?;
    Ok(())
}

async fn key_requests_are_validated_field_by_field(app: Arc<TestApp>) -> Result<(), String> {
    let cases = [
        (json!({"name": "x", "scopes": ["root"]}), "scopes"),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": "  ", "scopes": ["forms"]}), "name"),
        (
            json!({"name": "x".repeat(101), "scopes": ["forms"]}),
            "name",
        ),
        (
            json!({"name": "x", "scopes": ["forms"], "admin": true}),
            "admin",
        ),
        (json!({"name": "x"}), "scopes"),
        (json!({"name": 7, "scopes": ["forms"]}), "name"),
    ];
    for (body, field) in cases {
        let reply = app
            .post_json("/admin/v1/keys", &body, Auth::Admin)
            .await?
            .expect_error(400, "validation_failed")?;
        ensure!(
            reply.json()["error"]["fields"][field].is_string(),
            "{body} did not name {field}: {}",
            reply.text
        );
    }
    Ok(())
}

async fn key_changes_land_in_the_audit_log(app: Arc<TestApp>) -> Result<(), String> {
    let created = create_key(&app, "audited", &["forms"]).await?;
    let id = created["id"].as_str().ok_or("no id")?;
    app.delete(&format!("/admin/v1/keys/{id}"), Auth::Admin)
        .await?
        .expect(200)?;
    // The entries about this key, and only those: one creation, then one revocation, by the
    // bootstrap key.
    let made = audit_entries(&app, "key.create", Some(id)).await?;
    let revoked = audit_entries(&app, "key.revoke", Some(id)).await?;
    ensure!(
        made.len() == 1 && revoked.len() == 1,
        "audit entries for key {id}: created {made:?}, revoked {revoked:?}"
    );
    let (made, revoked) = (&made[0], &revoked[0]);
    ensure!(
        made["actor"] == "bootstrap"
            && revoked["actor"] == "bootstrap"
            && made["at"]
                .as_str()
                .is_some_and(|a| revoked["at"].as_str().is_some_and(|r| a <= r)),
        "entries {made} {revoked}"
    );
    let later = app
        .get("/admin/v1/audit?since=2999-01-01T00:00:00Z", Auth::Admin)
        .await?
        .expect(200)?
        .json();
    ensure_eq!(later["entries"], json!([]), "since does not filter");
    Ok(())
}

async fn audit_log_rejects_a_malformed_since(app: Arc<TestApp>) -> Result<(), String> {
    let reply = app
        .get("/admin/v1/audit?since=yesterday", Auth::Admin)
        .await?
        .expect_error(400, "validation_failed")?;
    ensure!(
        reply.json()["error"]["fields"]["since"].is_string(),
        "did not name since"
    );
    app.get("/admin/v1/audit?limit=0", Auth::Admin)
        .await?
        .expect_error(400, "validation_failed")?;
    app.get("/admin/v1/audit?sort=desc", Auth::Admin)
        .await?
        .expect_error(400, "validation_failed")?;
    Ok(())
}

/// `GET /admin/v1/key` is how the workspace knows which views to lock: it must describe the
/// calling key exactly (a page that believed a narrow key held `contacts:read` would offer a
/// lookup it cannot do), and tell that key nothing about any other, since any key may call it.
async fn a_key_reads_its_own_scopes_and_nothing_of_another_key(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let narrow = create_key(&app, "segments desk", &["segments", "exports"]).await?;
    let secret = narrow["key"].as_str().ok_or("no key")?.to_string();
    let id = narrow["id"].as_str().ok_or("no id")?.to_string();
    let me = app
        .get("/admin/v1/key", Auth::Bearer(&secret))
        .await?
        .expect(200)?
        .json();
    ensure_eq!(
        me,
        json!({ "actor": id, "scopes": ["segments", "exports"] }),
        "the narrow key"
    );
    // The same call cannot list keys: that stays with `keys`.
    app.get("/admin/v1/keys", Auth::Bearer(&secret))
        .await?
        .expect_error(403, "missing_scope")?;
    let boot = app
        .get("/admin/v1/key", Auth::Admin)
        .await?
        .expect(200)?
        .json();
    ensure_eq!(boot["actor"], json!("bootstrap"), "the deployment's key");
    ensure_eq!(
        boot["scopes"].as_array().map(Vec::len),
        Some(clientela::domain::scope::Scope::ALL.len()),
        "the deployment's key holds every scope"
    );
    app.get("/admin/v1/key", Auth::None)
        .await?
        .expect_error(401, "unauthorized")?;
    app.delete(&format!("/admin/v1/keys/{id}"), Auth::Admin)
        .await?
        .expect(200)?;
    app.get("/admin/v1/key", Auth::Bearer(&secret))
        .await?
        .expect_error(401, "unauthorized")?;
    Ok(())
}

/// The workspace is written in English and Brazilian Portuguese: `?lang=` (its language switch)
/// wins, then the browser's language; a Romanian or Russian browser reads English, never a page
/// half in one language.
async fn the_workspace_speaks_portuguese_when_asked_and_english_to_everyone_else(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let page = |path: &'static str, language: &'static str| {
        let app = app.clone();
        async move {
            app.send(
                app.client
                    .get(app.url(path))
                    .header("Accept-Language", language),
                Auth::None,
            )
            .await?
            .expect(200)
            .map(|r| r.text)
        }
    };
    let cases = [
        ("/admin", "pt-BR,pt;q=0.9", "pt-BR", "Entrar"),
        ("/admin", "ro-RO", "en", "Sign in"),
        ("/admin", "ru", "en", "Sign in"),
        ("/admin?lang=pt-BR", "en-US", "pt-BR", "Entrar"),
        ("/admin?lang=en", "pt-BR", "en", "Sign in"),
    ];
    for (path, language, lang, sign_in) in cases {
        let html = page(path, language).await?;
        ensure!(
            html.contains(&format!(r#"<html lang="{lang}">"#)),
            "{path} with {language}: not in {lang}"
        );
        ensure!(
            html.contains(&format!(r#""common.sign_in":"{sign_in}""#)),
            "{path} with {language}: the strings are not {lang}'s"
        );
    }
    Ok(())
}
