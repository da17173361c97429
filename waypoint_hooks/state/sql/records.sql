-- Deployments and releases, from intent to destroy (the records store).
-- A record is read with the end of its owner's lease: a pending one whose owner is gone was
-- interrupted.

-- name: next_sequence
-- The next sequence of a kind of an app's targets: never reused, even after a destroy.
SELECT coalesce(max(sequence), 0) + 1 FROM targets
WHERE kind = ? AND app = ? AND workspace = ?

-- name: insert
-- Its key is the next after the largest: the lock "target keys" keeps another from taking it.
INSERT INTO targets (kind, id, app, workspace, plugin, sequence, value, created, destroyed,
    deployment_id, status, owner, checkpoint, error, key)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, 'pending', ?, NULL, NULL,
    (SELECT coalesce(max(key), 0) + 1 FROM targets))

-- name: app
-- The app's key, made with its first target.
INSERT INTO apps (app, workspace) VALUES (?, ?) ON CONFLICT (app, workspace) DO NOTHING

-- name: deployment_exists
SELECT 1 FROM targets WHERE kind = 'deployment' AND id = ? AND app = ? AND workspace = ?

-- name: checkpoint
UPDATE targets SET checkpoint = ? WHERE kind = ? AND id = ?

-- name: complete
UPDATE targets SET status = 'live', value = ? WHERE kind = ? AND id = ?

-- name: fail
UPDATE targets SET status = 'failed', error = ? WHERE kind = ? AND id = ?

-- name: unclaim
UPDATE targets SET claimed = NULL WHERE kind = ? AND id = ?

-- name: claimed
-- Who claimed a target for its destroy, and whether that command's lease lasts.
SELECT destroyed, claimed,
    (SELECT lease_until FROM instances WHERE instances.owner = targets.claimed)
FROM targets WHERE kind = ? AND id = ?{for_update}

-- name: claim
UPDATE targets SET claimed = ? WHERE kind = ? AND id = ?

-- name: mark_destroyed
-- Marking it twice keeps the first time.
UPDATE targets SET destroyed = coalesce(destroyed, ?) WHERE kind = ? AND id = ?

-- name: get
SELECT {columns} FROM targets WHERE kind = ? AND id = ?

-- name: not_destroyed
-- An app's versions not destroyed, newest first, by the index of targets alive.
SELECT {columns} FROM targets
WHERE kind = ? AND app = ? AND workspace = ? AND destroyed IS NULL{condition}
ORDER BY sequence DESC LIMIT ?

-- name: apps
-- The apps of a workspace with a version not destroyed: those the state still holds
-- something of, whether or not the config names them now.
SELECT DISTINCT app FROM targets WHERE workspace = ? AND destroyed IS NULL ORDER BY app

-- name: newest_of
-- The newest version not destroyed of each kind of each app named, live ones only when the
-- condition says so: one seek of the index of targets alive per app and kind.
WITH wanted (wanted_app) AS (VALUES {values}),
    kinds (wanted_kind) AS (VALUES ('deployment'), ('release'))
SELECT {columns} FROM wanted CROSS JOIN kinds JOIN targets
ON targets.kind = wanted_kind AND targets.id = (
    SELECT id FROM targets WHERE kind = wanted_kind AND app = wanted_app
    AND workspace = ? AND destroyed IS NULL{condition}
    ORDER BY sequence DESC LIMIT 1)
