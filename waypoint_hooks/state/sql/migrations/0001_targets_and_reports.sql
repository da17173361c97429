-- Deployments and releases. A sequence is never reused: rows are marked destroyed,
-- never deleted, so max(sequence) + 1 only grows.
CREATE TABLE targets (
    kind TEXT NOT NULL CHECK (kind IN ('deployment', 'release')),
    id TEXT NOT NULL,
    app TEXT NOT NULL,
    workspace TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    plugin TEXT NOT NULL,
    value TEXT NOT NULL,
    created INTEGER NOT NULL,
    destroyed INTEGER,
    deployment_id TEXT,
    PRIMARY KEY (kind, id),
    UNIQUE (kind, app, workspace, sequence)
);

-- The latest target still alive, however many were destroyed after it.
CREATE INDEX targets_alive ON targets (kind, app, workspace, sequence)
    WHERE destroyed IS NULL;

-- app and workspace are copied from the target so that an app's history is one range
-- of one index, already in time order; id is the insertion order that breaks ties.
CREATE TABLE reports (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    app TEXT NOT NULL,
    workspace TEXT NOT NULL,
    health TEXT NOT NULL,
    generated INTEGER NOT NULL,
    report TEXT NOT NULL,
    FOREIGN KEY (kind, target_id) REFERENCES targets (kind, id)
);

CREATE INDEX reports_of_target ON reports (kind, target_id, generated);

CREATE INDEX reports_of_app ON reports (app, workspace, generated);
