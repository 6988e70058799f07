//! Integration tests over HTTP against the real Workers runtime (`wrangler dev`), local D1 and
//! Queue. Run with `make test` (or `cargo test --test api -- <filter>` after `make build`).

mod given;
mod harness;
mod webhook;

mod admin_keys;
mod backups;
mod backups_worker;
mod browser;
mod daily;
mod events;
mod exports;
mod import;
mod lifecycle;
mod lifetimes;
mod limits;
mod marketer_forms_surveys;
mod marketer_view;
mod me;
mod migrations;
mod orders;
mod outbox;
mod platform;
mod queue_faults;
mod requests;
mod schema;
mod scopes;
mod segments;
mod signup;
mod surveys;
mod trust;
mod why;

use webhook::Webhook;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let passed = runtime.block_on(async {
        let hook = Webhook::start().await;
        let (wrangler, app) = harness::start(hook).await;
        let mut all = Vec::new();
        all.extend(platform::tests());
        all.extend(admin_keys::tests());
        all.extend(scopes::tests());
        all.extend(outbox::tests());
        all.extend(signup::tests());
        all.extend(me::tests());
        all.extend(migrations::tests());
        all.extend(import::tests());
        all.extend(orders::tests());
        all.extend(surveys::tests());
        all.extend(segments::tests());
        all.extend(trust::tests());
        all.extend(events::tests());
        all.extend(lifecycle::tests());
        all.extend(requests::tests());
        all.extend(browser::tests());
        all.extend(marketer_forms_surveys::tests());
        all.extend(why::tests());
        all.extend(marketer_view::tests());
        all.extend(backups_worker::tests());
        let mut serial = Vec::new();
        serial.extend(outbox::serial_tests());
        serial.extend(signup::serial_tests());
        serial.extend(me::serial_tests());
        serial.extend(lifetimes::serial_tests());
        serial.extend(surveys::serial_tests());
        serial.extend(segments::serial_tests());
        serial.extend(trust::serial_tests());
        serial.extend(queue_faults::serial_tests());
        serial.extend(limits::serial_tests());
        serial.extend(exports::serial_tests());
        serial.extend(daily::serial_tests());
        serial.extend(lifecycle::serial_tests());
        serial.extend(marketer_view::serial_tests());
        serial.extend(backups::serial_tests());
        serial.extend(backups_worker::serial_tests());
        let last = schema::last_tests();
        let passed = harness::run(app, all, serial, last, &wrangler.log).await;
        drop(wrangler);
        passed
    });
    std::process::exit(if passed { 0 } else { 1 });
}
