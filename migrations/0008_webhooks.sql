-- 0008 events out: webhook subscriptions, the event log behind them and the change feed, and
-- one delivery row per event and subscription.

-- Subscriptions. The secret signs every delivery, so it is kept (it is shown once, at creation,
-- and never listed). `with_email`: whether the key that created it could read contacts, and so
-- whether bodies may carry addresses. `last_seq`: the last event fanned out to it (events after it
-- become deliveries); a new or re-enabled subscription starts at the newest event.
CREATE TABLE webhooks (
  id               TEXT PRIMARY KEY,                -- whk_…
  url              TEXT NOT NULL,
  events           TEXT NOT NULL,                   -- JSON array of event types
  segment_ids      TEXT,                            -- JSON array; NULL: every segment
  description      TEXT NOT NULL DEFAULT '',
  include_rebuilds INTEGER NOT NULL DEFAULT 0,
  secret           TEXT NOT NULL,
  with_email       INTEGER NOT NULL,
  created_by       TEXT NOT NULL,                   -- API key id
  last_seq         INTEGER NOT NULL,
  failing_since    TEXT,                            -- first failure since the last success or quiet spell
  last_failure_at  TEXT,
  disabled_at      TEXT,
  disabled_reason  TEXT,
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  deleted_at       TEXT                             -- its deliveries go first (daily purge)
);

-- What happened, in commit order: `seq` is the feed's cursor (AUTOINCREMENT never reuses one,
-- so a position once read never names another event). No personal data beyond ids: the address
-- a body may carry is read from the contact when it is sent, so an erasure removes it from
-- everything not yet sent. Kept 30 days (the daily purge, by `seq`).
CREATE TABLE events (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  type       TEXT NOT NULL,
  at         TEXT NOT NULL,
  contact_id TEXT,
  segment_id TEXT,
  detail     TEXT,                                  -- JSON object: what changed
  rebuild    INTEGER NOT NULL DEFAULT 0             -- the first build of a new segment
);
-- Erasure deletes the person's events (their answers and memberships must not stay linked to
-- them); only the erasure's own event keeps the id.
CREATE INDEX events_contact ON events(contact_id) WHERE contact_id IS NOT NULL;

-- One event to one subscription: attempts, the last answer and when to try next (`next_at` is
-- also the lease a sender holds while it posts). `log`: every attempt's time and status.
CREATE TABLE webhook_deliveries (
  webhook_id  TEXT NOT NULL,
  event_seq   INTEGER NOT NULL,
  state       TEXT NOT NULL,                        -- pending, delivered, failed
  attempts    INTEGER NOT NULL DEFAULT 0,
  next_at     TEXT NOT NULL,
  last_status INTEGER,                              -- HTTP status; NULL: no answer
  log         TEXT NOT NULL DEFAULT '[]',
  created_at  TEXT NOT NULL,
  PRIMARY KEY (webhook_id, event_seq)
) WITHOUT ROWID;

-- The daily sweep finds deliveries whose queue message was lost.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries(next_at) WHERE state = 'pending';
