-- 0002 daily jobs: the daily purges delete a bounded chunk per statement
-- (`DELETE … WHERE rowid IN (SELECT rowid … LIMIT n)`), so each chunk must find its rows through
-- an index instead of scanning the table again for every chunk.

-- Tokens used (a link clicked, a session ended) more than a week ago.
CREATE INDEX IF NOT EXISTS tokens_used ON tokens(used_at) WHERE used_at IS NOT NULL;

-- The minimal consent proof of erased people past its limitation period, oldest first
-- (`consent_events_email_hash` leads with the hash, so it cannot range over time).
CREATE INDEX IF NOT EXISTS consent_events_erased_at ON consent_events(at)
  WHERE email_hash IS NOT NULL;
