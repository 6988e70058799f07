//! The scope matrix: every admin operation, read from the live `/openapi.json` (which a unit test
//! holds equal to the route table), refuses a key holding every scope but the one it needs, and
//! admits a key holding only that one. A new admin route joins the matrix by being served.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use clientela::router::{Access, ROUTES};
use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::harness::{Auth, Reply, TestApp, TestFn};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![every_admin_operation_refuses_a_key_lacking_only_its_scope]
}

/// One documented operation and the scopes its `security` names: any one of them admits.
struct Operation {
    method: String,
    path: String,
    scopes: Vec<String>,
    /// The first media type of its request body, if it takes one.
    body_type: Option<String>,
}

fn admin_operations(doc: &Value) -> Result<Vec<Operation>, String> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().ok_or("no paths")? {
        for (method, op) in item.as_object().ok_or("path item not an object")? {
            let scopes: Vec<String> = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|requirement| requirement["apiKey"].as_array())
                .flat_map(|names| names.iter().filter_map(Value::as_str))
                .map(str::to_string)
                .collect();
            if !path.starts_with("/admin/v1/") {
                ensure!(
                    scopes.is_empty(),
                    "{method} {path} is not an admin route but asks for an API key"
                );
                continue;
            }
            ensure!(
                !scopes.is_empty(),
                "{} {path} declares no scope in `security`",
                method.to_uppercase()
            );
            let body_type = op["requestBody"]["content"]
                .as_object()
                .and_then(|c| c.keys().next().cloned());
            found.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                scopes,
                body_type,
            });
        }
    }
    Ok(found)
}

/// Calls `op` with placeholder path parameters and a minimal body: enough to get past routing,
/// never enough to change anything.
async fn call(app: &TestApp, op: &Operation, key: &str) -> Result<Reply, String> {
    let path: String = op
        .path
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                // 64 hex digits: a well-formed id or notice hash that names nothing.
                "0".repeat(64)
            } else {
                segment.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let method = reqwest::Method::from_bytes(op.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut builder = app.client.request(method, app.url(&path));
    if let Some(media) = &op.body_type {
        let body = if media == "application/json" {
            "{}"
        } else {
            ""
        };
        builder = builder.header("Content-Type", media).body(body);
    }
    app.send(builder, Auth::Bearer(key)).await
}

async fn key_with(app: &TestApp, scopes: &BTreeSet<String>) -> Result<String, String> {
    let created = app
        .post_json(
            "/admin/v1/keys",
            &json!({"name": "scope matrix", "scopes": scopes}),
            Auth::Admin,
        )
        .await?
        .expect(201)?
        .json();
    created["key"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no key in {created}"))
}

/// Admin operations any key may call: the key's description of itself (the workspace asks it
/// which views to lock), which tells the key nothing about any other.
const OPEN_TO_ANY_KEY: &[(&str, &str)] = &[("GET", "/admin/v1/key")];

async fn every_admin_operation_refuses_a_key_lacking_only_its_scope(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let doc = app
        .get("/openapi.json", Auth::None)
        .await?
        .expect(200)?
        .json();
    let every: BTreeSet<String> = doc["components"]["schemas"]["Scope"]["enum"]
        .as_array()
        .ok_or("no Scope enum")?
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let operations = admin_operations(&doc)?;

    // The served document covers every admin row of the route table, with the same scopes.
    let documented: BTreeSet<(String, String, Vec<String>)> = operations
        .iter()
        .map(|o| (o.method.clone(), o.path.clone(), o.scopes.clone()))
        .collect();
    let table: BTreeSet<(String, String, Vec<String>)> = ROUTES
        .iter()
        .filter_map(|r| match r.access {
            Access::Admin(scopes) => Some((
                r.method.to_string(),
                r.path.to_string(),
                scopes.iter().map(|s| s.as_str().to_string()).collect(),
            )),
            _ => None,
        })
        .collect();
    ensure_eq!(
        documented,
        table,
        "the document's admin operations differ from the route table:\n{documented:?}\n{table:?}"
    );
    ensure!(
        operations.len() >= 30,
        "only {} admin operations",
        operations.len()
    );

    let mut keys: BTreeMap<BTreeSet<String>, String> = BTreeMap::new();
    let mut failures = Vec::new();
    for op in &operations {
        let needed: BTreeSet<String> = op.scopes.iter().cloned().collect();
        let lacking: BTreeSet<String> = every.difference(&needed).cloned().collect();
        // Only the key's description of itself is open to any key; anything else that every
        // scope admits would be a route somebody forgot to scope.
        if lacking.is_empty() {
            ensure!(
                OPEN_TO_ANY_KEY.contains(&(op.method.as_str(), op.path.as_str())),
                "{} {} needs every scope",
                op.method,
                op.path
            );
        } else {
            if !keys.contains_key(&lacking) {
                let key = key_with(&app, &lacking).await?;
                keys.insert(lacking.clone(), key);
            }
            let refused = call(&app, op, &keys[&lacking]).await?;
            let error = refused.json()["error"].clone();
            let names_a_needed_scope = error["message"]
                .as_str()
                .is_some_and(|m| op.scopes.iter().any(|s| m.contains(&format!("'{s}'"))));
            if refused.status != 403 || error["code"] != "missing_scope" || !names_a_needed_scope {
                failures.push(format!(
                    "{} {} with every scope but {:?}: {} {}",
                    op.method, op.path, op.scopes, refused.status, refused.text
                ));
            }
        }
        // Each scope that admits it admits it alone: the refusal above was the scope's doing.
        for scope in &op.scopes {
            let only: BTreeSet<String> = [scope.clone()].into();
            if !keys.contains_key(&only) {
                let key = key_with(&app, &only).await?;
                keys.insert(only.clone(), key);
            }
            let admitted = call(&app, op, &keys[&only]).await?;
            if matches!(admitted.status, 401 | 403) {
                failures.push(format!(
                    "{} {} with only '{scope}': {} {}",
                    op.method, op.path, admitted.status, admitted.text
                ));
            }
        }
    }
    ensure!(
        failures.is_empty(),
        "{} of {} admin operations break the scope matrix:\n{}",
        failures.len(),
        operations.len(),
        failures.join("\n")
    );
    Ok(())
}
