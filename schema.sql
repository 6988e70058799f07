-- Clientela: the one schema (DESIGN.md "Data model").
-- This is the schema of the first release, applied once to an empty database (locally with
-- `wrangler d1 execute DB --local --file schema.sql`, in production with `--remote`); every change
-- since is a file in migrations/. Never re-apply it to a migrated database: its IF NOT EXISTS
-- statements would bring back tables and indexes the migrations dropped (`make dev` checks).
-- Times are RFC 3339 UTC text; money is integer cents plus an ISO 4217 currency.

CREATE TABLE IF NOT EXISTS contacts (
  id               TEXT PRIMARY KEY,            -- UUID v7
  email            TEXT NOT NULL,               -- normalized (trimmed, lower-cased domain)
  email_hash       TEXT NOT NULL,               -- HMAC-SHA256(TOKEN_SECRET, email), hex
  name             TEXT,
  phone            TEXT,
  locale           TEXT,
  country          TEXT,                        -- ISO 3166-1 alpha-2
  city             TEXT,
  birth_date       TEXT,                        -- YYYY-MM-DD
  gender           TEXT,
  preferred_channel TEXT NOT NULL DEFAULT 'email' CHECK (preferred_channel IN ('email','sms','whatsapp')),
  status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','active','unsubscribed')),
  source           TEXT NOT NULL,               -- form id, 'import', 'api', 'order'
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  confirmed_at     TEXT,
  last_activity_at TEXT,
  data_confirmed_at TEXT,                       -- last time the person confirmed their data is current
  pending_changes  TEXT                         -- JSON of submitted changes awaiting confirmation
);
CREATE UNIQUE INDEX IF NOT EXISTS contacts_email_hash ON contacts(email_hash);
CREATE INDEX IF NOT EXISTS contacts_status_created ON contacts(status, created_at);
CREATE INDEX IF NOT EXISTS contacts_country ON contacts(country);

CREATE TABLE IF NOT EXISTS contact_attributes (
  contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
  key        TEXT NOT NULL,
  value      TEXT NOT NULL,                     -- JSON-encoded value
  updated_at TEXT NOT NULL,
  PRIMARY KEY (contact_id, key)
);
CREATE INDEX IF NOT EXISTS contact_attributes_key_value ON contact_attributes(key, value);

