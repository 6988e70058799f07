-- 0012 backups: one row per backup run, the nightly one and those asked for through
-- `POST /admin/v1/backups`. The run is a queue job (`src/jobs/backup.rs`): each message reads the
-- next rows of one table, writes them to the `BACKUPS` bucket as one sealed object
-- (`backups/{id}/{n:06}`), and commits here; the last writes the manifest
-- (`backups/{id}/manifest`) and marks the run ready. This row is the job's state and what
-- `GET /admin/v1/backups` lists; it holds counts and names, never personal data. Runs are pruned
-- with their objects by the daily run (30 daily, 12 monthly, failed ones after 7 days).
CREATE TABLE backup_runs (
  id             TEXT PRIMARY KEY,              -- UUID v7: sorts by start, newest last
  state          TEXT NOT NULL CHECK (state IN ('running', 'ready', 'failed')),
  trigger        TEXT NOT NULL CHECK (trigger IN ('api', 'schedule')),
  started_at     TEXT NOT NULL,
  updated_at     TEXT NOT NULL,                 -- a running run not moved for 15 min lost its message
  finished_at    TEXT,
  key_id         TEXT NOT NULL,                 -- the BACKUP_KEY_ID every object is sealed under
  schema_version TEXT NOT NULL,                 -- the newest migration the Worker knew
  plan           TEXT NOT NULL DEFAULT '[]',    -- JSON [{name, rows, high_water}] per table, marks taken at the start
  table_index    INTEGER NOT NULL DEFAULT 0,    -- the table (in load order) the next chunk reads
  cursor         TEXT NOT NULL DEFAULT '',      -- the last key read in that table (JSON), '' from its start
  chunks         INTEGER NOT NULL DEFAULT 0,    -- committed chunks; the next message writes chunk `chunks`
  objects        TEXT NOT NULL DEFAULT '[]',    -- JSON [{name, table, rows, bytes, sha256}] per object written
  bytes          INTEGER NOT NULL DEFAULT 0,    -- sealed bytes written, manifest included
  rows           INTEGER NOT NULL DEFAULT 0,
  error          TEXT                           -- why a failed run failed (no personal data)
);
-- At most one run at a time, held by the database itself: two requests racing both find none
-- running, and only one insert passes. The daily run finds the running one through it too.
CREATE UNIQUE INDEX backup_runs_running ON backup_runs(state) WHERE state = 'running';
