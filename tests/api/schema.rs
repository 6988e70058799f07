//! The whole published contract under generated input: Schemathesis reads the runtime's own
//! `/openapi.json`, sends valid and invalid requests to every operation, and fails on any 5xx
//! or any answer the document does not describe.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use crate::ensure;
use crate::given::{external_id, order, send_orders, session_for};
use crate::harness::{unique_email, TestApp, TestFn};

/// Runs after every other test: the run creates forms, keys, segments and contacts at random,
/// and its requests would otherwise count against limits other tests rely on.
pub fn last_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![every_documented_operation_survives_generated_input]
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn every_documented_operation_survives_generated_input(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let bin = root().join(".tools/venv/bin/schemathesis");
    ensure!(
        bin.exists(),
        "{} missing: run `make test`, which installs it",
        bin.display()
    );
    // Buyers known from an order can sign in, so the self-service operations run with live
    // sessions instead of stopping at 401: one for reading and changing, one of its own for
    // `DELETE /v1/me`, which erases its person at its first success, and one for
    // `POST /v1/me/sign-out-everywhere`, which ends every session of its person.
    let session = buyer_session(&app, "schemathesis").await?;
    let erase_session = buyer_session(&app, "schemathesis-erase").await?;
    let signout_session = buyer_session(&app, "schemathesis-signout").await?;

    let schema_url = app.url("/openapi.json");
    let config = root().join("tests/api/schemathesis.toml");
    let admin_key = app.admin_key.clone();
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        // Schemathesis may leave caches in its working directory: not in the source tree.
        Command::new(bin)
            .current_dir(root().join("target"))
            .env("CLIENTELA_ADMIN_KEY", admin_key)
            .env("CLIENTELA_SESSION", session)
            .env("CLIENTELA_ERASE_SESSION", erase_session)
            .env("CLIENTELA_SIGNOUT_SESSION", signout_session)
            .env("NO_COLOR", "1")
            .arg("--config-file")
            .arg(config)
            .args(["run", &schema_url, "--no-color"])
            .output()
    })
    .await
    .map_err(|e| format!("schemathesis did not finish: {e}"))?
    .map_err(|e| format!("cannot run schemathesis: {e}"))?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!(
        "schemathesis finished in {:.0}s\n{}",
        started.elapsed().as_secs_f32(),
        summary(&report)
    );
    ensure!(
        output.status.success(),
        "schemathesis found problems ({}):\n{report}",
        output.status
    );
    Ok(())
}

async fn buyer_session(app: &TestApp, tag: &str) -> Result<String, String> {
    let email = unique_email(tag);
    let placed = order(
        &external_id(tag),
        &email,
        "10.00",
        &crate::harness::days_ago(330),
    );
    send_orders(app, vec![placed]).await?;
    session_for(app, &email).await
}

/// The closing lines of the report (operations, test cases, checks), for the passing log.
fn summary(report: &str) -> String {
    let lines: Vec<&str> = report.lines().collect();
    let from = lines
        .iter()
        .rposition(|l| l.contains("SUMMARY"))
        .unwrap_or(lines.len().saturating_sub(20));
    lines[from..].join("\n")
}
