//! Fixtures shared by the stories: "given a form", "given a confirmed contact", "given an
//! order, a segment, an answered survey". A helper lives here once two story files use it; one
//! that a single story file uses stays in that file. Only the harness is imported here, never a
//! story module, so any story can use any fixture.

use std::time::Duration;

use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::harness::{unique_email, Auth, Reply, TestApp};
use crate::webhook::EventPost;

// --- Forms and signups: a form, a visitor's submission, the confirmation that makes a contact
// active.

pub const SHOP: &str = "https://shop.example";

pub fn form_body(double_opt_in: bool) -> Value {
    json!({
        "name": "Newsletter",
        "allowed_origins": [SHOP],
        "locale": "pt-BR",
        "double_opt_in": double_opt_in,
        "redirect_url": "https://shop.example/thanks",
        "fields": [
            {"key": "email", "type": "email", "required": true, "label": {"en": "Email", "pt-BR": "E-mail"}},
            {"key": "name", "type": "text", "max_len": 100, "label": {"en": "Name", "pt-BR": "Nome"}},
            {"key": "country", "type": "text"},
            {"key": "interests", "type": "multi_choice", "options": ["shoes", "bags"]}
        ],
        "consents": [{"purpose": "marketing_email", "required": true, "policy_version": "2026-01",
                      "text": {"en": "I agree to receive offers by email", "pt-BR": "Aceito receber ofertas por e-mail"}}]
    })
}

pub async fn create_form(app: &TestApp, body: &Value) -> Result<String, String> {
    let reply = app
        .post_json("/admin/v1/forms", body, Auth::Admin)
        .await?
        .expect(201)?;
    reply.json()["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no form id".into())
}

pub async fn submit_from(
    app: &TestApp,
    form: &str,
    body: &Value,
    ip: &str,
) -> Result<Reply, String> {
    let builder = app
        .client
        .post(app.url(&format!("/v1/forms/{form}/submissions")))
        .header("Origin", SHOP)
        .header("CF-Connecting-IP", ip)
        .header("User-Agent", "StoryBrowser/1.0")
        .json(body);
    app.send(builder, Auth::None).await
}

pub async fn submit(app: &TestApp, form: &str, body: &Value) -> Result<Reply, String> {
    submit_from(app, form, body, &app.visitor_ip()).await
}

pub fn signup(email: &str, name: &str) -> Value {
    json!({"fields": {"email": email, "name": name, "country": "br", "interests": ["bags"]},
           "consents": {"marketing_email": true}})
}

pub async fn contact(app: &TestApp, email: &str) -> Result<Option<Value>, String> {
    let reply = app
        .get(
            &format!("/admin/v1/contacts?email={}", email.replace('+', "%2B")),
            Auth::Admin,
        )
        .await?
        .expect(200)?;
    Ok(reply.json()["contacts"]
        .as_array()
        .and_then(|c| c.first().cloned()))
}

/// The messages of `kind` to `to`, newest first, as the recipient got them.
pub async fn mails_of(app: &TestApp, to: &str, kind: &str) -> Result<Vec<Value>, String> {
    Ok(app
        .mail_to(to)
        .await?
        .into_iter()
        .filter(|m| m["kind"] == kind)
        .collect())
}

pub async fn confirm_messages(app: &TestApp, email: &str) -> Result<Vec<Value>, String> {
    Ok(app
        .mail_to(email)
        .await?
        .into_iter()
        .filter(|x| x["kind"] == "confirm")
        .collect())
}

pub fn token_of(message: &Value) -> Result<String, String> {
    let url = message["url"].as_str().ok_or("message without url")?;
    url.split("t=")
        .nth(1)
        .map(str::to_string)
        .ok_or_else(|| format!("no token in {url}"))
}

pub async fn signed_up_and_confirmed(app: &TestApp, form: &str, email: &str) -> Result<(), String> {
    submit(app, form, &signup(email, "Ana"))
        .await?
        .expect(202)?;
    let messages = confirm_messages(app, email).await?;
    let token = token_of(messages.first().ok_or("no confirmation email")?)?;
    app.post_json("/v1/confirm", &json!({"token": token}), Auth::None)
        .await?
        .expect(200)?;
    Ok(())
}

// --- Self-service: the sign-in link a person asks for, and the session it opens.

pub async fn magic_link_messages(app: &TestApp, email: &str) -> Result<Vec<Value>, String> {
    Ok(app
        .mail_to(email)
        .await?
        .into_iter()
        .filter(|x| x["kind"] == "magic_link")
        .collect())
}

