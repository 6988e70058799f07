-- 0011 privacy requests: the register of data-subject requests (access, rectification, erasure,
-- objection, withdrawal), those a person made themselves and those staff took by email, phone,
-- letter or in person, each with when it was received, when it was due and when it was done.
-- It is the proof a request was honoured, so erasing the person keeps it: it names the contact
-- by id only (no address, no name) and is purged five years after receipt (README, record of
-- processing). No foreign key: the contact row goes with the erasure, the request stays.
CREATE TABLE privacy_requests (
  id TEXT PRIMARY KEY,
  contact_id TEXT NOT NULL,
  kind TEXT NOT NULL
    CHECK (kind IN ('access', 'rectification', 'erasure', 'objection', 'withdrawal')),
  channel TEXT NOT NULL
    CHECK (channel IN ('self_service', 'one_click', 'import', 'email', 'phone', 'letter', 'in_person')),
  -- Staff's words for an offline request only; never personal data (the API says so).
  reason TEXT CHECK (reason IS NULL OR length(reason) <= 500),
  received_at TEXT NOT NULL,
  due_at TEXT NOT NULL,
  completed_at TEXT,
  -- The API key id (or `bootstrap`) that recorded it, or `self`.
  actor TEXT NOT NULL
);
-- The register newest first, a page at a time by (received_at, id), and the daily purge of
-- requests past their five years, oldest first: both walk this one index.
CREATE INDEX privacy_requests_received ON privacy_requests(received_at, id);
-- A person's own requests, in their export (GDPR Art. 15: the register holds data about them).
CREATE INDEX privacy_requests_contact ON privacy_requests(contact_id, received_at);
