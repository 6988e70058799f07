-- 0004 bounded reads: the hot read paths walk an index for exactly the rows they answer with,
-- so their cost does not grow with the whole table.

-- Survey results count one survey's responses, and the CSV export pages them by id: with the
-- id in the index, each keyset page starts where the last one ended instead of sorting every
-- response of the survey again. It replaces the index on `survey_id` alone (its prefix).
CREATE INDEX IF NOT EXISTS survey_responses_survey_id ON survey_responses(survey_id, id);
DROP INDEX IF EXISTS survey_responses_survey;

-- The outbox list pages newest first by (created_at, id), for everyone or for one recipient,
-- without sorting the table. The recipient index gains the id as its tie-break.
CREATE INDEX IF NOT EXISTS outbox_created ON outbox(created_at, id);
DROP INDEX IF EXISTS outbox_to;
CREATE INDEX IF NOT EXISTS outbox_to ON outbox(to_email, created_at, id);

-- Live segments are listed and read in pages, newest first; deleted ones (kept as tombstones
-- while their memberships are purged) are not in the index at all.
CREATE INDEX IF NOT EXISTS segments_live ON segments(created_at, id) WHERE deleted_at IS NULL;
