-- Intent first (DESIGN §12): a record is written 'pending' before its hook runs, by
-- its owner (see _owners), and becomes 'live' or 'failed'. Records of before are live.
ALTER TABLE targets ADD COLUMN status TEXT NOT NULL DEFAULT 'live'
    CHECK (status IN ('pending', 'live', 'failed'));

ALTER TABLE targets ADD COLUMN owner TEXT;

-- The last value the hook checkpointed, for a destroy of what it left half-made.
ALTER TABLE targets ADD COLUMN checkpoint TEXT;

ALTER TABLE targets ADD COLUMN error TEXT;

-- The command destroying it: two destroys at once run its destroy hook once.
ALTER TABLE targets ADD COLUMN claimed TEXT;
