-- Storage per check (issue 31): a report's row names its target and its app by narrow integer
-- keys, not by the kind, the 32-character target id, the app and the workspace, which its row
-- and both its indexes each repeated. Readers join the targets (and the apps) for the names.

-- A target's key: numbered in the order the targets were made, and after them by the command
-- that records one (the next after the largest), which holds the lock "target keys".
ALTER TABLE targets ADD COLUMN key INTEGER NOT NULL DEFAULT 0;

UPDATE targets SET key = numbered.number
FROM (SELECT kind AS numbered_kind, id AS numbered_id,
    row_number() OVER (ORDER BY created, kind, id) AS number FROM targets) AS numbered
WHERE kind = numbered_kind AND id = numbered_id;

CREATE UNIQUE INDEX targets_of_key ON targets (key);

-- An app of a workspace and its key: made with the app's first target.
CREATE TABLE apps (
    key INTEGER PRIMARY KEY,
    app TEXT NOT NULL,
    workspace TEXT NOT NULL,
    UNIQUE (app, workspace)
);

INSERT INTO apps (app, workspace)
SELECT app, workspace FROM targets GROUP BY app, workspace ORDER BY min(key);

-- The reports, made anew (SQLite cannot drop a column that a foreign key names), in the order
-- they were stored: their ids are numbered again, in that order, which is all an id tells.
CREATE TABLE reports_by_key (
    id INTEGER PRIMARY KEY,
    target INTEGER NOT NULL REFERENCES targets (key),
    app INTEGER NOT NULL REFERENCES apps (key),
    health TEXT NOT NULL,
    generated INTEGER NOT NULL,
    report TEXT NOT NULL,
    duration INTEGER,
    location TEXT NOT NULL DEFAULT '',
    body INTEGER
);

INSERT INTO reports_by_key (target, app, health, generated, report, duration, location, body)
SELECT targets.key, apps.key, health, generated, report, duration, location, body
FROM reports JOIN targets ON targets.kind = reports.kind AND targets.id = reports.target_id
JOIN apps ON apps.app = reports.app AND apps.workspace = reports.workspace
ORDER BY reports.id;

DROP TABLE reports;

ALTER TABLE reports_by_key RENAME TO reports;

-- A target's reports in time order: its newest, its history by location, retention's oldest.
CREATE INDEX reports_of_target ON reports (target, generated);

-- An app's reports in time order, with what the status page and the roll-ups read of each
-- (which target, its health), so that they read the index alone.
CREATE INDEX reports_of_app ON reports (app, generated, id, target, health);
