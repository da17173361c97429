-- Several machines on one state (DESIGN §16). A process whose liveness another
-- machine must judge (a pid says nothing there) renews its lease here while it runs:
-- every serve, and every command on a state that machines share. What it owns or
-- claims is taken over once its lease ran out.
CREATE TABLE instances (
    owner TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started INTEGER NOT NULL,
    renewed INTEGER NOT NULL,
    lease_until INTEGER NOT NULL,
    -- 1 for a serve instance, which takes checks; 0 for any other command.
    serving INTEGER NOT NULL DEFAULT 0
);

-- The checks the serve instances share: when each app's deployment (or release) of a
-- workspace is next due, and the instance that holds it while its check runs (one at
-- a time, by the holder's lease). By app, not by target: a new deployment made
-- meanwhile is the one its check checks.
CREATE TABLE checks (
    workspace TEXT NOT NULL,
    app TEXT NOT NULL,
    kind TEXT NOT NULL,
    due INTEGER NOT NULL,
    holder TEXT,
    -- When an instance last said it serves this app: one no instance serves any
    -- more is dropped.
    planned INTEGER NOT NULL,
    -- The instance that gave it back unchecked (its config has no such app): it
    -- leaves it to the others.
    declined TEXT,
    PRIMARY KEY (workspace, app, kind)
);

CREATE INDEX checks_due ON checks (workspace, due);

CREATE INDEX checks_held ON checks (workspace, holder) WHERE holder IS NOT NULL;
