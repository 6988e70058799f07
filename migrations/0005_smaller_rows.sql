-- 0005 smaller rows, measured on `make bench-scale`'s realistic base (BENCHMARKS.md "Scale").
-- Nothing here changes what a query returns; rows and indexes take less room. The copies below
-- rewrite whole tables, so on a large production base run it in a quiet hour (each statement
-- must stay within D1's 30 s; at 1M contacts the largest, audit_log, copies ~2M rows).

-- 1. Indexes no query reads. EXPLAIN QUERY PLAN of every statement in src/store, and of the
--    segment rules' SQL (whose consent and attribute tests are correlated EXISTS on each
--    contact), never picks them: those lookups go by the tables' primary keys,
--    (contact_id, purpose) and (contact_id, key). src/store/sqlite.rs tests that every index
--    left is read by some query.
DROP INDEX IF EXISTS consents_purpose_granted;      -- ~80 bytes per contact
DROP INDEX IF EXISTS contact_attributes_key_value;  -- ~60 bytes per contact (two attributes)

-- Order lines live in `orders.items` (JSON; segment rules read them with json_each): this
-- table was never written, and its two indexes never read.
DROP INDEX IF EXISTS order_items_category;
DROP INDEX IF EXISTS order_items_sku;
DROP TABLE IF EXISTS order_items;

-- 2. Tables looked up by their primary key only become WITHOUT ROWID: a rowid table with a
--    TEXT primary key stores every key twice (the row, and the key's own index); these store
--    it once, in key order. Same columns, constraints and names; the copies keep every row.
--    Not `contacts` itself: dropping the parent of ON DELETE CASCADE keys would empty its
--    children. Not `consent_events`: its two secondary indexes would carry its 36-character id
--    instead of a rowid, which costs about what the key's index saves.
CREATE TABLE consents_0005 (
  contact_id     TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
  purpose        TEXT NOT NULL,
  granted        INTEGER NOT NULL CHECK (granted IN (0,1)),
  policy_version TEXT,
  updated_at     TEXT NOT NULL,
  PRIMARY KEY (contact_id, purpose)
) WITHOUT ROWID;
INSERT INTO consents_0005 (contact_id, purpose, granted, policy_version, updated_at)
  SELECT contact_id, purpose, granted, policy_version, updated_at FROM consents;
DROP TABLE consents;
ALTER TABLE consents_0005 RENAME TO consents;

CREATE TABLE contact_attributes_0005 (
  contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
  key        TEXT NOT NULL,
  value      TEXT NOT NULL,                     -- JSON-encoded value
  updated_at TEXT NOT NULL,
  PRIMARY KEY (contact_id, key)
) WITHOUT ROWID;
INSERT INTO contact_attributes_0005 (contact_id, key, value, updated_at)
  SELECT contact_id, key, value, updated_at FROM contact_attributes;
DROP TABLE contact_attributes;
ALTER TABLE contact_attributes_0005 RENAME TO contact_attributes;

CREATE TABLE segment_members_0005 (
  segment_id TEXT NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
  contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
  since      TEXT NOT NULL,
  PRIMARY KEY (segment_id, contact_id)
) WITHOUT ROWID;
INSERT INTO segment_members_0005 (segment_id, contact_id, since)
  SELECT segment_id, contact_id, since FROM segment_members;
DROP TABLE segment_members;
ALTER TABLE segment_members_0005 RENAME TO segment_members;
CREATE INDEX IF NOT EXISTS segment_members_contact ON segment_members(contact_id);

CREATE TABLE audit_log_0005 (
  id      TEXT PRIMARY KEY,                     -- UUID v7, so ids sort by time
  at      TEXT NOT NULL,
  actor   TEXT NOT NULL,                        -- api key id, 'bootstrap', 'contact:<id>', 'system'
  action  TEXT NOT NULL,                        -- e.g. key.create, contact.erase
  subject TEXT,                                 -- id of what changed; never an email
  detail  TEXT                                  -- JSON without PII
) WITHOUT ROWID;
INSERT INTO audit_log_0005 (id, at, actor, action, subject, detail)
  SELECT id, at, actor, action, subject, detail FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_0005 RENAME TO audit_log;
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log(at, id);
