//! Satisfaction surveys: a buyer answers once from their invitation link, the answer feeds their
//! facts and the marketer's results; every bad answer is refused with the question named.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::given::{
    answer, contact, create_survey, external_id, invitation_token, invite, order, send_orders,
    survey_body,
};
use crate::harness::{unique_email, Auth, TestApp, TestFn};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        buyer_answers_a_survey_about_their_order_and_results_follow,
        bad_answers_are_refused_with_the_question_named,
        twenty_simultaneous_answers_on_one_link_record_one,
        results_aggregate_nps_csat_ces_and_choices,
        survey_definitions_are_validated,
        inviting_200_buyers_fits_the_free_plans_query_budget,
    ]
}

/// Tests that move time by writing the local D1 directly (see `harness::run`).
pub fn serial_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        forged_and_expired_survey_links_are_refused,
        survey_results_over_thousands_of_responses_fit_one_invocation,
        a_survey_reminder_goes_once_to_whoever_has_not_answered_or_objected,
    ]
}

async fn results(app: &TestApp, survey: &str) -> Result<Value, String> {
    Ok(app
        .get(&format!("/admin/v1/surveys/{survey}/results"), Auth::Admin)
        .await?
        .expect(200)?
        .json())
}

async fn buyer_answers_a_survey_about_their_order_and_results_follow(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("survey-buyer");
    let order_no = external_id("survey-order");
    send_orders(
        &app,
        vec![order(
            &order_no,
            &email,
            "89.90",
            &crate::harness::days_ago(10),
        )],
    )
    .await?;
    let survey = create_survey(&app).await?;
    let links = invite(
        &app,
        &survey,
        json!([{"email": email, "order_id": order_no}]),
        true,
    )
    .await?;
    let token = invitation_token(&links[0])?;

    let mail = app
        .eventually(Duration::from_secs(10), || async {
            let outbox = app
                .get(&format!("/admin/v1/outbox?to={email}"), Auth::Admin)
                .await?
                .expect(200)?
                .json();
            Ok::<_, String>(
                outbox["messages"]
                    .as_array()
                    .and_then(|m| m.iter().find(|x| x["kind"] == "survey_invitation").cloned()),
            )
        })
        .await?;
    ensure!(
        mail["url"] == links[0]["url"]
            && mail["unsubscribe_url"]
                .as_str()
                .is_some_and(|u| u.contains("/unsubscribe?t="))
            && mail["preferences_url"]
                .as_str()
                .is_some_and(|u| u.contains("/me?p=")),
        "invitation email {mail}"
    );

    let page = app
        .client
        .get(app.url(&format!("/s/{token}")))
        .header("Accept-Language", "ro-RO,ro;q=0.9")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    ensure_eq!(page.status(), 200, "page status {}", page.status());
    let html = page.text().await.map_err(|e| e.to_string())?;
    ensure!(
        html.contains(r#"lang="ro""#) && html.contains("survey-data") && html.contains(&token),
        "page is not the Romanian survey"
    );

    answer(&app, &token, json!({"nps": 9, "csat": 4, "channel": "web", "liked": ["speed", "price"], "why": "Rápido!"}))
        .await?
        .expect(201)?;
    let buyer = contact(&app, &email).await?.ok_or("buyer gone")?;
    ensure!(
        buyer["stats"]["last_nps"] == 9
            && buyer["stats"]["nps_category"] == "promoter"
            && buyer["stats"]["avg_csat"] == 4.0
            && buyer["stats"]["order_count"] == 1,
        "stats {}",
        buyer["stats"]
    );
    let r = results(&app, &survey).await?;
    ensure!(
        r["invited"] == 1
            && r["responses"] == 1
            && r["response_rate"] == 1.0
            && r["nps"] == json!({"score": 100.0, "promoters": 1, "passives": 0, "detractors": 0})
            && r["csat"]["average"] == 4.0,
        "results {r}"
    );

    answer(&app, &token, json!({"nps": 3}))
        .await?
        .expect_error(409, "already_answered")?;
    let again = app
        .client
        .get(app.url(&format!("/s/{token}")))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    ensure_eq!(
        again.status(),
        409,
        "answered page status {}",
        again.status()
    );
    let after = contact(&app, &email).await?.ok_or("buyer gone")?;
    ensure_eq!(
        after["stats"]["last_nps"],
        9,
        "a refused answer moved the stats"
    );
    Ok(())
}

async fn bad_answers_are_refused_with_the_question_named(app: Arc<TestApp>) -> Result<(), String> {
    let survey = create_survey(&app).await?;
    let links = invite(
        &app,
        &survey,
        json!([{"email": unique_email("bad-answers")}]),
        false,
    )
    .await?;
    let token = invitation_token(&links[0])?;
    let cases = [
        (json!({"nps": 11}), "answers.nps"),
        (json!({"nps": -1}), "answers.nps"),
        (json!({"nps": "9"}), "answers.nps"),
        (json!({"nps": 9.5}), "answers.nps"),
        (json!({"nps": 1e300}), "answers.nps"),
        (json!({"nps": 18446744073709551615u64}), "answers.nps"),
        (json!({"nps": true}), "answers.nps"),
        (json!({"csat": 5}), "answers.nps"),
        (json!({"nps": 8, "csat": 0}), "answers.csat"),
        (json!({"nps": 8, "ces": 8}), "answers.ces"),
        (json!({"nps": 8, "channel": "phone"}), "answers.channel"),
        (
            json!({"nps": 8, "liked": ["price", "price"]}),
            "answers.liked",
        ),
        (json!({"nps": 8, "why": "x".repeat(501)}), "answers.why"),
        (json!({"nps": 8, "colour": "blue"}), "answers.colour"),
    ];
    for (answers, field) in cases {
        let reply = answer(&app, &token, answers.clone())
            .await?
            .expect_error(400, "validation_failed")?;
        ensure!(
            reply.json()["error"]["fields"].get(field).is_some(),
            "{answers} did not name {field}: {}",
            reply.text
        );
    }
    // Not JSON numbers at all: NaN and Infinity are not JSON, and the body is refused whole.
    for raw in [
        format!(r#"{{"token":"{token}","answers":{{"nps":NaN}}}}"#),
        format!(r#"{{"token":"{token}","answers":{{"nps":1e400}}}}"#),
    ] {
        let reply = app
            .post_raw(
                "/v1/surveys/responses",
                "application/json",
                raw.into_bytes(),
                Auth::None,
            )
            .await?;
        ensure_eq!(
            reply.status,
            400,
            "non-JSON number answered {}",
            reply.status
        );
    }
    app.post_json(
        "/v1/surveys/responses",
        &json!({"token": token}),
        Auth::None,
    )
    .await?
    .expect(400)?;
    ensure_eq!(
        results(&app, &survey).await?["responses"],
        0,
        "a refused answer was stored"
    );
    // Nothing was used up: the right answer still goes through.
    answer(&app, &token, json!({"nps": 8})).await?.expect(201)?;
    Ok(())
}

async fn twenty_simultaneous_answers_on_one_link_record_one(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let survey = create_survey(&app).await?;
    let email = unique_email("race");
    let links = invite(&app, &survey, json!([{"email": email}]), false).await?;
    let token = invitation_token(&links[0])?;
    // Each tap carries other scores, so the person's stats show whose answer they took.
    let attempts = (0..20).map(|i| {
        let app = app.clone();
        let token = token.clone();
        async move { answer(&app, &token, json!({"nps": i % 11, "csat": i % 5 + 1})).await }
    });
    let replies = futures::future::join_all(attempts).await;
    let mut statuses = Vec::new();
    for reply in replies {
        statuses.push(reply?.status);
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    ensure!(created == 1 && conflicts == 19, "statuses {statuses:?}");
    let winner = statuses.iter().position(|s| *s == 201).unwrap_or(0);
    let r = results(&app, &survey).await?;
    ensure_eq!(r["responses"], 1, "more than one response stored: {r}");
    let stats = app
        .eventually(Duration::from_secs(10), || async {
            let c = contact(&app, &email).await?.ok_or("no contact")?;
            Ok(c["stats"]["csat_count"]
                .as_i64()
                .is_some_and(|n| n > 0)
                .then(|| c["stats"].clone()))
        })
        .await?;
    ensure!(
        stats["last_nps"] == winner % 11
            && stats["csat_count"] == 1
            && stats["avg_csat"].as_f64() == Some((winner % 5 + 1) as f64),
        "the person's scores are not the recorded answer's (tap {winner}): {stats}"
    );
    Ok(())
}

async fn results_aggregate_nps_csat_ces_and_choices(app: Arc<TestApp>) -> Result<(), String> {
    let survey = create_survey(&app).await?;
    let people: Vec<Value> = (0..5)
        .map(|i| json!({"email": unique_email(&format!("agg{i}"))}))
        .collect();
    let links = invite(&app, &survey, Value::Array(people), false).await?;
    let answers = [
        json!({"nps": 10, "csat": 5, "ces": 2, "channel": "web", "liked": ["price"]}),
        json!({"nps": 9, "csat": 4, "ces": 1, "channel": "web", "why": "=HYPERLINK(\"http://evil\")"}),
        json!({"nps": 7, "csat": 2, "channel": "store", "liked": ["price", "speed"]}),
        json!({"nps": 3, "ces": 6, "why": "Slow\ndelivery"}),
    ];
    for (link, a) in links.iter().zip(answers) {
        answer(&app, &invitation_token(link)?, a)
            .await?
            .expect(201)?;
    }
    let r = results(&app, &survey).await?;
    ensure!(
        r["invited"] == 5
            && r["responses"] == 4
            && r["response_rate"] == 0.8
            && r["nps"] == json!({"score": 25.0, "promoters": 2, "passives": 1, "detractors": 1})
            && r["csat"] == json!({"average": 3.67, "satisfied_pct": 66.7})
            && r["ces"] == json!({"average": 3.0}),
        "results {r}"
    );
    // What the charts draw: each score's count over its whole scale, and today's answers.
    let counts = |key: &str| -> Vec<Value> {
        r["scores"][key]["counts"]
            .as_array()
            .map(|a| a.iter().map(|c| c["count"].clone()).collect())
            .unwrap_or_default()
    };
    ensure_eq!(
        counts("nps"),
        vec![
            json!(0),
            json!(0),
            json!(0),
            json!(1),
            json!(0),
            json!(0),
            json!(0),
            json!(1),
            json!(0),
            json!(1),
            json!(1)
        ],
        "NPS distribution {r}"
    );
    ensure_eq!(
        counts("csat"),
        vec![json!(0), json!(1), json!(0), json!(1), json!(1)],
        "CSAT distribution"
    );
    let days = r["responses_by_day"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(
        days.len() == 90
            && days.last().map(|d| (d["date"].clone(), d["count"].clone()))
                == Some((json!(chrono::Utc::now().date_naive().to_string()), json!(4))),
        "answers per day end today with the four answers: {:?}",
        days.last()
    );
    let channel = &r["choices"]["channel"];
    ensure!(
        channel["answered"] == 3
            && channel["options"]
                == json!([{"value": "web", "count": 2}, {"value": "store", "count": 1}]),
        "choices {}",
        r["choices"]
    );
    let csv = app
        .get(
            &format!("/admin/v1/surveys/{survey}/responses.csv"),
            Auth::Admin,
        )
        .await?
        .expect(200)?;
    ensure!(
        csv.header("content-type")
            .is_some_and(|t| t.starts_with("text/csv"))
            && csv
                .text
                .starts_with("response_id,answered_at,nps,csat,ces,channel,liked,why"),
        "csv header {}",
        csv.text.lines().next().unwrap_or("")
    );
    ensure!(
        csv.text.contains(r#""'=HYPERLINK(""http://evil"")""#) && !csv.text.contains(",=HYPERLINK"),
        "formula not neutralised:\n{}",
        csv.text
    );
    ensure!(
        csv.text.contains("\"Slow\ndelivery\""),
        "multi-line text not quoted"
    );
    Ok(())
}

async fn survey_definitions_are_validated(app: Arc<TestApp>) -> Result<(), String> {
    let mut bad = survey_body();
    bad["questions"][0]["type"] = json!("stars");
    bad["questions"][3]["options"] = json!([]);
    let reply = app
        .post_json("/admin/v1/surveys", &bad, Auth::Admin)
        .await?
        .expect_error(400, "validation_failed")?;
    let fields = &reply.json()["error"]["fields"];
    ensure!(
        fields.get("questions[0].type").is_some() && fields.get("questions[3].options").is_some(),
        "fields {fields}"
    );
    let survey = create_survey(&app).await?;
    let path = format!("/admin/v1/surveys/{survey}");
    let before = app.get(&path, Auth::Admin).await?.expect(200)?.json();
    let patched = app
        .send(
            app.client
                .patch(app.url(&path))
                .json(&json!({"name": "Post-delivery", "expires_after_days": 7})),
            Auth::Admin,
        )
        .await?
        .expect(200)?
        .json();
    ensure!(
        patched["name"] == "Post-delivery"
            && patched["expires_after_days"] == 7
            && patched["questions"].as_array().map(Vec::len) == Some(6),
        "patched {patched}"
    );
    // Read back: the change persisted and nothing the PATCH did not name moved.
    let after = app.get(&path, Auth::Admin).await?.expect(200)?.json();
    ensure!(
        after["name"] == "Post-delivery" && after["expires_after_days"] == 7,
        "PATCH did not persist: {after}"
    );
    let unchanged = |v: &Value| json!([v["id"], v["locale"], v["questions"], v["created_at"]]);
    ensure!(
        unchanged(&after) == unchanged(&before)
            && after["questions"].as_array().map(Vec::len) == Some(6),
        "PATCH changed what it did not name:\n{before}\n{after}"
    );
    // What people get follows the stored survey: a new invitation lives 7 days, and its page
    // shows the new name with the old questions.
    let invited = invite(
        &app,
        &survey,
        json!([{"email": unique_email("patched")}]),
        false,
    )
    .await?;
    let expires = invited[0]["expires_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .ok_or("no expires_at")?;
    let minutes = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    ensure!(
        (7 * 24 * 60 - 10..=7 * 24 * 60).contains(&minutes),
        "an invitation after the PATCH lives {minutes} minutes, not 7 days"
    );
    let page = app
        .get(
            &format!("/s/{}", invitation_token(&invited[0])?),
            Auth::None,
        )
        .await?
        .expect(200)?;
    ensure!(
        page.text.contains("Post-delivery")
            && !page.text.contains("After purchase")
            && page.text.contains("Anything else?"),
        "the survey page does not show the patched survey"
    );
    app.send(
        app.client
            .patch(app.url(&path))
            .json(&json!({"questions": []})),
        Auth::Admin,
    )
    .await?
    .expect_error(400, "validation_failed")?;
    ensure_eq!(
        app.get(&path, Auth::Admin).await?.expect(200)?.json(),
        after,
        "a refused PATCH changed the survey"
    );
    app.get("/admin/v1/surveys/srv_missing", Auth::Admin)
        .await?
        .expect_error(404, "not_found")?;
    let reply = app
        .post_json(
            &format!("/admin/v1/surveys/{survey}/invitations"),
            &json!({"invitations": [{"email": "not-an-email"}, {"contact_id": "nobody"}, {"email": unique_email("o"), "order_id": "no-such-order"}]}),
            Auth::Admin,
        )
        .await?
        .expect_error(400, "validation_failed")?;
    let fields = &reply.json()["error"]["fields"];
    ensure!(
        fields.get("invitations[0].email").is_some()
            && fields.get("invitations[1].contact_id").is_some()
            && fields.get("invitations[2].order_id").is_some(),
        "invitation fields {fields}"
    );
    Ok(())
}

async fn forged_and_expired_survey_links_are_refused(app: Arc<TestApp>) -> Result<(), String> {
    let survey = create_survey(&app).await?;
    let links = invite(
        &app,
        &survey,
        json!([{"email": unique_email("expired")}]),
        false,
    )
    .await?;
    let token = invitation_token(&links[0])?;
    let forged = format!("{}A", &token[..token.len() - 1]);
    let forged = if forged == token {
        format!("{}B", &token[..token.len() - 1])
    } else {
        forged
    };
    answer(&app, &forged, json!({"nps": 9}))
        .await?
        .expect_error(410, "link_invalid")?;
    answer(&app, "short", json!({"nps": 9}))
        .await?
        .expect_error(410, "link_invalid")?;
    // A body that is not answers at all is a 400 before any link is looked at.
    answer(&app, &forged, json!([9]))
        .await?
        .expect_error(400, "validation_failed")?;
    let page = app.get(&format!("/s/{forged}"), Auth::None).await?;
    ensure_eq!(page.status, 410, "forged page status {}", page.status);
    let id = links[0]["id"].as_str().ok_or("no invitation id")?;
    app.sql(&format!(
        "UPDATE survey_invitations SET expires_at = '2020-01-01T00:00:00.000Z' WHERE id = '{id}'"
    ))?;
    answer(&app, &token, json!({"nps": 9}))
        .await?
        .expect_error(410, "link_invalid")?;
    let page = app.get(&format!("/s/{token}"), Auth::None).await?;
    ensure_eq!(page.status, 410, "expired page status {}", page.status);
    Ok(())
}

/// The largest invitation request (200 people, some of them buyers already known by their
/// order, the rest new addresses) is a handful of IN-list look-ups and one write batch per
/// chunk: it fits the free plan's 50 queries, where a few queries per person would not.
async fn inviting_200_buyers_fits_the_free_plans_query_budget(
    app: Arc<TestApp>,
) -> Result<(), String> {
    const BUYERS: usize = 40;
    let buyers: Vec<(String, String)> = (0..BUYERS)
        .map(|i| {
            (
                unique_email(&format!("invite200-buyer{i}")),
                external_id(&format!("invite200-order{i}")),
            )
        })
        .collect();
    // A few orders per request: the orders endpoint's own look-ups are not what this measures.
    for chunk in buyers.chunks(5) {
        send_orders(
            &app,
            chunk
                .iter()
                .map(|(email, no)| order(no, email, "10.00", &crate::harness::days_ago(3)))
                .collect(),
        )
        .await?;
    }
    let newcomers: Vec<String> = (0..200 - BUYERS)
        .map(|i| unique_email(&format!("invite200-new{i}")))
        .collect();
    let mut targets: Vec<Value> = buyers
        .iter()
        .map(|(email, no)| json!({"email": email, "order_id": no}))
        .collect();
    targets.extend(newcomers.iter().map(|email| json!({"email": email})));
    let survey = create_survey(&app).await?;

    let links = invite(&app, &survey, Value::Array(targets.clone()), false).await?;
    ensure_eq!(links.len(), 200, "invitations made");
    for (i, (email, _)) in buyers.iter().enumerate().step_by(10) {
        let known = contact(&app, email)
            .await?
            .ok_or("a buyer has no contact")?;
        ensure_eq!(
            links[i]["contact_id"],
            known["id"],
            "buyer {i} was not invited as the contact their order made"
        );
    }
    let new_ids: std::collections::BTreeSet<&str> = links[BUYERS..]
        .iter()
        .filter_map(|l| l["contact_id"].as_str())
        .collect();
    ensure_eq!(
        new_ids.len(),
        200 - BUYERS,
        "one new contact per new address"
    );

    // Inviting them all again finds every one of them, the new contacts included.
    let again = invite(&app, &survey, Value::Array(targets), false).await?;
    ensure_eq!(again.len(), 200, "second invitations made");
    for (first, second) in links.iter().zip(&again) {
        ensure_eq!(
            first["contact_id"],
            second["contact_id"],
            "an invitee became someone else"
        );
    }
    let results = results(&app, &survey).await?;
    ensure_eq!(results["invited"], 400, "results {results}");
    Ok(())
}

/// Results over thousands of answers come from SQL aggregates: a constant number of queries
/// (it used to read every response a page at a time), the very numbers the results maths gives
/// over the same rows, and text answers never loaded.
async fn survey_results_over_thousands_of_responses_fit_one_invocation(
    app: Arc<TestApp>,
) -> Result<(), String> {
    const N: i64 = 3000;
    let survey = create_survey(&app).await?;
    let count = |i: i64| {
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {}) ",
            i - 1
        )
    };
    app.sql(&format!(
        "{}INSERT INTO survey_invitations (id, survey_id, token_hash, created_at, expires_at, answered_at) \
         SELECT '{survey}-inv-' || i, '{survey}', '{survey}-tok-' || i, '2026-01-01T00:00:00.000Z', \
           '2099-01-01T00:00:00.000Z', '2026-01-02T00:00:00.000Z' FROM n; \
         {}INSERT INTO survey_responses (id, survey_id, invitation_id, answers, nps, csat, ces, created_at) \
         SELECT '{survey}-r-' || printf('%05d', i), '{survey}', '{survey}-inv-' || i, \
           json_object('nps', i % 11, \
             'channel', CASE i % 3 WHEN 0 THEN 'web' WHEN 1 THEN 'store' ELSE 'gone' END, \
             'liked', CASE WHEN i % 4 = 0 THEN json_array('price', 'price') ELSE json_array('speed', 'price') END, \
             'why', 'answer number ' || i), \
           i % 11, 1 + i % 5, CASE WHEN i % 10 = 0 THEN NULL ELSE 1 + i % 7 END, '2026-01-02T00:00:00.000Z' FROM n;",
        count(N),
        count(N)
    ))?;
    let mut got = results(&app, &survey).await?;
    // The answers per day are the last 90 days' (these answers are of 2 January 2026).
    let days = got
        .as_object_mut()
        .and_then(|m| m.remove("responses_by_day"))
        .ok_or_else(|| format!("no responses_by_day in {got}"))?;
    let today = chrono::Utc::now().date_naive();
    let in_window = clientela::domain::survey::first_result_day(today)
        .to_string()
        .as_str()
        <= "2026-01-02";
    let want_days = clientela::domain::survey::responses_by_day(
        today,
        &[(
            "2026-01-02".to_string(),
            if in_window { N as u64 } else { 0 },
        )]
        .into(),
    );
    ensure_eq!(
        days,
        serde_json::to_value(want_days).map_err(|e| e.to_string())?,
        "answers per day"
    );

    // The same rows through the in-memory results maths.
    let definition = clientela::domain::survey::parse_definition(&survey_body())
        .map_err(|e| format!("survey body: {e:?}"))?;
    const CHANNELS: [&str; 3] = ["web", "store", "gone"];
    let rows: Vec<clientela::domain::survey::StoredResponse> = (0..N)
        .map(|i| clientela::domain::survey::StoredResponse {
            answers: json!({
                "nps": i % 11,
                "channel": CHANNELS[(i % 3) as usize],
                "liked": if i % 4 == 0 { json!(["price", "price"]) } else { json!(["speed", "price"]) },
                "why": format!("answer number {i}"),
            }),
            nps: Some(i % 11),
            csat: Some(1 + i % 5),
            ces: (i % 10 != 0).then_some(1 + i % 7),
        })
        .collect();
    let mut want =
        serde_json::to_value(definition.results(N as u64, &rows)).map_err(|e| e.to_string())?;
    // The in-memory maths has no clock: its series is empty, the days were compared above.
    if let Some(m) = want.as_object_mut() {
        m.remove("responses_by_day");
    }
    ensure_eq!(got, want, "results over {N} responses");
    // The CSV of every answer would take more pages than one request may read: refused whole,
    // never a 200 cut short at the query cap.
    app.get(
        &format!("/admin/v1/surveys/{survey}/responses.csv"),
        Auth::Admin,
    )
    .await?
    .expect_error(409, "export_too_large")?;
    ensure_eq!(got["responses"], N, "responses");
    Ok(())
}

/// The emails of `kind` the outbox holds for `to`.
use crate::given::mails_of;

/// A survey with `reminder_after_days` reminds, once, each emailed invitee who has neither
/// answered nor objected to survey emails; nobody whose link the shop handed out itself; and
/// the reminder's own link answers the same invitation, after which the first link is spent.
/// Serial: the reminder's due time is moved into the past with `wrangler d1`.
async fn a_survey_reminder_goes_once_to_whoever_has_not_answered_or_objected(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let mut body = crate::given::survey_body();
    body["expires_after_days"] = json!(14);
    body["reminder_after_days"] = json!(14);
    app.post_json("/admin/v1/surveys", &body, Auth::Admin)
        .await?
        .expect_error(400, "validation_failed")?;
    body["reminder_after_days"] = json!(3);
    let survey = app
        .post_json("/admin/v1/surveys", &body, Auth::Admin)
        .await?
        .expect(201)?
        .json();
    ensure_eq!(survey["reminder_after_days"], 3, "the survey keeps it");
    let survey = survey["id"].as_str().ok_or("no survey id")?.to_string();
    let [answered, objecting, silent, handed] =
        ["answered", "objecting", "silent", "handed"].map(|t| unique_email(&format!("remind-{t}")));
    let emailed = crate::given::invite(
        &app,
        &survey,
        json!([{ "email": answered }, { "email": objecting }, { "email": silent }]),
        true,
    )
    .await?;
    let handed_out =
        crate::given::invite(&app, &survey, json!([{ "email": handed }]), false).await?;
    crate::given::answer(&app, &invitation_token(&emailed[0])?, json!({ "nps": 9 }))
        .await?
        .expect(201)?;
    let invitation = app
        .eventually(Duration::from_secs(30), || async {
            Ok(mails_of(&app, &objecting, "survey_invitation")
                .await?
                .into_iter()
                .next())
        })
        .await?;
    let unsubscribe = invitation["unsubscribe_url"]
        .as_str()
        .unwrap_or_default()
        .replace(&app.base, "");
    crate::given::one_click_unsubscribe(&app, &unsubscribe)
        .await?
        .expect(200)?;
    // Three days pass.
    app.sql(&format!(
        "UPDATE survey_invitations SET remind_at = '2000-01-01T00:00:00.000Z' \
         WHERE survey_id = '{survey}' AND remind_at IS NOT NULL"
    ))?;
    for run in 0..2 {
        app.get("/__scheduled?cron=17+3+*+*+*", Auth::None)
            .await?
            .expect(200)?;
        let reminder = app
            .eventually(Duration::from_secs(30), || async {
                Ok(mails_of(&app, &silent, "survey_reminder")
                    .await?
                    .into_iter()
                    .next())
            })
            .await
            .map_err(|_| format!("no reminder after daily run {run}"))?;
        ensure!(
            reminder["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click",
            "the reminder is relay-ready: {reminder}"
        );
    }
    app.queue_caught_up().await?;
    ensure_eq!(
        mails_of(&app, &silent, "survey_reminder").await?.len(),
        1,
        "one reminder, however many daily runs"
    );
    for (who, email) in [
        ("answered", &answered),
        ("objecting", &objecting),
        ("handed", &handed),
    ] {
        ensure_eq!(
            mails_of(&app, email, "survey_reminder").await?.len(),
            0,
            "a reminder went to the {who} invitee"
        );
    }
    let reminder = mails_of(&app, &silent, "survey_reminder").await?;
    let link = reminder[0]["url"].as_str().ok_or("no reminder link")?;
    let token = link.rsplit("/s/").next().ok_or("no token")?;
    ensure!(
        Some(link) != emailed[2]["url"].as_str(),
        "the reminder carries a link of its own"
    );
    crate::given::answer(&app, token, json!({ "nps": 7 }))
        .await?
        .expect(201)?;
    crate::given::answer(&app, &invitation_token(&emailed[2])?, json!({ "nps": 3 }))
        .await?
        .expect_error(409, "already_answered")?;
    ensure!(handed_out.len() == 1, "the handed-out invitation");
    Ok(())
}
