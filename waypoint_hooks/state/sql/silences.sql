-- Silences (DESIGN §15): made, read while in force, lifted (the silences store). A silence
-- is in force at a time T when created <= T < expires and it was not lifted at or before T.

-- name: insert
INSERT INTO silences (workspace, app, kind, created, expires, comment, made_by)
VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id

-- name: get
SELECT id, workspace, app, kind, created, expires, comment, made_by, lifted FROM silences
WHERE workspace = ? AND id = ?{for_update}

-- name: lift
UPDATE silences SET lifted = ? WHERE id = ?

-- name: in_force
-- The silences of a workspace in force at a time, the soonest to end first.
SELECT id, workspace, app, kind, created, expires, comment, made_by, lifted FROM silences
WHERE workspace = ? AND created <= ? AND expires > ? AND (lifted IS NULL OR lifted > ?)
ORDER BY expires, id

-- name: since
-- The silences of a workspace in force at some time from a time on: those that may cover a
-- report made then or later.
SELECT id, workspace, app, kind, created, expires, comment, made_by, lifted FROM silences
WHERE workspace = ? AND expires > ? AND (lifted IS NULL OR lifted > ?)
ORDER BY id
