-- 0006 fewer rows written per signup, confirmation, sign-in link and delivery (BENCHMARKS.md
-- "D1 rows per operation"). D1 bills every row written, index entries included: an insert into a
-- rowid table with a TEXT primary key writes the row, the key's own index and one entry per
-- secondary index. Nothing here changes what a query returns. The outbox and tokens copies are
-- small (delivered mail keeps 30 days of metadata, tokens live hours to days); consent events
-- are not (see 6).

-- 1. Rate counters: one row per key and window, no secondary index (the window leads the key, so
--    retention deletes old windows by key range), and the cap in the row: the database refuses a
--    count past it (`rate_within_cap`), so the count can ride in the same batch as the writes it
--    guards and a refused batch writes nothing. Counters are per hour: dropping the old table
--    only restarts the current hour's counts.
DROP TABLE IF EXISTS rate_counters;
CREATE TABLE rate_counters (
  window_start TEXT NOT NULL,
  key          TEXT NOT NULL,
  count        INTEGER NOT NULL,
  cap          INTEGER NOT NULL,
  PRIMARY KEY (window_start, key),
  CONSTRAINT rate_within_cap CHECK (count <= cap)
) WITHOUT ROWID;

-- 2. The audit log is read in id order: its ids are UUID v7, which sort by time, so the (at, id)
--    index only repeated the key.
DROP INDEX IF EXISTS audit_log_at;

-- 3. Contacts: no status index. Retention looks for signups left pending once a day, over a
--    table it reads whole anyway in chunks (a few cents a year of rows read at 1M contacts); an
--    index would cost every signup and every confirmation a row written. Country is indexed for
--    the contacts that have one (a comparison implies NOT NULL, so segment rules still use it).
DROP INDEX IF EXISTS contacts_status_created;
DROP INDEX IF EXISTS contacts_country;
CREATE INDEX contacts_country ON contacts(country) WHERE country IS NOT NULL;

-- 4. Tokens, looked up by hash: WITHOUT ROWID stores the key once. Only the contact's index
--    stays (erasure, signing out everywhere); retention finds expired and spent tokens by reading
--    the table, which holds days of tokens, not years.
CREATE TABLE tokens_0006 (
  hash       TEXT PRIMARY KEY,
  purpose    TEXT NOT NULL,                     -- confirm, magic_link, session, ...
  contact_id TEXT,
  payload    TEXT,                              -- JSON, purpose-specific
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at    TEXT
) WITHOUT ROWID;
INSERT INTO tokens_0006 (hash, purpose, contact_id, payload, created_at, expires_at, used_at)
  SELECT hash, purpose, contact_id, payload, created_at, expires_at, used_at FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_0006 RENAME TO tokens;
CREATE INDEX tokens_contact ON tokens(contact_id);

-- 5. Outbox, looked up by id: WITHOUT ROWID, and two indexes instead of six. Every message now
--    carries the HMAC of its folded mailbox, and `outbox_mailbox` serves the caps, a recipient's
--    list (the few messages of one mailbox, filtered by address) and erasure. `outbox_created`
--    serves the admin list, the retry sweep and retention: the table holds 30 days of mail.
--    Messages written before this release have no mailbox HMAC: `outbox_legacy_to` holds only
--    those (no message written from now on enters it) until retention empties it.
CREATE TABLE outbox_0006 (
  id              TEXT PRIMARY KEY,             -- msg_...
  contact_id      TEXT,
  to_email        TEXT NOT NULL,
  kind            TEXT NOT NULL,                -- confirm, magic_link, survey_invitation, update_request, test
  subject         TEXT NOT NULL,
  body_text       TEXT NOT NULL,
  url             TEXT,
  unsubscribe_url TEXT,
  preferences_url TEXT,
  created_at      TEXT NOT NULL,
  sent_at         TEXT,
  attempts        INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT,
  next_attempt_at TEXT,
  mailbox_hash    TEXT
) WITHOUT ROWID;
INSERT INTO outbox_0006 (id, contact_id, to_email, kind, subject, body_text, url, unsubscribe_url,
    preferences_url, created_at, sent_at, attempts, last_error, next_attempt_at, mailbox_hash)
  SELECT id, contact_id, to_email, kind, subject, body_text, url, unsubscribe_url,
    preferences_url, created_at, sent_at, attempts, last_error, next_attempt_at, mailbox_hash
  FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_0006 RENAME TO outbox;