pub async fn request_link(app: &TestApp, email: &str) -> Result<Reply, String> {
    app.send(
        app.client
            .post(app.url("/v1/me/link"))
            .header("CF-Connecting-IP", app.visitor_ip())
            .json(&json!({"email": email})),
        Auth::None,
    )
    .await
}

/// Requests a magic link and waits for its email; returns the token.
pub async fn magic_token(app: &TestApp, email: &str) -> Result<String, String> {
    let before = magic_link_messages(app, email).await?.len();
    request_link(app, email).await?.expect(202)?;
    let messages = app
        .eventually(Duration::from_secs(10), || async {
            let m = magic_link_messages(app, email).await?;
            Ok((m.len() > before).then_some(m))
        })
        .await?;
    let url = messages[0]["url"].as_str().ok_or("no url")?;
    ensure!(url.starts_with(&format!("{}/me?t=", app.base)), "url {url}");
    url.split("t=")
        .nth(1)
        .map(str::to_string)
        .ok_or_else(|| "no token".into())
}

pub async fn session_for(app: &TestApp, email: &str) -> Result<String, String> {
    let token = magic_token(app, email).await?;
    let reply = app
        .post_json("/v1/me/session", &json!({"token": token}), Auth::None)
        .await?
        .expect(200)?;
    reply.json()["session"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no session".into())
}

/// A person's decision on `purpose`, from a session of theirs (the preference center's call).
pub async fn put_consent(
    app: &TestApp,
    session: &str,
    purpose: &str,
    granted: bool,
) -> Result<Reply, String> {
    app.send(
        app.client
            .put(app.url(&format!("/v1/me/consents/{purpose}")))
            .header("Accept-Language", "pt-BR")
            .json(&json!({ "granted": granted })),
        Auth::Bearer(session),
    )
    .await
}

/// The one-click unsubscribe a mail provider posts to a message's `unsubscribe_url` (RFC 8058).
pub async fn one_click_unsubscribe(app: &TestApp, path: &str) -> Result<Reply, String> {
    app.send(
        app.client
            .post(app.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click"),
        Auth::None,
    )
    .await
}

// --- Orders from the shop's back end.

pub fn order(external_id: &str, email: &str, total: &str, placed_at: &str) -> Value {
    json!({"external_id": external_id, "email": email, "total": total, "currency": "BRL",
           "placed_at": placed_at,
           "items": [{"sku": "BAG-1", "name": "Tote", "category": "Bags", "quantity": 1, "price": total}]})
}

pub async fn send_orders(app: &TestApp, orders: Vec<Value>) -> Result<Value, String> {
    Ok(app
        .post_json(
            "/admin/v1/orders",
            &json!({ "orders": orders }),
            Auth::Admin,
        )
        .await?
        .expect(200)?
        .json())
}

/// A per-test order number, so tests sharing one database never collide.
pub fn external_id(tag: &str) -> String {
    unique_email(tag).replace('@', "-at-")
}

// --- Contact imports.

pub async fn import(app: &TestApp, content_type: &str, body: &str) -> Result<Reply, String> {
    app.post_raw(
        "/admin/v1/contacts/import",
        content_type,
        body.as_bytes().to_vec(),
        Auth::Admin,
    )
    .await
}

// --- Segments: created, built, exported.

/// A tag no other test's addresses contain, so a rule can pick exactly this test's people.
pub fn run_tag(name: &str) -> String {
    unique_email(name)
        .split('@')
        .next()
        .unwrap_or(name)
        .to_string()
}

pub async fn create_segment(app: &TestApp, name: &str, rule: Value) -> Result<Value, String> {
    Ok(app
        .post_json(
            "/admin/v1/segments",
            &json!({"name": name, "rule": rule}),
            Auth::Admin,
        )
        .await?
        .expect(201)?
        .json())
}

pub async fn ready_segment(app: &TestApp, id: &str, version: i64) -> Result<Value, String> {
    app.eventually(Duration::from_secs(30), || async {
        let s = app
            .get(&format!("/admin/v1/segments/{id}"), Auth::Admin)
            .await?
            .expect(200)?
            .json();
        Ok(if s["state"] == "ready" && s["version"] == version {
            Some(s)
        } else {
            None
        })
    })
    .await
}

pub async fn export(app: &TestApp, id: &str, query: &str) -> Result<Reply, String> {
    app.get(
        &format!("/admin/v1/segments/{id}/export.csv{query}"),
        Auth::Admin,
    )
    .await
}

/// The emails in an export, sorted.
pub async fn member_emails(app: &TestApp, id: &str) -> Result<Vec<String>, String> {
    let csv = export(app, id, "?columns=email").await?.expect(200)?;
    let mut emails: Vec<String> = csv.text.lines().skip(1).map(str::to_string).collect();
    emails.sort();
    Ok(emails)
}

// --- Surveys: a survey, an invitation, an answer through its link.

pub fn survey_body() -> Value {
    json!({
        "name": "After purchase",
        "locale": "pt-BR",
        "expires_after_days": 30,
        "questions": [
            {"key": "nps", "type": "nps", "required": true,
             "text": {"en": "How likely are you to recommend us?", "pt-BR": "Qual a chance de você nos recomendar?"}},
            {"key": "csat", "type": "csat", "text": {"en": "How satisfied are you?"}},
            {"key": "ces", "type": "ces", "text": {"en": "How easy was it?"}},
            {"key": "channel", "type": "single_choice", "text": {"en": "Where did you buy?"},
             "options": [{"value": "web", "label": {"en": "Website"}}, {"value": "store", "label": {"en": "Store"}}]},
            {"key": "liked", "type": "multi_choice", "text": {"en": "What did you like?"},
             "options": [{"value": "price"}, {"value": "speed"}]},
            {"key": "why", "type": "text", "max_len": 500, "text": {"en": "Anything else?"}}
        ]
    })
}

pub async fn create_survey(app: &TestApp) -> Result<String, String> {
    let reply = app
        .post_json("/admin/v1/surveys", &survey_body(), Auth::Admin)
        .await?
        .expect(201)?;
    reply.json()["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no survey id".into())
}

pub async fn invite(
    app: &TestApp,
    survey: &str,
    invitations: Value,
    send_email: bool,
) -> Result<Vec<Value>, String> {
    let reply = app
        .post_json(
            &format!("/admin/v1/surveys/{survey}/invitations"),
            &json!({"invitations": invitations, "send_email": send_email}),
            Auth::Admin,
        )
        .await?
        .expect(201)?;
    reply.json()["invitations"]
        .as_array()
        .cloned()
        .ok_or_else(|| "no invitations".into())
}

/// The token of an invitation link `<base>/s/<token>`.
pub fn invitation_token(invitation: &Value) -> Result<String, String> {
    invitation["url"]
        .as_str()
        .and_then(|u| u.rsplit("/s/").next())
        .map(str::to_string)
        .ok_or_else(|| format!("no url in {invitation}"))
}

pub async fn answer(app: &TestApp, token: &str, answers: Value) -> Result<Reply, String> {
    // A visitor of its own: answers must not meet the per-IP limit other tests' requests fill.
    app.send(
        app.client
            .post(app.url("/v1/surveys/responses"))
            .header("CF-Connecting-IP", app.visitor_ip())
            .json(&json!({"token": token, "answers": answers})),
        Auth::None,
    )
    .await
}

/// A new survey, an invitation for `email` (about `order`, if given; emailed when `send_email`),
/// and `answers` given through its link: the survey's id.
pub async fn answered(
    app: &TestApp,
    email: &str,
    order: Option<&str>,
    send_email: bool,
    answers: Value,
) -> Result<String, String> {
    let survey = create_survey(app).await?;
    let mut invitation = json!({ "email": email });
    if let Some(order) = order {
        invitation["order_id"] = json!(order);
    }
    let links = invite(app, &survey, json!([invitation]), send_email).await?;
    let token = invitation_token(links.first().ok_or("no invitation")?)?;
    answer(app, &token, answers).await?.expect(201)?;
    Ok(survey)
}

// --- What a marketing email carries, and where the database still holds a person.

/// The links a marketing email carries for `email`, as a mail tool merges them from a segment
/// export (`columns=…,preferences_url,unsubscribe_url`): (unsubscribe, preferences) paths.
pub async fn newsletter_links(app: &TestApp, email: &str) -> Result<(String, String), String> {
    let seg = create_segment(
        app,
        "newsletter",
        json!({"field": "email", "op": "eq", "value": email}),
    )
    .await?;
    let id = seg["id"].as_str().ok_or("no segment id")?.to_string();
    ready_segment(app, &id, 1).await?;
    let csv = app
        .get(
            &format!(
                "/admin/v1/segments/{id}/export.csv?columns=email,unsubscribe_url,preferences_url"
            ),
            Auth::Admin,
        )
        .await?
        .expect(200)?;
    let line = csv
        .text
        .lines()
        .find(|l| l.starts_with(email))
        .ok_or_else(|| format!("{email} not in the export: {}", csv.text))?
        .to_string();
    let cells: Vec<&str> = line.split(',').collect();
    ensure_eq!(cells.len(), 3, "export line {line}");
    Ok((
        cells[1].replace(&app.base, ""),
        cells[2].replace(&app.base, ""),
    ))
}

/// Every `table.column` of the local D1 whose text holds any of `needles`. The columns are read
/// from the schema itself, so a table or column added later is searched without anyone
/// remembering to. Serial tests only.
pub fn columns_holding(app: &TestApp, needles: &[&str]) -> Result<Vec<String>, String> {
    let columns = app.sql_rows(
        "SELECT m.name AS tbl, p.name AS col FROM sqlite_master m, pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_cf_%' \
           AND m.name <> 'd1_migrations' AND (p.type = 'TEXT' OR p.type = '')",
    )?;
    ensure!(columns.len() > 40, "schema read: {columns:?}");
    let test = needles
        .iter()
        .map(|n| format!("instr(\"{{c}}\", '{}') > 0", n.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(" OR ");
    // One count per column, 50 columns a query (D1 caps compound SELECTs and result columns).
    let probes: Vec<String> = columns
        .iter()
        .filter_map(|c| Some((c["tbl"].as_str()?, c["col"].as_str()?)))
        .map(|(t, c)| {
            format!(
                "(SELECT COUNT(*) FROM \"{t}\" WHERE {}) AS \"{t}.{c}\"",
                test.replace("{c}", c)
            )
        })
        .collect();
    let mut holding = Vec::new();
    for chunk in probes.chunks(50) {
        let found = app.sql_rows(&format!("SELECT {}", chunk.join(", ")))?;
        let counts = found
            .first()
            .and_then(Value::as_object)
            .ok_or("no counts")?;
        for (column, n) in counts {
            if n.as_i64() > Some(0) {
                holding.push(column.clone());
            }
        }
    }
    Ok(holding)
}

// --- The queue's dead letters.

/// The dead letter received since `since` whose body holds `text`, if there is one yet.
pub async fn dead_letter_holding(
    app: &TestApp,
    since: &str,
    text: &str,
) -> Result<Option<Value>, String> {
    let letters = app
        .get(
            &format!("/admin/v1/dead-letters?since={since}&limit=1000"),
            Auth::Admin,
        )
        .await?
        .expect(200)?
        .json();
    Ok(letters["dead_letters"].as_array().and_then(|all| {
        all.iter()
            .find(|l| l["body"].as_str().is_some_and(|b| b.contains(text)))
            .cloned()
    }))
}

// --- Webhook subscriptions and what their receiver got.

/// A subscription to `events` posting to this story's receiver; its id and secret.
pub async fn subscribe(
    app: &TestApp,
    receiver: &str,
    fail: Option<&str>,
    extra: Value,
    auth: Auth<'_>,
) -> Result<(String, String), String> {
    let mut body = json!({ "url": app.webhook.events_url(receiver, fail) });
    for (k, v) in extra.as_object().ok_or("extra is not an object")? {
        body[k] = v.clone();
    }
    let reply = app
        .post_json("/admin/v1/webhooks", &body, auth)
        .await?
        .expect(201)?
        .json();
    let id = reply["id"].as_str().ok_or("no id")?.to_string();
    let secret = reply["secret"].as_str().ok_or("no secret")?.to_string();
    Ok((id, secret))
}

/// Stories share one database: a subscription left behind would hear every later story.
pub async fn unsubscribe(app: &TestApp, id: &str) -> Result<(), String> {
    app.delete(&format!("/admin/v1/webhooks/{id}"), Auth::Admin)
        .await?
        .expect(200)?;
    Ok(())
}

/// The receiver's posts about `contact_id`, in arrival order.
pub fn posts_about(app: &TestApp, receiver: &str, contact_id: &str) -> Vec<EventPost> {
    app.webhook
        .events_to(receiver)
        .into_iter()
        .filter(|p| p.body["data"]["contact_id"] == contact_id)
        .collect()
}

/// Distinct `webhook-id`s per event type among `posts`, with a check that every post of one id
/// carried the same bytes.
pub fn ids_by_type(posts: &[EventPost]) -> Result<Vec<(String, usize)>, String> {
    let mut seen: Vec<(String, String, String)> = Vec::new();
    for p in posts {
        let id = p.signed[0].clone().ok_or("a post without webhook-id")?;
        let kind = p.body["type"].as_str().unwrap_or("").to_string();
        match seen.iter().find(|(i, _, _)| *i == id) {
            Some((_, _, raw)) => ensure!(
                *raw == p.raw,
                "{id} was sent with two bodies:\n{raw}\n{}",
                p.raw
            ),
            None => seen.push((id, kind, p.raw.clone())),
        }
    }
    let mut counts: Vec<(String, usize)> = Vec::new();
    for (_, kind, _) in &seen {
        match counts.iter_mut().find(|(k, _)| k == kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((kind.clone(), 1)),
        }
    }
    counts.sort();
    Ok(counts)
}
