//! The consent lifecycle and transparency: consents that lapse after two years without
//! engagement unless renewed from one re-permission email, profiles asked once whether they are
//! still right, objections to profiling honoured by every segment that reads derived data
//! (whether the person switches profiling off or their browser sends Global Privacy Control),
//! and a frequency chosen in the preference center that rules and exports read.
//!
//! Time passes by writing dates (`wrangler d1`), so those stories are serial; the others share
//! the runtime with everyone.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::given::{
    contact, create_form, create_segment, form_body, import, member_emails, put_consent,
    ready_segment, session_for, signed_up_and_confirmed, token_of,
};
use crate::harness::{days_ago, unique_email, Auth, TestApp, TestFn};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        a_gpc_signup_is_left_out_of_a_segment_on_derived_data_and_kept_in_a_country_segment,
        a_person_who_objects_to_profiling_leaves_every_behavioural_segment_whatever_its_operators,
        a_chosen_frequency_is_on_record_in_rules_and_in_exports,
        the_browsers_privacy_signal_objects_with_the_persons_own_act_and_never_overturns_their_choice,
    ]
}

pub fn serial_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        an_imported_consent_given_two_years_ago_is_asked_once_and_the_button_renews_it,
        a_consent_nobody_renews_lapses_at_its_deadline_and_segments_drop_the_person,
        a_profile_nobody_confirmed_for_a_year_is_asked_once_whether_it_is_still_right,
        browser_customer_renews_a_lapsing_consent_and_objects_to_profiling,
    ]
}

const DAILY: &str = "/__scheduled?cron=17+3+*+*+*";

/// How long a daily run's work may take to reach a story's contact: the run walks the whole
/// shared base in small chunks (`CHUNK_ROWS`), one queue message after another, and a segment
/// rebuild queued meanwhile waits its turn.
const DAILY_WORK: Duration = Duration::from_secs(180);

/// A segment ready at `version`, however busy the queue is with a daily run.
async fn ready(app: &TestApp, id: &str, version: i64) -> Result<Value, String> {
    app.eventually(DAILY_WORK, || async {
        let s = app
            .get(&format!("/admin/v1/segments/{id}"), Auth::Admin)
            .await?
            .expect(200)?
            .json();
        Ok((s["state"] == "ready" && s["version"] == version).then_some(s))
    })
    .await
    .map_err(|_| format!("segment {id} not ready at version {version}"))
}

/// Imports `email` with marketing consent given `days` ago on a stated basis.
async fn imported(app: &TestApp, email: &str, days: i64) -> Result<Value, String> {
    let row = json!({"email": email, "name": "Rita", "country": "BR",
        "consents": ["marketing_email"], "consent_basis": "loyalty card form, Recife",
        "consented_at": days_ago(days), "policy_version": "2024-01"});
    let report = import(app, "application/x-ndjson", &format!("{row}\n"))
        .await?
        .expect(200)?
        .json();
    ensure_eq!(report["created"], 1, "import report {report}");
    contact(app, email)
        .await?
        .ok_or_else(|| "not imported".into())
}

async fn daily_run(app: &TestApp) -> Result<(), String> {
    app.get(DAILY, Auth::None).await?.expect(200)?;
    Ok(())
}

use crate::given::mails_of as mails;

/// The first message of `kind` to `to`, once the daily run has written it.
async fn mail_of(app: &TestApp, to: &str, kind: &str) -> Result<Value, String> {
    app.eventually(DAILY_WORK, || async {
        Ok(mails(app, to, kind).await?.into_iter().next())
    })
    .await
    .map_err(|_| format!("no {kind} email to {to}"))
}

