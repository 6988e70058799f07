-- 0007 fewer rows written per survey answer and per ingested order (BENCHMARKS.md "D1 rows per
-- operation"). As in 0006: D1 bills every row written, index entries included, and a rowid table
-- with a TEXT primary key writes the row and the key's own index. Nothing here changes what a
-- query returns. Both copies grow with the shop (one row per order, one per answer): run this in
-- a quiet hour on a large base (each statement must stay within D1's 30 s).

-- 1. An invitation names the response it got. Its `answered_at IS NULL` guard already settles
--    two taps racing on one link; with the winner's response id beside it, the response insert
--    and the facts it moves follow the invitation (one row), not a unique index of their own.
ALTER TABLE survey_invitations ADD COLUMN response_id TEXT;
UPDATE survey_invitations
   SET response_id = (SELECT r.id FROM survey_responses r WHERE r.invitation_id = survey_invitations.id)
 WHERE answered_at IS NOT NULL;

-- 2. Responses: WITHOUT ROWID keyed by (survey_id, id), the order results and exports read
--    them in (ids are UUID v7, in answer order), so an answer is one row written instead of
--    five. One answer per invitation is the invitation's guard above, and a person's answers
--    are found through their invitations (indexed by contact, naming their response), as is
--    when they last answered (the invitation's `answered_at`). `invitation_id` keeps its
--    reference but no index: invitations are never deleted or renumbered; a change that
--    deletes them must index it first, or each delete would read every answer.
CREATE TABLE survey_responses_0007 (
  id            TEXT NOT NULL,
  survey_id     TEXT NOT NULL REFERENCES surveys(id),
  invitation_id TEXT NOT NULL REFERENCES survey_invitations(id),
  contact_id    TEXT,                           -- NULL after erasure (scores kept for aggregates)
  answers       TEXT NOT NULL,                  -- JSON
  nps           INTEGER,
  csat          INTEGER,
  ces           INTEGER,
  created_at    TEXT NOT NULL,
  PRIMARY KEY (survey_id, id)
) WITHOUT ROWID;
INSERT INTO survey_responses_0007 (id, survey_id, invitation_id, contact_id, answers, nps, csat, ces,
    created_at)
  SELECT id, survey_id, invitation_id, contact_id, answers, nps, csat, ces, created_at
  FROM survey_responses;
DROP TABLE survey_responses;
ALTER TABLE survey_responses_0007 RENAME TO survey_responses;

-- 3. Orders are found by the shop's external id (an ingest resending one, a survey invitation
--    naming one) or by buyer, never by our own id: WITHOUT ROWID keyed by the external id, so
--    an order is two rows written (the row and the buyer's index entry) instead of four.
CREATE TABLE orders_0007 (
  external_id TEXT NOT NULL PRIMARY KEY,
  id          TEXT NOT NULL,                    -- ord_...
  contact_id  TEXT,                             -- NULL after erasure
  total_cents INTEGER NOT NULL,
  currency    TEXT NOT NULL,
  placed_at   TEXT NOT NULL,
  items       TEXT NOT NULL DEFAULT '[]',       -- JSON [{sku,name,category,quantity,price_cents}]
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO orders_0007 (external_id, id, contact_id, total_cents, currency, placed_at, items,
    created_at, updated_at)
  SELECT external_id, id, contact_id, total_cents, currency, placed_at, items, created_at, updated_at
  FROM orders;
DROP TABLE orders;
ALTER TABLE orders_0007 RENAME TO orders;
CREATE INDEX orders_contact ON orders(contact_id, placed_at);
