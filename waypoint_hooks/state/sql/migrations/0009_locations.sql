-- Several locations (DESIGN §21): where each serve instance runs, where each report was made
-- from, and the location that each shared check is made from. Empty: none (a check made once,
-- by any instance; a report of an instance without a location, or of a command).
ALTER TABLE instances ADD COLUMN location TEXT NOT NULL DEFAULT '';

ALTER TABLE reports ADD COLUMN location TEXT NOT NULL DEFAULT '';

-- The location becomes part of a check's key: an app checked from two locations has a due
-- time and a holder in each. The table is made anew (SQLite cannot change a primary key);
-- what it held is kept, of no location.
CREATE TABLE checks_by_location (
    workspace TEXT NOT NULL,
    app TEXT NOT NULL,
    kind TEXT NOT NULL,
    location TEXT NOT NULL DEFAULT '',
    due INTEGER NOT NULL,
    holder TEXT,
    planned INTEGER NOT NULL,
    declined TEXT,
    PRIMARY KEY (workspace, app, kind, location)
);

INSERT INTO checks_by_location (workspace, app, kind, due, holder, planned, declined)
SELECT workspace, app, kind, due, holder, planned, declined FROM checks;

DROP TABLE checks;

ALTER TABLE checks_by_location RENAME TO checks;

CREATE INDEX checks_due ON checks (workspace, due);

CREATE INDEX checks_held ON checks (workspace, holder) WHERE holder IS NOT NULL;
