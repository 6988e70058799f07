#!/usr/bin/env python3
"""`make bench-scale`'s base: N contacts that look like production, written into a local D1's
SQLite file (wrangler's state directory) while no `wrangler dev` holds it.

Why the service's own SQL, and why from Python: every row goes in through the INSERT (and the
UPDATE that follows it in the service, e.g. a delivery emptying the body, a confirmation
spending its token) that `src/store/*.rs` sends to D1, read out of the Rust source at run time
(`rust_sql` below), so a column the service adds or stops writing changes the base too, and a
statement this script cannot find any more fails it. Going through the HTTP API instead would
be the most faithful but takes hours at 1M on two cores (signups run at ~70/s here); cloning a
few service-written template people in SQL hides what each column holds. Python's sqlite3
binds the same `?N` parameters D1 does and writes ~15M rows in minutes.

What one contact is (knobs at the top; the spread is over BENCH_SCALE_DAYS of signups ending now,
and what the daily retention would already have deleted is not written, so the base is the
service's steady state, with one day of work for the daily run left in it):
  - `contacts` row from a double opt-in form (name, locale, country, city; some phone and birth
    date), two `contact_attributes` (the form's custom fields);
  - consent proof for `marketing_email` (and `profiling` for a third): the `form` and
    `double_opt_in` events with policy version, notice SHA-256, form id, IP HMAC and the user
    agent as the service stores it (`stored_agent`), plus the current `consents` row; the
    confirmation token of a pending signup carries the raw agent, as the service's does;
  - the confirmation: a `tokens` row (used, payload forgotten; kept while retention keeps it)
    and its `outbox` email (delivered: body and links gone as delivery does; kept 30 days);
  - `audit_log` rows `contact.signup` and `contact.confirm`;
  - a third are buyers: 1-6 `orders` (items JSON), `contact_stats` through the service's
    refresh statement, RFM scores and a temperature; half of those got a survey invitation
    (`survey_invitations`, its email in the outbox when recent) and 40% of those answered
    (`survey_responses`, the NPS/CSAT facts through the service's statement);
  - 5% unsubscribed (a `one_click_unsubscribe` withdrawal), and unconfirmed signups (pending,
    with their unused confirmation token and its payload) in the retention window;
  - memberships in the segments whose rules they match (4 segments, consistent with the rules).

Usage: bench-scale-gen.py SQLITE_FILE CONTACTS   (the schema and migrations must be applied)
"""

import hashlib
import json
import os
import random
import re
import sqlite3
import sys
import time
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAYS = int(os.environ.get("BENCH_SCALE_DAYS", "730"))
PENDING_SHARE = 0.10  # of the signups still inside the unconfirmed-retention window
UNSUBSCRIBED_SHARE = 0.05
BUYER_SHARE = 1 / 3
RETENTION_DAYS = 30  # UNCONFIRMED_RETENTION_DAYS' default
DELIVERED_DAYS = 30  # src/jobs/cron.rs
USED_TOKEN_DAYS = 7

# ---------------------------------------------------------------------------------------------
# The service's SQL, read out of src/store.


def rust_strings(path):
    """Every Rust string literal of a file, continuation lines joined as rustc joins them."""
    text = open(os.path.join(ROOT, path), encoding="utf-8").read()
    out = []
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"', text, re.S):
        s = re.sub(r"\\\n\s*", "", m.group(1))
        out.append(s.replace('\\"', '"'))
    return text, out


def rust_sql(path, prefix, **fill):
    """The statement in `path` starting with `prefix`; `{NAME}` filled from the file's consts
    (or `fill`), as the service's `format!` does."""
    text, strings = rust_strings(path)
    found = [s for s in strings if s.startswith(prefix)]
    if not found:
        sys.exit(f"bench-scale-gen: no statement starting {prefix!r} in {path}: update this script")
    sql = found[0]
    for name in re.findall(r"\{([A-Z_a-z]+)\}", sql):
        if name in fill:
            value = fill[name]
        else:
            m = re.search(r"const " + name + r': &str\s*=\s*"((?:[^"\\]|\\.)*)"', text, re.S)
            if not m:
                sys.exit(f"bench-scale-gen: no const {name} in {path}")
            value = re.sub(r"\\\n\s*", "", m.group(1))
        sql = sql.replace("{" + name + "}", value)
    return sql


