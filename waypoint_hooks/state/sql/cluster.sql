-- Several instances on one state (DESIGN §16): their leases, and the checks the serve
-- instances share (the cluster store). A check is free when no instance holds it, or when
-- its holder's lease ran out.

-- name: renew
-- A lease that had run out begins anew: the instance resumed now.
INSERT INTO instances (owner, host, pid, started, renewed, lease_until, serving, location, resumed)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner) DO UPDATE
SET renewed = excluded.renewed, lease_until = excluded.lease_until, serving = excluded.serving,
    location = excluded.location,
    resumed = CASE WHEN instances.lease_until < excluded.renewed THEN excluded.renewed
    ELSE instances.resumed END

-- name: forget
-- An instance that died is listed (as not alive) for a while, then forgotten: it owns
-- nothing any more either way.
DELETE FROM instances WHERE lease_until < ?

-- name: let_go
UPDATE checks SET holder = NULL WHERE holder = ?

-- name: leave
DELETE FROM instances WHERE owner = ?

-- name: plan
INSERT INTO checks (workspace, app, kind, location, due, planned) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (workspace, app, kind, location) DO UPDATE SET planned = excluded.planned

-- name: drop_unplanned
DELETE FROM checks WHERE workspace = ? AND planned < ?

-- name: give_back
UPDATE checks SET due = ?, holder = NULL, declined = ?
WHERE workspace = ? AND app = ? AND kind = ? AND holder = ? AND location IN ('', ?)

-- name: asked
-- The checks asked for now that this instance may take, whether due or not.
SELECT app, kind, location, due FROM checks
WHERE workspace = ? AND location IN ('', ?) AND {mine_to_take} AND (app, kind) IN (VALUES {values})
ORDER BY app, kind{for_update_skip_locked}

-- name: shares
-- The live serve instances, the checks due that this instance may take, the checks that
-- live instances hold, and those this one holds.
SELECT {live_count}, (SELECT count(*) FROM checks WHERE {due_here}),
    (SELECT count(*) FROM checks WHERE workspace = ? AND location IN ('', ?)
    AND holder IS NOT NULL AND NOT {free}{chosen}),
    (SELECT count(*) FROM checks WHERE workspace = ? AND holder = ?{chosen})

-- name: due
SELECT app, kind, location, due FROM checks WHERE {due_here}
ORDER BY due, app, kind LIMIT ?{for_update_skip_locked}

-- name: hold
UPDATE checks SET holder = ? WHERE workspace = ? AND app = ? AND kind = ? AND location = ?

-- name: following
-- When the earliest check none holds is due, after this turn.
SELECT {next_due}

-- name: idle
-- Whether anything is due, read outside a write transaction.
SELECT {live_count}, (SELECT count(*) FROM checks WHERE {due_here}), {next_due}

-- name: instances
SELECT owner, host, pid, location, started, renewed, lease_until FROM instances
WHERE serving = 1 ORDER BY started DESC, owner

-- name: locations_alive
-- The locations where a serve instance's lease lasts (parameter: now).
SELECT DISTINCT location FROM instances WHERE serving = 1 AND lease_until > ? AND location <> ''

-- name: held
SELECT holder, app, kind FROM checks WHERE workspace = ? AND holder IS NOT NULL
ORDER BY app, kind

-- The fragments the queries above are made of.

-- name: free
-- A check none holds, or one whose holder is gone: its lease ran out, this instance's own
-- lease lasts (one whose lease ran out is cut off itself, and takes nothing held), and the
-- holder's lease ran out while this instance was alive without a break, or this instance has
-- been alive for as long as that lease lasted since: all leases running out together is an
-- outage, not dead peers (parameters: now, this instance, now, now).
(holder IS NULL OR (NOT EXISTS
    (SELECT 1 FROM instances WHERE owner = holder AND lease_until > ?)
    AND EXISTS (SELECT 1 FROM instances AS me WHERE me.owner = ? AND me.lease_until > ?
        AND NOT EXISTS (SELECT 1 FROM instances AS gone WHERE gone.owner = holder
            AND gone.lease_until < me.resumed
            AND ? < me.resumed + gone.lease_until - gone.renewed))))

-- name: mine_to_take
-- A free check that this instance did not decline: what it declined is free for the
-- others only (parameters: those of free, this instance).
{free} AND (declined IS NULL OR declined <> ?)

-- name: due_here
-- A check of the workspace that is due, of no location or of this instance's, and that this
-- instance may take (parameters: workspace, now, its location, those of mine_to_take, then
-- the apps chosen, if any).
workspace = ? AND due <= ? AND location IN ('', ?) AND {mine_to_take}{chosen}

-- name: live_count
-- The serve instances of this instance's location whose lease lasts: those it shares its
-- checks with (parameters: now, its location).
(SELECT count(*) FROM instances WHERE serving = 1 AND lease_until > ? AND location = ?)

-- name: next_due
-- When the earliest check none holds that this instance may make is due (parameters:
-- workspace, its location).
(SELECT min(due) FROM checks WHERE workspace = ? AND location IN ('', ?) AND holder IS NULL)
