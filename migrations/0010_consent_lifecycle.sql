-- 0010 consent lifecycle: consents that lapse after a period without engagement and are
-- renewed by the person, objections recorded from a browser's Global Privacy Control, a chosen
-- frequency per purpose, and "is this still right?" requests for profiles nobody confirmed in
-- a long time.

-- 1. Consent events learn three methods: `expired` (a consent lapsed after its period without
--    engagement: recorded as `withdrawn`), `gpc` (an objection to profiling carried by the
--    person's own request with `Sec-GPC: 1`) and the chosen `frequency` of a grant. The CHECK
--    cannot be altered in place, so the table is copied as 0006 did (same key, same indexes).
--    On a large base this copy is the longest statement here: run it in a quiet hour.
CREATE TABLE consent_events_0010 (
  id               TEXT NOT NULL,
  contact_id       TEXT NOT NULL,
  purpose          TEXT NOT NULL,
  action           TEXT NOT NULL CHECK (action IN ('granted','withdrawn')),
  policy_version   TEXT,
  notice_text_hash TEXT,
  source           TEXT NOT NULL,
  method           TEXT NOT NULL CHECK (method IN ('form','double_opt_in','self_service','one_click_unsubscribe','import','admin','re_permission','expired','gpc')),
  ip_hash          TEXT,
  user_agent       TEXT,
  at               TEXT NOT NULL,
  email_hash       TEXT,
  frequency        TEXT,                        -- all, weekly, monthly: how often, when granted
  PRIMARY KEY (contact_id, at, id)
) WITHOUT ROWID;
INSERT INTO consent_events_0010 (id, contact_id, purpose, action, policy_version, notice_text_hash,
    source, method, ip_hash, user_agent, at, email_hash)
  SELECT id, contact_id, purpose, action, policy_version, notice_text_hash,
    source, method, ip_hash, user_agent, at, email_hash
  FROM consent_events;
DROP TABLE consent_events;
ALTER TABLE consent_events_0010 RENAME TO consent_events;
CREATE INDEX consent_events_email_hash ON consent_events(email_hash, at)
  WHERE email_hash IS NOT NULL;
CREATE INDEX consent_events_erased_at ON consent_events(at)
  WHERE email_hash IS NOT NULL;

-- 2. The current state keeps the chosen frequency (NULL: every message) and when the one
--    re-permission email of the current period went out (NULL: not asked since the last
--    engagement). The daily lifecycle run walks granted consents of purposes with a lifetime,
--    oldest decision first, through this index (partial: granted ones only).
ALTER TABLE consents ADD COLUMN frequency TEXT;
ALTER TABLE consents ADD COLUMN repermission_sent_at TEXT;
CREATE INDEX consents_lapsing ON consents(purpose, updated_at) WHERE granted = 1;

-- 3. Data freshness: when the one "is this still right?" email went out for the profile as
--    it stands (cleared whenever the person confirms or edits it). The daily run finds active
--    profiles not confirmed for a long time and not yet asked through this partial index.
ALTER TABLE contacts ADD COLUMN freshness_asked_at TEXT;
CREATE INDEX contacts_stale ON contacts(data_confirmed_at, id)
  WHERE status = 'active' AND freshness_asked_at IS NULL AND data_confirmed_at IS NOT NULL;
