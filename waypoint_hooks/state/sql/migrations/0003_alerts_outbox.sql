-- Alerts (DESIGN §15). Each notify block's watch over each target: what the alert
-- state machine knows between two reports, written with the report that changed it.
CREATE TABLE watches (
    kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    notify TEXT NOT NULL,
    watch TEXT NOT NULL,
    PRIMARY KEY (kind, target_id, notify),
    FOREIGN KEY (kind, target_id) REFERENCES targets (kind, id)
);

-- The outbox: an alert is written in the transaction of the report that raised it,
-- and is undelivered (delivered IS NULL) until an attempt succeeds. A command that
-- takes it for an attempt claims it until lease_until; a claim of a command that is
-- gone, or whose lease ran out, is taken over.
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    notify TEXT NOT NULL,
    app TEXT NOT NULL,
    workspace TEXT NOT NULL,
    kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('firing', 'resolved', 'reminder')),
    raised INTEGER NOT NULL,
    alert TEXT NOT NULL,
    delivered INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_error TEXT,
    claimed TEXT,
    lease_until INTEGER,
    FOREIGN KEY (kind, target_id) REFERENCES targets (kind, id)
);

CREATE INDEX alerts_undelivered ON alerts (next_attempt) WHERE delivered IS NULL;

CREATE INDEX alerts_of_workspace ON alerts (workspace, id);

-- Every attempt to deliver an alert, failed or not.
CREATE TABLE alert_attempts (
    alert_id INTEGER NOT NULL REFERENCES alerts (id),
    number INTEGER NOT NULL,
    started INTEGER NOT NULL,
    ended INTEGER NOT NULL,
    error TEXT,
    owner TEXT NOT NULL,
    PRIMARY KEY (alert_id, number)
);