fn history(contact: &Value) -> Vec<Value> {
    contact["consent_history"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn decisions(contact: &Value, purpose: &str) -> Vec<(String, String)> {
    history(contact)
        .iter()
        .filter(|e| e["purpose"] == purpose)
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_string(),
                e["method"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn granted(contact: &Value, purpose: &str) -> Option<bool> {
    contact["consents"]
        .as_array()?
        .iter()
        .find(|c| c["purpose"] == purpose)
        .and_then(|c| c["granted"].as_bool())
}

async fn page(app: &TestApp, method: reqwest::Method, path: &str) -> Result<(u16, String), String> {
    let reply = app
        .client
        .request(method, app.url(path))
        .header("Accept-Language", "pt-BR")
        .header("CF-Connecting-IP", app.visitor_ip())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = reply.status().as_u16();
    Ok((status, reply.text().await.map_err(|e| e.to_string())?))
}

/// An imported contact whose consent dates from two years ago gets one re-permission email from
/// the daily run, however many runs there are; the email's page only shows (a scanner opening it
/// changes nothing), and pressing its button renews the consent as a `granted` event by
/// `re_permission` that records the words the page showed. The button works once.
async fn an_imported_consent_given_two_years_ago_is_asked_once_and_the_button_renews_it(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("repermission");
    let before = imported(&app, &email, 731).await?;
    ensure_eq!(
        decisions(&before, "marketing_email").len(),
        1,
        "one import grant"
    );
    for _ in 0..2 {
        daily_run(&app).await?;
        mail_of(&app, &email, "re_permission").await?;
    }
    app.queue_caught_up().await?;
    let sent = mails(&app, &email, "re_permission").await?;
    ensure_eq!(sent.len(), 1, "one re-permission email over two daily runs");
    let message = &sent[0];
    let keep = message["url"]
        .as_str()
        .ok_or("no keep link")?
        .replace(&app.base, "");
    ensure!(
        keep.starts_with("/keep?t=")
            && message["preferences_url"]
                .as_str()
                .is_some_and(|u| u.contains("/me?p="))
            && message["text"].as_str().is_some_and(|t| t.contains(&keep)),
        "the email carries the button's link and the preferences link: {message}"
    );

    // A mail scanner follows the link: nothing changes.
    let (status, html) = page(&app, reqwest::Method::GET, &keep).await?;
    ensure!(
        status == 200 && html.contains("Quero continuar inscrito"),
        "the page shows the button ({status})"
    );
    let after_get = contact(&app, &email).await?.ok_or("gone")?;
    ensure_eq!(
        decisions(&after_get, "marketing_email").len(),
        1,
        "a GET renews nothing"
    );

    let (status, html) = page(&app, reqwest::Method::POST, &keep).await?;
    ensure!(
        status == 200 && html.contains("Obrigado"),
        "pressing the button renews ({status}): {html}"
    );
    let renewed = contact(&app, &email).await?.ok_or("gone")?;
    let last = history(&renewed)
        .into_iter()
        .rfind(|e| e["purpose"] == "marketing_email")
        .ok_or("no history")?;
    ensure!(
        last["action"] == "granted" && last["method"] == "re_permission",
        "renewed as a re_permission grant: {last}"
    );
    let sha = last["notice_text_hash"].as_str().ok_or("no notice hash")?;
    let notice = app
        .get(&format!("/admin/v1/notices/{sha}"), Auth::Admin)
        .await?
        .expect(200)?
        .json();
    ensure!(
        notice["text"]
            .as_str()
            .is_some_and(|t| t.contains("manter este consentimento")),
        "the words the page showed are archived: {notice}"
    );
    let (status, _) = page(&app, reqwest::Method::POST, &keep).await?;
    ensure_eq!(status, 410, "the button works once");

    // Renewed: the next daily runs ask nothing more.
    daily_run(&app).await?;
    app.queue_caught_up().await?;
    ensure_eq!(
        mails(&app, &email, "re_permission").await?.len(),
        1,
        "no second email after the renewal"
    );
    Ok(())
}

/// Nobody presses the button: the consent lapses once its notice has run (not a day before),
/// as a `withdrawn` event by `expired`; the person is unsubscribed and segments drop them.
async fn a_consent_nobody_renews_lapses_at_its_deadline_and_segments_drop_the_person(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("lapse");
    let person = imported(&app, &email, 800).await?;
    let id = person["id"].as_str().ok_or("no id")?.to_string();
    let segment = create_segment(
        &app,
        "lapse watch",
        json!({"all": [{"field": "email", "op": "eq", "value": email}, {"field": "country", "op": "eq", "value": "BR"}]}),
    )
    .await?;
    let seg = segment["id"].as_str().ok_or("no segment id")?.to_string();
    ready(&app, &seg, 1).await?;
    ensure_eq!(
        member_emails(&app, &seg).await?,
        vec![email.clone()],
        "a member before"
    );

    daily_run(&app).await?;
    mail_of(&app, &email, "re_permission").await?;
    // 29 days after the email: still within the notice.
    app.sql(&format!(
        "UPDATE consents SET repermission_sent_at = '{}' WHERE contact_id = '{id}' AND purpose = 'marketing_email'",
        crate::harness::as_stored(&days_ago(29))
    ))?;
    daily_run(&app).await?;
    app.queue_caught_up().await?;
    let waiting = contact(&app, &email).await?.ok_or("gone")?;
    ensure_eq!(
        granted(&waiting, "marketing_email"),
        Some(true),
        "no lapse before the deadline"
    );
    // 31 days after the email, nobody pressed.
    app.sql(&format!(
        "UPDATE consents SET repermission_sent_at = '{}' WHERE contact_id = '{id}' AND purpose = 'marketing_email'",
        crate::harness::as_stored(&days_ago(31))
    ))?;
    daily_run(&app).await?;
    let lapsed = app
        .eventually(DAILY_WORK, || async {
            let c = contact(&app, &email).await?.ok_or("gone")?;
            Ok((granted(&c, "marketing_email") == Some(false)).then_some(c))
        })
        .await
        .map_err(|_| "the consent did not lapse".to_string())?;
    ensure_eq!(
        decisions(&lapsed, "marketing_email").last().cloned(),
        Some(("withdrawn".to_string(), "expired".to_string())),
        "a lapse is a withdrawal by expiry"
    );
    ensure_eq!(lapsed["status"], "unsubscribed", "no more marketing email");
    app.eventually(DAILY_WORK, || async {
        Ok(member_emails(&app, &seg).await?.is_empty().then_some(()))
    })
    .await
    .map_err(|_| "the segment kept a lapsed consent".to_string())?;
    Ok(())
}

/// A profile last confirmed 13 months ago gets one "is this still right?" email, linking to the
/// preference page (not a 30-minute sign-in link); saying it is still right resets the clock,
/// shows in `/v1/me` and in rules on `data_confirmed_at`.
async fn a_profile_nobody_confirmed_for_a_year_is_asked_once_whether_it_is_still_right(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("fresh");
    let form = create_form(&app, &form_body(true)).await?;
    signed_up_and_confirmed(&app, &form, &email).await?;
    let id = contact(&app, &email).await?.ok_or("no contact")?["id"]
        .as_str()
        .ok_or("no id")?
        .to_string();
    let stale = crate::harness::as_stored(&days_ago(400));
    app.sql(&format!(
        "UPDATE contacts SET data_confirmed_at = '{stale}' WHERE id = '{id}'"
    ))?;
    let rule = json!({"all": [{"field": "email", "op": "eq", "value": email},
        {"field": "data_confirmed_at", "op": "not_within_days", "value": 365}]});
    let seg = create_segment(&app, "stale profiles", rule).await?;
    let seg = seg["id"].as_str().ok_or("no segment id")?.to_string();
    ready(&app, &seg, 1).await?;
    ensure_eq!(
        member_emails(&app, &seg).await?,
        vec![email.clone()],
        "a stale profile"
    );

    for _ in 0..2 {
        daily_run(&app).await?;
        mail_of(&app, &email, "update_request").await?;
    }
    app.queue_caught_up().await?;
    let asked = mails(&app, &email, "update_request").await?;
    ensure_eq!(asked.len(), 1, "one freshness email over two daily runs");
    ensure!(
        asked[0]["url"]
            .as_str()
            .is_some_and(|u| u.contains("/me?p=")),
        "it links to the preference page: {}",
        asked[0]
    );

    let session = session_for(&app, &email).await?;
    let confirmed = app
        .send(
            app.client.post(app.url("/v1/me/data-confirmed")),
            Auth::Bearer(&session),
        )
        .await?
        .expect(200)?
        .json();
    let me = app
        .get("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?
        .json();
    ensure!(
        me["data_confirmed_at"] == confirmed["data_confirmed_at"]
            && me["data_confirmed_at"]
                .as_str()
                .is_some_and(|d| d > stale.as_str()),
        "/v1/me shows the new confirmation: {me}"
    );
    // The rule follows once the segment is rebuilt (a new version of the same rule).
    app.send(
        app.client
            .put(app.url(&format!("/admin/v1/segments/{seg}")))
            .json(&json!({"name": "stale profiles", "rule": {"all": [{"field": "email", "op": "eq", "value": email},
                {"field": "data_confirmed_at", "op": "not_within_days", "value": 365}]}})),
        Auth::Admin,
    )
    .await?
    .expect(200)?;
    ready(&app, &seg, 2).await?;
    ensure!(
        member_emails(&app, &seg).await?.is_empty(),
        "a confirmed profile is not stale"
    );
    // Stale again a year later: a new request (one per stale spell, not one for ever).
    app.sql(&format!(
        "UPDATE contacts SET data_confirmed_at = '{stale}' WHERE id = '{id}'"
    ))?;
    daily_run(&app).await?;
    app.eventually(DAILY_WORK, || async {
        Ok((mails(&app, &email, "update_request").await?.len() == 2).then_some(()))
    })
    .await
    .map_err(|_| "no request for the new stale spell".to_string())?;
    Ok(())
}

/// A double opt-in signup sent with `Sec-GPC: 1` records an objection to profiling when its
/// owner confirms (method `gpc`); they are left out of a segment on RFM scores, even one that
/// asks for the *absence* of a score, and kept in a country segment. Someone else posting the
/// form about a confirmed address with the signal changes nothing for its owner.
async fn a_gpc_signup_is_left_out_of_a_segment_on_derived_data_and_kept_in_a_country_segment(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let [gpc, plain] = ["gpc", "plain"].map(|t| unique_email(&format!("gpc-{t}")));
    let form = create_form(&app, &form_body(true)).await?;
    let body = |email: &str| {
        json!({"fields": {"email": email, "name": "Gil", "country": "pt"},
               "consents": {"marketing_email": true}})
    };
    let send = |email: String, signal: bool| {
        let app = app.clone();
        let form = form.clone();
        let body = body(&email);
        async move {
            let mut builder = app
                .client
                .post(app.url(&format!("/v1/forms/{form}/submissions")))
                .header("Origin", crate::given::SHOP)
                .header("CF-Connecting-IP", app.visitor_ip())
                .json(&body);
            if signal {
                builder = builder.header("Sec-GPC", "1");
            }
            app.send(builder, Auth::None).await
        }
    };
    for (email, signal) in [(&gpc, true), (&plain, false)] {
        send(email.clone(), signal).await?.expect(202)?;
        let message = app
            .eventually(Duration::from_secs(10), || async {
                Ok(crate::given::confirm_messages(&app, email)
                    .await?
                    .into_iter()
                    .next())
            })
            .await?;
        let token = token_of(&message)?;
        app.post_json("/v1/confirm", &json!({"token": token}), Auth::None)
            .await?
            .expect(200)?;
    }
    let objector = contact(&app, &gpc).await?.ok_or("no gpc contact")?;
    ensure_eq!(
        decisions(&objector, "profiling"),
        vec![("withdrawn".to_string(), "gpc".to_string())],
        "the signal is recorded as an objection when the owner confirms"
    );
    ensure_eq!(
        decisions(
            &contact(&app, &plain).await?.ok_or("no plain contact")?,
            "profiling"
        ),
        Vec::<(String, String)>::new(),
        "no signal, no record"
    );

    let ours = json!({"field": "email", "op": "in", "value": [gpc, plain]});
    let rfm = create_segment(
        &app,
        "not yet champions",
        json!({"all": [ours, {"not": {"field": "rfm_segment", "op": "eq", "value": "champions"}}]}),
    )
    .await?;
    let country = create_segment(
        &app,
        "Portugal",
        json!({"all": [ours, {"field": "country", "op": "eq", "value": "PT"}]}),
    )
    .await?;
    let [rfm, country] = [rfm, country].map(|s| s["id"].as_str().unwrap_or_default().to_string());
    ready_segment(&app, &rfm, 1).await?;
    ready_segment(&app, &country, 1).await?;
    ensure_eq!(
        member_emails(&app, &rfm).await?,
        vec![plain.clone()],
        "the objector is out of the RFM segment"
    );
    let mut in_country = member_emails(&app, &country).await?;
    in_country.sort();
    let mut both = vec![gpc.clone(), plain.clone()];
    both.sort();
    ensure_eq!(in_country, both, "both are in the country segment");

    // Someone posts the form about the confirmed plain address with the signal: its owner has
    // not acted, so nothing is recorded (the change waits for a confirmation nobody clicks).
    send(plain.clone(), true).await?.expect(202)?;
    app.queue_caught_up().await?;
    ensure_eq!(
        decisions(&contact(&app, &plain).await?.ok_or("gone")?, "profiling"),
        Vec::<(String, String)>::new(),
        "an anonymous post changes nothing"
    );
    Ok(())
}

/// Switching profiling off in the preference center takes the person out of segments on order
/// facts, survey scores and temperature, under `not` and `any` too, and keeps them in segments on
/// declared data; switching it back on brings them back.
async fn a_person_who_objects_to_profiling_leaves_every_behavioural_segment_whatever_its_operators(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("object");
    let form = create_form(&app, &form_body(true)).await?;
    signed_up_and_confirmed(&app, &form, &email).await?;
    let me = json!({"field": "email", "op": "eq", "value": email});
    let rules = [
        (
            "never ordered",
            json!({"all": [me, {"not": {"field": "order_count", "op": "gte", "value": 1}}]}),
            true,
        ),
        // True of everyone who has not objected: any temperature, or an NPS.
        (
            "any temperature or an NPS",
            json!({"all": [me, {"any": [{"field": "temperature", "op": "in", "value": ["cold", "warm", "hot"]}, {"field": "last_nps", "op": "exists", "value": true}]}]}),
            true,
        ),
        (
            "Brazil",
            json!({"all": [me, {"field": "country", "op": "eq", "value": "BR"}]}),
            false,
        ),
    ];
    let mut ids = Vec::new();
    for (name, rule, _) in &rules {
        let s = create_segment(&app, name, rule.clone()).await?;
        let id = s["id"].as_str().ok_or("no id")?.to_string();
        ready_segment(&app, &id, 1).await?;
        ensure_eq!(
            member_emails(&app, &id).await?,
            vec![email.clone()],
            "{name} before"
        );
        ids.push(id);
    }
    let session = session_for(&app, &email).await?;
    let doc = app
        .get("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?
        .json();
    let profiling = doc["consents"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["purpose"] == "profiling").cloned())
        .ok_or("the preference center offers profiling")?;
    ensure!(
        profiling["granted"] == true && profiling["basis"] == "legitimate_interest",
        "profiling is on by default, on legitimate interest: {profiling}"
    );
    put_consent(&app, &session, "profiling", false)
        .await?
        .expect(200)?;
    for ((name, _, behavioural), id) in rules.iter().zip(&ids) {
        let want: Vec<String> = if *behavioural {
            vec![]
        } else {
            vec![email.clone()]
        };
        app.eventually(Duration::from_secs(30), || async {
            Ok((member_emails(&app, id).await? == want).then_some(()))
        })
        .await
        .map_err(|_| format!("{name}: after the objection members should be {want:?}"))?;
    }
    put_consent(&app, &session, "profiling", true)
        .await?
        .expect(200)?;
    for ((name, _, _), id) in rules.iter().zip(&ids) {
        app.eventually(Duration::from_secs(30), || async {
            Ok((member_emails(&app, id).await? == vec![email.clone()]).then_some(()))
        })
        .await
        .map_err(|_| format!("{name}: back after switching profiling on"))?;
    }
    Ok(())
}

/// A person chooses "at most once a week" for marketing email: the decision is on record with
/// its frequency, `/v1/me` shows it, a rule on `frequency.marketing_email` finds them and the
/// export's `frequency` column carries it. A frequency a purpose does not offer is refused.
async fn a_chosen_frequency_is_on_record_in_rules_and_in_exports(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("weekly");
    let form = create_form(&app, &form_body(true)).await?;
    signed_up_and_confirmed(&app, &form, &email).await?;
    let session = session_for(&app, &email).await?;
    let choose = |purpose: &'static str, body: Value| {
        let app = app.clone();
        let session = session.clone();
        async move {
            app.send(
                app.client
                    .put(app.url(&format!("/v1/me/consents/{purpose}")))
                    .json(&body),
                Auth::Bearer(&session),
            )
            .await
        }
    };
    choose("profiling", json!({"granted": true, "frequency": "weekly"}))
        .await?
        .expect_error(400, "validation_failed")?;
    choose(
        "marketing_email",
        json!({"granted": false, "frequency": "weekly"}),
    )
    .await?
    .expect_error(400, "validation_failed")?;
    choose(
        "marketing_email",
        json!({"granted": true, "frequency": "daily"}),
    )
    .await?
    .expect_error(400, "validation_failed")?;
    let chosen = choose(
        "marketing_email",
        json!({"granted": true, "frequency": "weekly"}),
    )
    .await?
    .expect(200)?
    .json();
    ensure_eq!(chosen["frequency"], "weekly", "answer {chosen}");
    let doc = app
        .get("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?
        .json();
    let marketing = doc["consents"]
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|c| c["purpose"] == "marketing_email")
                .cloned()
        })
        .ok_or("no marketing consent")?;
    ensure!(
        marketing["frequency"] == "weekly"
            && marketing["frequencies"] == json!(["all", "weekly", "monthly"])
            && marketing["lapses_at"].as_str().is_some(),
        "the preference center shows the choice and when it would lapse: {marketing}"
    );
    let c = contact(&app, &email).await?.ok_or("gone")?;
    ensure!(
        history(&c)
            .iter()
            .any(|e| e["purpose"] == "marketing_email" && e["frequency"] == "weekly"),
        "the decision keeps its frequency: {c}"
    );
    let rule = json!({"all": [{"field": "email", "op": "eq", "value": email},
        {"field": "frequency.marketing_email", "op": "eq", "value": "weekly"}]});
    let seg = create_segment(&app, "weekly readers", rule).await?;
    let seg = seg["id"].as_str().ok_or("no id")?.to_string();
    ready_segment(&app, &seg, 1).await?;
    let csv = crate::given::export(&app, &seg, "?columns=email,frequency")
        .await?
        .expect(200)?;
    ensure!(
        csv.text.lines().any(|l| l == format!("{email},weekly")),
        "the export carries the frequency: {}",
        csv.text
    );
    Ok(())
}

/// In Chromium: the re-permission email's page renews with its one button, and the preference
/// page's profiling switch (on by default) records an objection; a frequency is chosen there.
/// Serial: the daily run writes the email.
async fn browser_customer_renews_a_lapsing_consent_and_objects_to_profiling(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("browser-lifecycle");
    imported(&app, &email, 740).await?;
    daily_run(&app).await?;
    let message = mail_of(&app, &email, "re_permission").await?;
    let keep = message["url"].as_str().ok_or("no keep link")?.to_string();
    let prefs = message["preferences_url"]
        .as_str()
        .ok_or("no preferences link")?
        .to_string();
    crate::browser::run_script_with(
        app,
        "lifecycle.mjs",
        &[
            ("KEEP_URL", &keep),
            ("PREFS_URL", &prefs),
            ("EMAIL", &email),
        ],
    )
    .await
}

/// `Sec-GPC: 1` on the preference page: reading the page records nothing (opening it is not yet
/// the person's act); a choice made there records the objection to profiling, by `gpc`; and a
/// person who decided on profiling themselves keeps their decision whatever the browser says.
async fn the_browsers_privacy_signal_objects_with_the_persons_own_act_and_never_overturns_their_choice(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let [silent, chose] = ["silent", "chose"].map(|t| unique_email(&format!("gpc-page-{t}")));
    let form = create_form(&app, &form_body(true)).await?;
    let with_signal = |session: String, purpose: &'static str, body: Value| {
        let app = app.clone();
        async move {
            app.send(
                app.client
                    .put(app.url(&format!("/v1/me/consents/{purpose}")))
                    .header("Sec-GPC", "1")
                    .json(&body),
                Auth::Bearer(&session),
            )
            .await
        }
    };
    signed_up_and_confirmed(&app, &form, &silent).await?;
    let session = session_for(&app, &silent).await?;
    app.send(
        app.client.get(app.url("/v1/me")).header("Sec-GPC", "1"),
        Auth::Bearer(&session),
    )
    .await?
    .expect(200)?;
    ensure_eq!(
        decisions(&contact(&app, &silent).await?.ok_or("gone")?, "profiling"),
        Vec::<(String, String)>::new(),
        "reading the page is not an objection"
    );
    with_signal(
        session,
        "marketing_email",
        json!({"granted": true, "frequency": "monthly"}),
    )
    .await?
    .expect(200)?;
    ensure_eq!(
        decisions(&contact(&app, &silent).await?.ok_or("gone")?, "profiling"),
        vec![("withdrawn".to_string(), "gpc".to_string())],
        "a choice made with the signal carries the objection"
    );

    signed_up_and_confirmed(&app, &form, &chose).await?;
    let session = session_for(&app, &chose).await?;
    put_consent(&app, &session, "profiling", true)
        .await?
        .expect(200)?;
    with_signal(session, "marketing_email", json!({"granted": true}))
        .await?
        .expect(200)?;
    ensure_eq!(
        decisions(&contact(&app, &chose).await?.ok_or("gone")?, "profiling"),
        vec![("granted".to_string(), "self_service".to_string())],
        "the person's own decision stands"
    );
    Ok(())
}
