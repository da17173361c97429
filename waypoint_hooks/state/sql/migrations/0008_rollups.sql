-- How long each check took (microseconds), where the caller knew it: the roll-ups' durations.
-- Reports of before, and pushed ones, have none.
ALTER TABLE reports ADD COLUMN duration INTEGER;

-- Long history (DESIGN §14): the reports retention deletes are first rolled up, per target,
-- into a row for each hour and each UTC day they fall in. Each health column holds the
-- microseconds the target was known to be in that health (a report holds from its time to
-- the next report's, at most a gap: beyond it there is no data); checks counts the reports
-- made in that hour or day, and durations is a sketch of their check durations (JSON: a
-- count per logarithmic bucket), which sums when hours merge into days.
CREATE TABLE rollups (
    kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    app TEXT NOT NULL,
    workspace TEXT NOT NULL,
    step TEXT NOT NULL CHECK (step IN ('hour', 'day')),
    start INTEGER NOT NULL,
    unknown INTEGER NOT NULL,
    alive INTEGER NOT NULL,
    ready INTEGER NOT NULL,
    down INTEGER NOT NULL,
    partial INTEGER NOT NULL,
    missing INTEGER NOT NULL,
    checks INTEGER NOT NULL,
    durations TEXT NOT NULL,
    PRIMARY KEY (kind, target_id, step, start),
    FOREIGN KEY (kind, target_id) REFERENCES targets (kind, id)
);

-- An app's rows of one step, in time order: what GET /api/apps/{app}/uptime reads.
CREATE INDEX rollups_of_app ON rollups (app, workspace, step, start);
