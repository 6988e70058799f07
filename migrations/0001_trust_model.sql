-- 0001 trust model: revocable links, minimal consent proof after erasure, the notice archive,
-- per-mailbox confirmation caps, and consents that only count once confirmed.
-- `schema.sql` is the schema of the first release; every change since is a numbered file here,
-- applied in order by `wrangler d1 migrations apply DB` (make dev, the tests, make deploy).

-- Every signed link (preferences, unsubscribe) carries the epoch it was issued under; moving the
-- epoch on ("sign out everywhere", POST /admin/v1/contacts/{id}/revoke-links) kills them all.
ALTER TABLE contacts ADD COLUMN link_epoch INTEGER NOT NULL DEFAULT 0;

-- Erasure keeps minimal proof of consent decisions: the email HMAC replaces the person; IP hash
-- and user agent are dropped.
ALTER TABLE consent_events ADD COLUMN email_hash TEXT;
CREATE INDEX IF NOT EXISTS consent_events_email_hash ON consent_events(email_hash, at)
  WHERE email_hash IS NOT NULL;

-- HMAC of the folded mailbox (case, +tag, gmail dots), so confirmation emails are capped per
-- mailbox and not per spelling.
ALTER TABLE outbox ADD COLUMN mailbox_hash TEXT;
CREATE INDEX IF NOT EXISTS outbox_mailbox ON outbox(mailbox_hash, kind, created_at)
  WHERE mailbox_hash IS NOT NULL;
CREATE INDEX IF NOT EXISTS outbox_sent ON outbox(sent_at) WHERE sent_at IS NOT NULL;

-- Every notice text a person may be shown (form consent blocks, survey notices, the preference
-- center's own words), word for word, keyed by the SHA-256 that consent events record.
-- Append-only: rows are inserted, never updated or deleted.
CREATE TABLE IF NOT EXISTS notices (
  sha256         TEXT PRIMARY KEY,              -- hex SHA-256 of `text`
  text           TEXT NOT NULL,
  locale         TEXT NOT NULL,
  purpose        TEXT,
  policy_version TEXT,
  source         TEXT NOT NULL,                 -- form id, survey id, 'preference_center'
  created_at     TEXT NOT NULL
);

-- Rate counters are purged daily by window.
CREATE INDEX IF NOT EXISTS rate_counters_window ON rate_counters(window_start);

-- A pending consent counts as granted nowhere: form consents now wait in the confirmation token
-- and are recorded when the person confirms. Grants recorded for still-unconfirmed contacts by
-- earlier versions are withdrawn from the current state (their events stay as history, and their
-- live confirmation links still grant them on confirmation).
DELETE FROM consents WHERE contact_id IN (SELECT id FROM contacts WHERE status = 'pending');

-- Delivered messages keep their metadata only: no live link or body outside delivery.
UPDATE outbox SET url = NULL, unsubscribe_url = NULL, preferences_url = NULL, body_text = ''
  WHERE sent_at IS NOT NULL;
