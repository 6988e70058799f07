-- 0003 exports: segment exports too large for one invocation run as a queue job, one R2 object
-- per chunk (`exports/{id}/{n:06}`) and a manifest written last; this row is the job's state.
-- Rows and objects are deleted 7 days after creation (`expires_at`, the daily purge).
CREATE TABLE IF NOT EXISTS exports (
  id              TEXT PRIMARY KEY,               -- UUID v7
  segment_id      TEXT NOT NULL,
  segment_version INTEGER NOT NULL,               -- a rule replaced mid-export fails the export
  format          TEXT NOT NULL CHECK (format IN ('csv', 'ndjson')),
  columns         TEXT NOT NULL,                  -- the column names, comma-separated, in order
  state           TEXT NOT NULL CHECK (state IN ('queued', 'running', 'ready', 'failed')),
  total           INTEGER NOT NULL DEFAULT 0,     -- the segment's size when asked: the progress bar's end
  rows            INTEGER NOT NULL DEFAULT 0,     -- rows written in committed chunks
  chunks          INTEGER NOT NULL DEFAULT 0,     -- committed chunks; the next message writes chunk `chunks`
  bytes           INTEGER NOT NULL DEFAULT 0,
  cursor          TEXT NOT NULL DEFAULT '',       -- the last contact id written (keyset over members)
  parts           TEXT NOT NULL DEFAULT '[]',     -- JSON [{rows, bytes, sha256}] per committed chunk
  error           TEXT,                           -- why a failed export failed (no personal data)
  created_by      TEXT NOT NULL,                  -- the API key id (or `bootstrap`)
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  finished_at     TEXT,
  expires_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS exports_expires ON exports(expires_at);