SQL = {
    "contact": rust_sql("src/store/contacts.rs", "INSERT INTO contacts (id, email, email_hash, name"),
    "attribute": rust_sql("src/store/contacts.rs", "INSERT INTO contact_attributes"),
    "consent_event": rust_sql("src/store/consents.rs", "INSERT INTO consent_events"),
    "consent": rust_sql("src/store/consents.rs", "INSERT INTO consents"),
    "form": rust_sql("src/store/forms.rs", "INSERT INTO forms"),
    "notice": rust_sql("src/store/notices.rs", "INSERT INTO notices"),
    "token": rust_sql("src/store/tokens.rs", "INSERT INTO tokens (hash, purpose, contact_id, payload, created_at, expires_at) VALUES"),
    "take": rust_sql("src/store/tokens.rs", "UPDATE tokens SET used_at = ?3, payload = NULL"),
    "outbox": rust_sql("src/store/outbox.rs", "INSERT INTO outbox ({NEW_COLUMNS}) VALUES"),
    "claim": rust_sql("src/store/outbox.rs", "UPDATE outbox SET attempts = attempts + 1", COLUMNS="id", list="?3"),
    "sent": rust_sql("src/store/outbox.rs", "UPDATE outbox SET sent_at = ?1", list="?2"),
    "audit": rust_sql("src/store/audit.rs", "INSERT INTO audit_log"),
    "activate": rust_sql("src/store/contacts.rs", "UPDATE contacts SET status = 'active'"),
    "order": rust_sql("src/store/orders.rs", "INSERT INTO orders"),
    "stats": rust_sql("src/store/orders.rs", "INSERT INTO contact_stats (contact_id, order_count"),
    "temperature": rust_sql("src/store/segments.rs", "INSERT INTO contact_stats (contact_id, temperature"),
    # The service scores RFM set-based in the daily run (one UPDATE … FROM per contact range,
    # src/store/segments.rs), which the bench runs itself; the base starts from the same columns.
    "rfm": "UPDATE contact_stats SET rfm_r = ?2, rfm_f = ?3, rfm_m = ?4, rfm_segment = ?5, "
           "updated_at = ?6 WHERE contact_id = ?1",
    "survey": rust_sql("src/store/surveys.rs", "INSERT INTO surveys (id, name, definition, expires_after_days"),
    "invitation": rust_sql("src/store/surveys.rs", "INSERT INTO survey_invitations (id, survey_id, contact_id, order_id"),
    "response": rust_sql("src/store/surveys.rs", "INSERT INTO survey_responses"),
    "answered": rust_sql("src/store/surveys.rs", "UPDATE survey_invitations SET answered_at"),
    "survey_stats": rust_sql("src/store/surveys.rs", "INSERT INTO contact_stats (contact_id, last_nps"),
    "segment": rust_sql("src/store/segments.rs", "INSERT INTO segments"),
    "size": rust_sql("src/store/segments.rs", "UPDATE segments SET size = (SELECT COUNT(*)"),
    "member": rust_sql("src/store/segments.rs", "INSERT INTO segment_members (segment_id, contact_id, since) VALUES {rows}",
                       rows="(?1, ?2, ?3)"),
}

# ---------------------------------------------------------------------------------------------
# Values shaped like the service's.

rng = random.Random(14)
FIRST = ["Ana", "Bruno", "Carla", "Diego", "Eduarda", "Felipe", "Gabriela", "Henrique", "Isabela", "João",
         "Larissa", "Marcos", "Natália", "Otávio", "Paula", "Rafael", "Sofia", "Tiago", "Vitória", "Miguel"]
LAST = ["Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
        "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira", "Barbosa"]
DOMAINS = ["gmail.com"] * 6 + ["hotmail.com", "outlook.com", "yahoo.com.br", "uol.com.br", "icloud.com"]
PLACES = [("BR", "São Paulo", "pt-BR")] * 4 + [("BR", "Rio de Janeiro", "pt-BR")] * 2 + [
    ("BR", "Belo Horizonte", "pt-BR"), ("BR", "Recife", "pt-BR"), ("PT", "Lisboa", "pt-PT"), ("PT", "Porto", "pt-PT"),
    ("US", "Miami", "en")]
AGENTS = [  # as `http::client::user_agent` keeps them: control characters dropped, 256 chars at most
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-A546E Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/129.0.6668.100 Mobile Safari/537.36 Instagram 352.0.0.38.100 Android (34/14; 450dpi; 1080x2340; samsung; SM-A546E; a54x; s5e8835; pt_BR; 649361012)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
]
CATEGORIES = ["calçados", "vestuário", "acessórios", "beleza", "casa"]
NOW = datetime.now(timezone.utc).replace(microsecond=0)
FORM_ID = "frm_" + hashlib.sha256(b"bench-scale-form").hexdigest()[:32]
SURVEY_ID = "srv_" + hashlib.sha256(b"bench-scale-survey").hexdigest()[:32]
NOTICES = {
    "marketing_email": ("Aceito receber ofertas e novidades por e-mail", "2026-01"),
    "profiling": ("Aceito que meu histórico de compras personalize as ofertas", "2026-01"),
}
NOTICE_HASH = {p: hashlib.sha256(t.encode()).hexdigest() for p, (t, _) in NOTICES.items()}


