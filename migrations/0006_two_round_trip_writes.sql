-- 0006 fewer rows written per signup, confirmation, sign-in link and delivery (BENCHMARKS.md
-- "D1 rows per operation"). D1 bills every row written, index entries included: an insert into a
-- rowid table with a TEXT primary key writes the row, the key's own index and one entry per
-- secondary index. Nothing here changes what a query returns. The outbox and tokens copies are
-- small (delivered mail keeps 30 days of metadata, tokens live hours to days).

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

-- 3. Contacts: retention looks for pending signups only; active ones no longer carry an entry.
--    Country is indexed for the contacts that have one (a comparison implies NOT NULL, so segment
--    rules still use it).
DROP INDEX IF EXISTS contacts_status_created;
CREATE INDEX contacts_pending ON contacts(created_at) WHERE status = 'pending';
DROP INDEX IF EXISTS contacts_country;
CREATE INDEX contacts_country ON contacts(country) WHERE country IS NOT NULL;

-- 4. Tokens, looked up by hash: WITHOUT ROWID stores the key once.
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
CREATE INDEX tokens_expires ON tokens(expires_at);
CREATE INDEX tokens_used ON tokens(used_at) WHERE used_at IS NOT NULL;

-- 5. Outbox, looked up by id: WITHOUT ROWID. Only undelivered messages sit in `outbox_unsent`
--    (a claim no longer moves an index entry; delivery removes one), and delivered metadata is
--    purged by creation time through `outbox_created`, so `outbox_sent` goes.
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
CREATE INDEX outbox_unsent ON outbox(id) WHERE sent_at IS NULL;
CREATE INDEX outbox_contact ON outbox(contact_id);
CREATE INDEX outbox_mailbox ON outbox(mailbox_hash, kind, created_at) WHERE mailbox_hash IS NOT NULL;
CREATE INDEX outbox_created ON outbox(created_at, id);
CREATE INDEX outbox_to ON outbox(to_email, created_at, id);