CREATE INDEX outbox_mailbox ON outbox(mailbox_hash, kind, created_at) WHERE mailbox_hash IS NOT NULL;
CREATE INDEX outbox_created ON outbox(created_at, id);
CREATE INDEX outbox_legacy_to ON outbox(to_email, created_at, id) WHERE mailbox_hash IS NULL;

-- 6. Consent events: WITHOUT ROWID keyed by (contact_id, at, id), the order a person's history
--    is read in, so an event is one row written instead of three (row, id key, contact index).
--    The two erased-proof indexes hold erased people's events only. On a large base this copy is
--    the longest statement here: run it in a quiet hour (each statement must stay within 30 s).
CREATE TABLE consent_events_0006 (
  id               TEXT NOT NULL,
  contact_id       TEXT NOT NULL,
  purpose          TEXT NOT NULL,               -- marketing_email, sms, whatsapp, profiling, ...
  action           TEXT NOT NULL CHECK (action IN ('granted','withdrawn')),
  policy_version   TEXT,
  notice_text_hash TEXT,                        -- SHA-256 of the exact text shown
  source           TEXT NOT NULL,               -- form id, 'me', 'import', 'order', ...
  method           TEXT NOT NULL CHECK (method IN ('form','double_opt_in','self_service','one_click_unsubscribe','import','admin','re_permission')),
  ip_hash          TEXT,
  user_agent       TEXT,
  at               TEXT NOT NULL,
  email_hash       TEXT,
  PRIMARY KEY (contact_id, at, id)
) WITHOUT ROWID;
INSERT INTO consent_events_0006 (id, contact_id, purpose, action, policy_version, notice_text_hash,
    source, method, ip_hash, user_agent, at, email_hash)
  SELECT id, contact_id, purpose, action, policy_version, notice_text_hash,
    source, method, ip_hash, user_agent, at, email_hash
  FROM consent_events;
DROP TABLE consent_events;
ALTER TABLE consent_events_0006 RENAME TO consent_events;
CREATE INDEX consent_events_email_hash ON consent_events(email_hash, at)
  WHERE email_hash IS NOT NULL;
CREATE INDEX consent_events_erased_at ON consent_events(at)
  WHERE email_hash IS NOT NULL;

-- 7. A contact's derived facts, looked up by contact: WITHOUT ROWID, so an order or a survey
--    answer moving them writes one row, not two. One row per buyer or respondent.
CREATE TABLE contact_stats_0006 (
  contact_id        TEXT PRIMARY KEY REFERENCES contacts(id) ON DELETE CASCADE,
  order_count       INTEGER NOT NULL DEFAULT 0,
  total_spent_cents INTEGER NOT NULL DEFAULT 0,
  first_order_at    TEXT,
  last_order_at     TEXT,
  last_nps          INTEGER,
  nps_category      TEXT CHECK (nps_category IN ('promoter','passive','detractor')),
  avg_csat          REAL,
  csat_count        INTEGER NOT NULL DEFAULT 0,
  temperature       TEXT NOT NULL DEFAULT 'cold' CHECK (temperature IN ('cold','warm','hot')),
  rfm_r             INTEGER,
  rfm_f             INTEGER,
  rfm_m             INTEGER,
  rfm_segment       TEXT,
  updated_at        TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO contact_stats_0006 (contact_id, order_count, total_spent_cents, first_order_at,
    last_order_at, last_nps, nps_category, avg_csat, csat_count, temperature, rfm_r, rfm_f, rfm_m,
    rfm_segment, updated_at)
  SELECT contact_id, order_count, total_spent_cents, first_order_at,
    last_order_at, last_nps, nps_category, avg_csat, csat_count, temperature, rfm_r, rfm_f, rfm_m,
    rfm_segment, updated_at
  FROM contact_stats;
DROP TABLE contact_stats;
ALTER TABLE contact_stats_0006 RENAME TO contact_stats;