def stored_agent(agent):
    """What a consent event keeps of the browser: src/domain/consent.rs `user_agent_hash`."""
    return hashlib.sha256(agent.encode()).hexdigest()


def ts(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def hexid(n=32):
    return "%0*x" % (n, rng.getrandbits(4 * n))


def uuid7(dt):
    ms = int(dt.timestamp() * 1000)
    r = rng.getrandbits(74)
    h = f"{ms:012x}7{(r >> 62) & 0xfff:03x}{0x8 | ((r >> 60) & 0x3):x}{(r >> 48) & 0xfff:03x}{r & 0xffffffffffff:012x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def rfm_group(r, f, m):
    grid = [["new_customers", "potential_loyalist", "potential_loyalist", "champions", "champions"],
            ["promising", "potential_loyalist", "potential_loyalist", "loyal", "loyal"],
            ["about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"],
            ["at_risk", "at_risk", "at_risk", "at_risk", "cant_lose"],
            ["lost", "hibernating", "hibernating", "at_risk", "cant_lose"]]
    return grid[5 - r][(f + m + 1) // 2 - 1]


def quintile(rank, n):
    return min(5, 1 + rank * 5 // max(n, 1))


# The segments: (id, name, rule JSON, test on a generated person).
SEGMENTS = [
    ("seg_" + hexid(), "Brasil", {"field": "country", "op": "eq", "value": "BR"}, lambda p: p["country"] == "BR"),
    ("seg_" + hexid(), "Big spenders", {"field": "total_spent", "op": "gte", "value": "500.00"},
     lambda p: p["spent"] >= 50000),
    ("seg_" + hexid(), "Hot", {"field": "temperature", "op": "eq", "value": "hot"}, lambda p: p["temperature"] == "hot"),
    ("seg_" + hexid(), "Promoters", {"field": "nps_category", "op": "eq", "value": "promoter"},
     lambda p: p["nps_category"] == "promoter"),
]


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -400000")
    db.execute("BEGIN")
    t0 = time.time()
    start = NOW - timedelta(days=DAYS)
    form_def = json.dumps({  # the stored shape: FormDefinition serialized back to the form input
        "name": "Newsletter", "redirect_url": None, "turnstile_site_key": None,
        "fields": [{"key": "email", "type": "email", "required": True}, {"key": "name", "type": "text"},
                   {"key": "country", "type": "text"}, {"key": "city", "type": "text"},
                   {"key": "shoe_size", "type": "text"}, {"key": "interests", "type": "text"}],
        "consents": [{"purpose": p, "required": p == "marketing_email", "policy_version": v, "text": {"pt-BR": t}}
                     for p, (t, v) in NOTICES.items()],
        "allowed_origins": ["https://loja.example"], "double_opt_in": True, "locale": "pt-BR"})
    at0 = ts(start)
    db.execute(SQL["form"], (FORM_ID, "Newsletter", form_def, at0))
    for p, (t, v) in NOTICES.items():
        db.execute(SQL["notice"], (NOTICE_HASH[p], t, "pt-BR", p, v, FORM_ID, at0))
    db.execute(SQL["survey"], (SURVEY_ID, "Pós-compra", json.dumps({  # the stored SurveyDefinition
        "name": "Pós-compra", "locale": "pt-BR", "expires_after_days": 30, "questions": [
            {"key": "nps", "type": "nps", "required": True, "text": {"pt-BR": "De 0 a 10, recomendaria a loja?"}},
            {"key": "csat", "type": "csat", "required": False, "text": {"pt-BR": "Como foi a entrega?"}},
            {"key": "comment", "type": "text", "required": False, "max_len": 2000, "text": {"pt-BR": "Algo mais?"}}]}),
        30, at0))

    people = []
    rows = 0
    ex = db.execute
    for i in range(n):
        created = start + timedelta(seconds=(DAYS * 86400) * (i + rng.random()) / n)
        age_days = (NOW - created).total_seconds() / 86400
        at = ts(created)
        cid = uuid7(created)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first.lower()}.{last.lower()}{i}@{rng.choice(DOMAINS)}".replace("ã", "a").replace("é", "e") \
            .replace("í", "i").replace("ó", "o").replace("ô", "o").replace("á", "a")
        country, city, locale = rng.choice(PLACES)
        pending = age_days < RETENTION_DAYS + 1 and rng.random() < PENDING_SHARE
        agent = rng.choice(AGENTS)
        ip_hash = hexid(64)
        phone = f"+55119{rng.randrange(10**7, 10**8)}" if rng.random() < 0.3 else None
        birth = f"{rng.randrange(1960, 2006)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}" \
            if rng.random() < 0.2 else None
        # A double opt-in signup: pending, then (unless still pending) confirmed a few minutes later.
        ex(SQL["contact"], (cid, email, hexid(64), f"{first} {last}", phone, locale, country, city, birth, None,
                            "pending", FORM_ID, at, None, None))
        ex(SQL["attribute"], (cid, "shoe_size", json.dumps(str(rng.randrange(34, 45))), at))
        ex(SQL["attribute"], (cid, "interests", json.dumps(rng.choice(CATEGORIES)), at))
        ex(SQL["audit"], (uuid7(created), at, f"form:{FORM_ID}", "contact.signup", cid))
        purposes = ["marketing_email"] + (["profiling"] if rng.random() < 1 / 3 else [])
        token = hexid(64)
        payload = json.dumps({"form_id": FORM_ID, "locale": locale, "consents": [
            {"purpose": p, "policy_version": NOTICES[p][1], "notice_text_hash": NOTICE_HASH[p]} for p in purposes],
            "changes": None, "submitted": {"at": at, "ip_hash": ip_hash, "user_agent": agent}})
        token_kept = pending or age_days < USED_TOKEN_DAYS + 1
        if token_kept:
            ex(SQL["token"], (token, "confirm", cid, payload, at, ts(created + timedelta(days=7))))
        if age_days < DELIVERED_DAYS + 1:
            msg = "msg_" + hexid()
            ex(SQL["outbox"], (msg, cid, email, "confirm", "Confirme sua inscrição", "Olá! " + "x" * 600,
                               f"https://clientela.example/confirm?t={hexid(43)}", None, None, at,
                               hexid(64)))
            ex(SQL["claim"], (at, ts(created + timedelta(minutes=1)), msg)).fetchall()
            ex(SQL["sent"], (ts(created + timedelta(seconds=3)), msg))
            rows += 1
        rows += 5 + token_kept
        person = {"id": cid, "country": country, "spent": 0, "temperature": "cold", "nps_category": None,
                  "created": created}
        if pending:
            people.append(None)
            continue
        confirmed = created + timedelta(minutes=rng.randrange(1, 240))
        cat = ts(confirmed)
        ex(SQL["activate"], (cid, cat))
        if token_kept:
            ex(SQL["take"], (token, "confirm", cat)).fetchall()
        for p in purposes:
            for method, when, ua in (("form", at, agent), ("double_opt_in", cat, rng.choice([agent, agent, rng.choice(AGENTS)]))):
                ex(SQL["consent_event"], (uuid7(created), cid, p, "granted", NOTICES[p][1], NOTICE_HASH[p], FORM_ID,
                                          method, ip_hash, stored_agent(ua), when, None))
                ex(SQL["consent"], (cid, p, 1, NOTICES[p][1], when, None))
                rows += 2
        ex(SQL["audit"], (uuid7(confirmed), cat, f"contact:{cid}", "contact.confirm", cid))
        rows += 1
        if rng.random() < UNSUBSCRIBED_SHARE:
            out = confirmed + timedelta(days=rng.random() * max(age_days - 1, 0.01))
            oat = ts(out)
            ex(SQL["consent_event"], (uuid7(out), cid, "marketing_email", "withdrawn", None, None, "unsubscribe",
                                      "one_click_unsubscribe", hexid(64), stored_agent(rng.choice(AGENTS)), oat, None))
            ex(SQL["consent"], (cid, "marketing_email", 0, None, oat, None))
            ex("UPDATE contacts SET status = 'unsubscribed', updated_at = ?2 WHERE id = ?1", (cid, oat))
            ex(SQL["audit"], (uuid7(out), oat, f"contact:{cid}", "contact.unsubscribe", cid))
            rows += 3
            person = None  # not in any marketing_email segment
        if rng.random() < BUYER_SHARE:
            last_order = None
            for k in range(1 + int(rng.expovariate(0.8)) % 6):
                placed = confirmed + timedelta(days=rng.random() * max(age_days, 0.01))
                placed = min(placed, NOW - timedelta(minutes=1))
                items = [{"sku": f"SKU-{rng.randrange(1, 5000):05d}", "name": "Produto", "category": rng.choice(CATEGORIES),
                          "quantity": rng.randrange(1, 3), "price_cents": rng.randrange(1990, 39990)}
                         for _ in range(rng.randrange(1, 4))]
                total = sum(it["quantity"] * it["price_cents"] for it in items)
                oid = "ord_" + hexid()
                ex(SQL["order"], (oid, f"PED-{i}-{k}", cid, total, "BRL", ts(placed), json.dumps(items), ts(placed)))
                rows += 1
                if last_order is None or placed > last_order[1]:
                    last_order = (oid, placed)
            ex(SQL["stats"], (cid, ts(last_order[1]), None))
            rows += 1
            recency = (NOW - last_order[1]).days
            temperature = "hot" if recency < 30 else "warm" if recency < 120 else "cold"
            ex(SQL["temperature"], (cid, temperature, ts(NOW)))
            if person is not None:
                person["temperature"] = temperature
            if rng.random() < 0.5:
                inv_at = last_order[1] + timedelta(days=3)
                if inv_at < NOW:
                    inv = "inv_" + hexid()
                    ex(SQL["invitation"], (inv, SURVEY_ID, cid, last_order[0], hexid(64), ts(inv_at),
                                           ts(inv_at + timedelta(days=30)), None))
                    rows += 1
                    if (NOW - inv_at).days < DELIVERED_DAYS:
                        msg = "msg_" + hexid()
                        ex(SQL["outbox"], (msg, cid, email, "survey_invitation", "Como foi sua compra?", "y" * 500,
                                           "https://clientela.example/s/x", None, None, ts(inv_at), None))
                        ex(SQL["sent"], (ts(inv_at + timedelta(seconds=5)), msg))
                        rows += 1
                    if rng.random() < 0.4:
                        nps, csat = rng.choice([10, 10, 9, 9, 8, 7, 6, 3]), rng.randrange(1, 6)
                        cat_nps = "promoter" if nps >= 9 else "passive" if nps >= 7 else "detractor"
                        rid, rat = "rsp_" + hexid(), ts(inv_at + timedelta(hours=rng.randrange(1, 72)))
                        answers = json.dumps({"nps": nps, "csat": csat, "comment": rng.choice(["", "", "Entrega rápida!", "Gostei muito dos produtos, voltarei a comprar."])})
                        ex(SQL["answered"], (inv, rid, rat))
                        ex(SQL["response"], (inv, rid, SURVEY_ID, cid, answers, nps, csat, None, rat))
                        ex(SQL["survey_stats"], (inv, rid, cid, nps, cat_nps, csat, rat, "hot"))
                        rows += 1
                        if person is not None:
                            person["nps_category"] = cat_nps
        people.append(person)
        if i % 50000 == 49999:
            print(f"bench-scale-gen: {i + 1} contacts, {time.time() - t0:.0f}s", file=sys.stderr)

    # RFM scores as the daily run computes them: quintiles of recency, frequency and money.
    buyers = ex("SELECT contact_id, last_order_at, order_count, total_spent_cents FROM contact_stats "
                "WHERE order_count > 0").fetchall()
    nb = len(buyers)
    r_rank = {b[0]: k for k, b in enumerate(sorted(buyers, key=lambda b: b[1]))}
    f_rank = {b[0]: k for k, b in enumerate(sorted(buyers, key=lambda b: b[2]))}
    m_rank = {b[0]: k for k, b in enumerate(sorted(buyers, key=lambda b: b[3]))}
    spent = {}
    for cid, _, _, money in buyers:
        r, f, m = quintile(r_rank[cid], nb), quintile(f_rank[cid], nb), quintile(m_rank[cid], nb)
        ex(SQL["rfm"], (cid, r, f, m, rfm_group(r, f, m), ts(NOW)))
        spent[cid] = money

    # Segments and their members (every member holds marketing_email: unsubscribed and pending
    # people are in none).
    for sid, name, rule, test in SEGMENTS:
        ex(SQL["segment"], (sid, name, json.dumps(rule), "marketing_email", "building", at0))
        members = 0
        for p in people:
            if p is None:
                continue
            p["spent"] = spent.get(p["id"], 0)
            if test(p):
                ex(SQL["member"], (sid, p["id"], ts(p["created"] + timedelta(hours=1))))
                members += 1
        ex(SQL["size"], (sid, 1, 1, "ready", ts(NOW - timedelta(days=1))))
        rows += members
    db.execute("COMMIT")
    print(f"bench-scale-gen: {n} contacts ({rows} rows of theirs) in {time.time() - t0:.0f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
