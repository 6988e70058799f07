-- 0009 survey reminders: an emailed invitation to a survey with `reminder_after_days` gets one
-- reminder, if its person has not answered, has not objected and the link has not expired.

-- When the reminder is due (set at invitation; cleared when it is sent or found not needed).
-- Partial index: only invitations still waiting for one are in it.
ALTER TABLE survey_invitations ADD COLUMN remind_at TEXT;
CREATE INDEX survey_invitations_remind ON survey_invitations(remind_at) WHERE remind_at IS NOT NULL;

-- The reminder carries a link of its own (the first one is kept only as a hash, so it cannot be
-- sent again): its hash opens the same invitation, and answering through either closes both.
ALTER TABLE survey_invitations ADD COLUMN reminder_token_hash TEXT;
CREATE UNIQUE INDEX survey_invitations_reminder_token ON survey_invitations(reminder_token_hash)
  WHERE reminder_token_hash IS NOT NULL;
ALTER TABLE survey_invitations ADD COLUMN reminded_at TEXT;
