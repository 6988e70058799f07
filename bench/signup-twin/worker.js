// A JS twin of Clientela's double opt-in signup for `make bench`: the same platform work with
// none of Clientela's code. Per request: the per-IP rate limiter, one D1 read batch (the form,
// the contact and suppression under the address), one write batch (the address's capped
// counter, the contact, the audit entry, the capped confirmation email, its token) on
// Clientela's own schema (schema.sql and migrations/), and one queue send. Its consumer
// delivers as Clientela's does: one claim per batch, one POST per email to EMAIL_WEBHOOK_URL,
// one statement marking them sent. The SQL is Clientela's, so the rows written match; what
// Clientela adds over this twin is its own code (wasm, parsing, hashing, rendering).
const OUTBOX = "id, contact_id, to_email, kind, subject, body_text, url, unsubscribe_url, preferences_url, created_at, mailbox_hash";

async function sha256(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export default {
  async fetch(request, env) {
    const ip = request.headers.get("CF-Connecting-IP") ?? "local";
    const limited = env.PUBLIC_LIMITER.limit({ key: `signup:${ip}` });
    const body = await request.json();
    const email = String(body.fields?.email ?? "").trim().toLowerCase();
    const hash = await sha256(`address:${email}`);
    const [{ success }, [form, known]] = await Promise.all([
      limited,
      env.DB.batch([
        env.DB.prepare("SELECT id, name, definition, created_at, updated_at FROM forms WHERE id = ?1 AND archived_at IS NULL").bind("frm_twin"),
        env.DB.prepare(
          "SELECT c.id, c.status, EXISTS (SELECT 1 FROM suppressions WHERE email_hash IN (?1, ?2)) AS suppressed " +
            "FROM (SELECT 1) LEFT JOIN (SELECT id, status FROM contacts WHERE email_hash IN (?1, ?2) " +
            "ORDER BY email_hash = ?1 DESC LIMIT 1) AS c",
        ).bind(hash, hash),
      ]),
    ]);
    if (!success) return new Response('{"error":"rate_limited"}', { status: 429 });
    if (!form.results.length || known.results[0]?.id) return new Response("{}", { status: 500 });
    const now = new Date();
    const at = now.toISOString();
    const hour = at.slice(0, 13) + ":00:00.000Z";
    const since = new Date(now - 86400e3).toISOString();
    const id = crypto.randomUUID();
    const message = "msg_" + crypto.randomUUID().replaceAll("-", "");
    const token = crypto.randomUUID() + crypto.randomUUID();
    const tokenHash = await sha256(token);
    const link = `http://127.0.0.1/confirm?t=${token}`;
    await env.DB.batch([
      env.DB.prepare(
        "INSERT INTO rate_counters (window_start, key, count, cap) VALUES (?1, ?2, 1, ?3) " +
          "ON CONFLICT (window_start, key) DO UPDATE SET count = count + 1, cap = excluded.cap",
      ).bind(hour, `signup-email:${hash}`, 10),
      env.DB.prepare(
        "INSERT INTO contacts (id, email, email_hash, name, phone, locale, country, city, birth_date, gender, " +
          "status, source, created_at, updated_at, confirmed_at, last_activity_at, data_confirmed_at) " +
          "VALUES (?1, ?2, ?3, ?4, NULL, 'en', NULL, NULL, NULL, NULL, 'pending', ?5, ?6, ?6, NULL, ?6, NULL)",
      ).bind(id, email, hash, body.fields?.name ?? null, "frm_twin", at),
      env.DB.prepare("INSERT INTO audit_log (id, at, actor, action, subject) VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(crypto.randomUUID(), at, "form:frm_twin", "contact.signup", id),
      env.DB.prepare(
        `INSERT INTO outbox (${OUTBOX}) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 ` +
          "WHERE (SELECT COUNT(*) FROM outbox WHERE mailbox_hash = ?11 AND kind = ?4 AND created_at > ?12) < ?13 " +
          "AND (?14 = 0 OR NOT EXISTS (SELECT 1 FROM outbox WHERE mailbox_hash = ?11 AND kind = ?4 AND created_at > ?12 AND contact_id = ?2))",
      ).bind(message, id, email, "confirm", "Confirm your subscription", `Confirm: ${link}`, link, null, null, at, hash, since, 3, 0),
      env.DB.prepare(
        "INSERT INTO tokens (hash, purpose, contact_id, payload, created_at, expires_at) " +
          "SELECT ?1, ?2, contact_id, ?3, ?4, ?5 FROM outbox WHERE id = ?6",
      ).bind(tokenHash, "confirm", JSON.stringify({ form_id: "frm_twin", consents: body.consents }), at,
        new Date(now.getTime() + 7 * 86400e3).toISOString(), message),
    ]);
    await env.JOBS.send({ v: 1, job: "deliver_email", id: message });
    return new Response(JSON.stringify({ status: "accepted" }), {
      status: 202,
      headers: { "content-type": "application/json" },
    });
  },

  async queue(batch, env) {
    const ids = batch.messages.map((m) => m.body.id);
    const list = ids.map((_, i) => `?${i + 3}`).join(", ");
    const now = new Date();
    const { results } = await env.DB.prepare(
      `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2 WHERE id IN (${list}) ` +
        "AND sent_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= ?1) " +
        "RETURNING id, to_email, kind, subject, body_text, url",
    ).bind(now.toISOString(), new Date(now.getTime() + 60e3).toISOString(), ...ids).all();
    const sent = [];
    await Promise.all(results.map(async (m) => {
      const r = await fetch(env.EMAIL_WEBHOOK_URL, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": m.id },
        body: JSON.stringify(m),
      });
      if (r.ok) sent.push(m.id);
    }));
    if (sent.length) {
      await env.DB.prepare(
        "UPDATE outbox SET sent_at = ?1, next_attempt_at = NULL, last_error = NULL, body_text = '', url = NULL, " +
          `unsubscribe_url = NULL, preferences_url = NULL WHERE id IN (${sent.map((_, i) => `?${i + 2}`).join(", ")}) AND sent_at IS NULL`,
      ).bind(new Date().toISOString(), ...sent).run();
    }
    batch.ackAll();
  },
};