-- Append-only proof of every consent decision (GDPR Art. 7(1), LGPD Art. 8 §2).
CREATE TABLE IF NOT EXISTS consent_events (
  id               TEXT PRIMARY KEY,
  contact_id       TEXT NOT NULL,
  purpose          TEXT NOT NULL,               -- marketing_email, sms, whatsapp, profiling, ...
  action           TEXT NOT NULL CHECK (action IN ('granted','withdrawn')),
  policy_version   TEXT,
  notice_text_hash TEXT,                        -- SHA-256 of the exact text shown
  source           TEXT NOT NULL,               -- form id, 'me', 'import', 'order', ...
  method           TEXT NOT NULL CHECK (method IN ('form','double_opt_in','self_service','one_click_unsubscribe','import','admin','re_permission')),
  ip_hash          TEXT,
  user_agent       TEXT,
  at               TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_events_contact ON consent_events(contact_id, at);

-- Current state per (contact, purpose), derived from consent_events.
CREATE TABLE IF NOT EXISTS consents (
  contact_id     TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
  purpose        TEXT NOT NULL,
  granted        INTEGER NOT NULL CHECK (granted IN (0,1)),
  policy_version TEXT,
  updated_at     TEXT NOT NULL,
  PRIMARY KEY (contact_id, purpose)
);
CREATE INDEX IF NOT EXISTS consents_purpose_granted ON consents(purpose, granted, contact_id);

CREATE TABLE IF NOT EXISTS forms (
  id          TEXT PRIMARY KEY,                 -- frm_...
  name        TEXT NOT NULL,
  definition  TEXT NOT NULL,                    -- JSON: fields, consents, origins, locale, doi, redirect
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  archived_at TEXT
);

CREATE TABLE IF NOT EXISTS surveys (
  id                 TEXT PRIMARY KEY,          -- srv_...
  name               TEXT NOT NULL,
  definition         TEXT NOT NULL,             -- JSON: locale, questions
  expires_after_days INTEGER NOT NULL DEFAULT 30,
  created_at         TEXT NOT NULL,
  updated_at         TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS survey_invitations (
  id          TEXT PRIMARY KEY,                 -- inv_...
  survey_id   TEXT NOT NULL REFERENCES surveys(id),
  contact_id  TEXT,                             -- NULL once the person is erased
  order_id    TEXT,
  token_hash  TEXT NOT NULL UNIQUE,
  created_at  TEXT NOT NULL,
  expires_at  TEXT NOT NULL,
  answered_at TEXT
);
CREATE INDEX IF NOT EXISTS survey_invitations_survey ON survey_invitations(survey_id);
CREATE INDEX IF NOT EXISTS survey_invitations_contact ON survey_invitations(contact_id);

CREATE TABLE IF NOT EXISTS survey_responses (
  id            TEXT PRIMARY KEY,
  survey_id     TEXT NOT NULL REFERENCES surveys(id),
  invitation_id TEXT NOT NULL UNIQUE REFERENCES survey_invitations(id),
  contact_id    TEXT,                           -- NULL after erasure (scores kept for aggregates)
  answers       TEXT NOT NULL,                  -- JSON
  nps           INTEGER,
  csat          INTEGER,
  ces           INTEGER,
  created_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS survey_responses_survey ON survey_responses(survey_id);
CREATE INDEX IF NOT EXISTS survey_responses_contact ON survey_responses(contact_id);

CREATE TABLE IF NOT EXISTS orders (
  id          TEXT PRIMARY KEY,
  external_id TEXT NOT NULL UNIQUE,
  contact_id  TEXT,                             -- NULL after erasure
  total_cents INTEGER NOT NULL,
  currency    TEXT NOT NULL,
  placed_at   TEXT NOT NULL,
  items       TEXT NOT NULL DEFAULT '[]',       -- JSON [{sku,name,category,quantity,price_cents}]
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_contact ON orders(contact_id, placed_at);

CREATE TABLE IF NOT EXISTS order_items (
  order_id TEXT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
  line     INTEGER NOT NULL,
  sku      TEXT,
  category TEXT,
  PRIMARY KEY (order_id, line)
);
CREATE INDEX IF NOT EXISTS order_items_category ON order_items(category, order_id);
CREATE INDEX IF NOT EXISTS order_items_sku ON order_items(sku, order_id);

-- Per-contact facts kept current on every write, so segments read one row per contact.
CREATE TABLE IF NOT EXISTS contact_stats (
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
);

CREATE TABLE IF NOT EXISTS segments (
  id          TEXT PRIMARY KEY,                 -- seg_...
  name        TEXT NOT NULL,
  rule        TEXT NOT NULL,                    -- JSON rule tree
  purpose     TEXT NOT NULL DEFAULT 'marketing_email', -- members must hold this consent
  version     INTEGER NOT NULL DEFAULT 1,
  size        INTEGER NOT NULL DEFAULT 0,
  state       TEXT NOT NULL DEFAULT 'building' CHECK (state IN ('building','ready')),
  computed_at TEXT,
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  deleted_at  TEXT
);

CREATE TABLE IF NOT EXISTS segment_members (
  segment_id TEXT NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
  contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
  since      TEXT NOT NULL,
  PRIMARY KEY (segment_id, contact_id)
);
CREATE INDEX IF NOT EXISTS segment_members_contact ON segment_members(contact_id);

-- Link tokens (confirm, magic link, survey, unsubscribe) and self-service sessions.
-- Only SHA-256 hashes of the secrets are stored.
CREATE TABLE IF NOT EXISTS tokens (
  hash       TEXT PRIMARY KEY,
  purpose    TEXT NOT NULL,                     -- confirm, magic_link, session, ...
  contact_id TEXT,
  payload    TEXT,                              -- JSON, purpose-specific
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at    TEXT
);
CREATE INDEX IF NOT EXISTS tokens_contact ON tokens(contact_id);
CREATE INDEX IF NOT EXISTS tokens_expires ON tokens(expires_at);

-- Erased or bounced addresses, as HMACs only, so imports cannot bring them back.
CREATE TABLE IF NOT EXISTS suppressions (
  email_hash TEXT PRIMARY KEY,
  reason     TEXT NOT NULL,                     -- erased, bounced, complained, admin
  at         TEXT NOT NULL
);

-- Counters for rate limits that must hold across isolates (per email per day, ...).
CREATE TABLE IF NOT EXISTS rate_counters (
  key          TEXT PRIMARY KEY,
  window_start TEXT NOT NULL,
  count        INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS api_keys (
  id         TEXT PRIMARY KEY,                  -- key_...
  hash       TEXT NOT NULL UNIQUE,              -- SHA-256 of the secret, hex
  prefix     TEXT NOT NULL,                     -- first characters, to recognise a key in lists
  name       TEXT NOT NULL,
  scopes     TEXT NOT NULL,                     -- JSON array
  created_at TEXT NOT NULL,
  last_used_at TEXT,
  revoked_at TEXT
);

CREATE TABLE IF NOT EXISTS audit_log (
  id      TEXT PRIMARY KEY,                     -- UUID v7, so ids sort by time
  at      TEXT NOT NULL,
  actor   TEXT NOT NULL,                        -- api key id, 'bootstrap', 'contact:<id>', 'system'
  action  TEXT NOT NULL,                        -- e.g. key.create, contact.erase
  subject TEXT,                                 -- id of what changed; never an email
  detail  TEXT                                  -- JSON without PII
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log(at, id);

-- Emails to send. The queue delivers them to EMAIL_WEBHOOK_URL; the cron re-sends stragglers.
CREATE TABLE IF NOT EXISTS outbox (
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
  next_attempt_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_to ON outbox(to_email, created_at);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox(sent_at, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_contact ON outbox(contact_id);

-- Queue messages that failed every delivery attempt (the dead-letter queue's consumer keeps them
-- here for operators). Bodies are job envelopes: ids only, never an email.
CREATE TABLE IF NOT EXISTS dead_letters (
  message_id  TEXT PRIMARY KEY,                 -- the dead-letter queue's message id
  queue       TEXT NOT NULL,
  job         TEXT,                             -- deliver_email, contact_changed, ... (NULL: undecodable)
  body        TEXT NOT NULL,
  received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters(received_at, message_id);
