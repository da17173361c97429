-- How many reports each target has stored, kept in the transaction that stores or
-- prunes them: retention then deletes only the surplus, read from the oldest end of
-- the target's index, instead of seeking past the keep newest every time. NULL until
-- retention first needs it (counted then, once): writes without retention, and the
-- upgrade of a big state, do without it.
ALTER TABLE targets ADD COLUMN report_count INTEGER;
