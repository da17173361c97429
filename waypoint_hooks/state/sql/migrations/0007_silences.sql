-- Silences (DESIGN §15). While one is in force (made, not yet expired, not lifted), the
-- firing and reminder alerts of its app (of one kind, or of both) are recorded silenced
-- and never sent; a resolved of a firing alert that was sent is sent all the same. Expiry
-- is decided by the time it is read at: nothing runs when a silence ends.
CREATE TABLE silences (
    id INTEGER PRIMARY KEY,
    workspace TEXT NOT NULL,
    app TEXT NOT NULL,
    -- NULL: both the deployment's and the release's alerts.
    kind TEXT CHECK (kind IN ('deployment', 'release')),
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    -- Who made it: the user and machine of a command, the address of an HTTP client.
    made_by TEXT NOT NULL DEFAULT '',
    lifted INTEGER,
    CHECK (created < expires)
);

CREATE INDEX silences_of_workspace ON silences (workspace, expires);

-- The id of the silence an alert was raised under: recorded and never delivered (never claimed,
-- and holding back no alert after it).
ALTER TABLE alerts ADD COLUMN silenced INTEGER;
