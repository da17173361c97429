-- The alert outbox (DESIGN §15): the watches of the alert state machine, the alerts raised
-- and every attempt to deliver them (the outbox store).

-- name: current_watches
-- The watches of each app's current deployment and release of a workspace: what a
-- dependent's alerts wait on.
SELECT app, watches.kind, target_id, notify, watch FROM watches JOIN targets
ON targets.kind = watches.kind AND targets.id = watches.target_id
WHERE workspace = ? AND destroyed IS NULL AND status = 'live' AND sequence = (
    SELECT max(sequence) FROM targets AS newer WHERE newer.kind = targets.kind
    AND newer.app = targets.app AND newer.workspace = targets.workspace
    AND newer.destroyed IS NULL AND newer.status = 'live')

-- name: target_watches
SELECT notify, watch FROM watches WHERE kind = ? AND target_id = ?

-- name: save_watch
INSERT INTO watches (kind, target_id, notify, watch) VALUES (?, ?, ?, ?)
ON CONFLICT (kind, target_id, notify) DO UPDATE SET watch = excluded.watch

-- name: insert_alert
-- An alert raised under a silence (silenced: its id) is recorded, never delivered.
INSERT INTO alerts (notify, app, workspace, kind, target_id, state, raised, alert, next_attempt,
    silenced)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: due
-- Undelivered alerts whose next attempt is due, oldest first, with who claims each and
-- whether that command's lease lasts; skipping those another command is claiming now. Only
-- the oldest undelivered alert of each target and notify block: the alerts of one target
-- are delivered in the order they were raised, a later one waiting while an earlier one
-- waits for its retry.
SELECT id, alert, attempts, claimed, lease_until,
    (SELECT lease_until FROM instances WHERE instances.owner = alerts.claimed)
FROM alerts WHERE delivered IS NULL AND silenced IS NULL AND next_attempt <= ? AND {first}
ORDER BY id{for_update_skip_locked}

-- name: claim
UPDATE alerts SET claimed = ?, lease_until = ? WHERE id = ?

-- name: next_attempt_number
SELECT coalesce(max(number), 0) + 1 FROM alert_attempts WHERE alert_id = ?

-- name: insert_attempt
INSERT INTO alert_attempts (alert_id, number, started, ended, error, owner)
VALUES (?, ?, ?, ?, ?, ?)

-- name: delivered
UPDATE alerts SET attempts = ?, delivered = coalesce(delivered, ?), last_error = ?,
    claimed = NULL, lease_until = NULL
WHERE id = ?

-- name: retry
UPDATE alerts SET attempts = ?, next_attempt = ?, last_error = ?,
    claimed = NULL, lease_until = NULL
WHERE id = ?

-- name: undelivered
-- The undelivered alerts that are next of their target and notify block (those after them
-- wait for them).
SELECT next_attempt, claimed, lease_until,
    (SELECT lease_until FROM instances WHERE instances.owner = alerts.claimed)
FROM alerts WHERE delivered IS NULL AND silenced IS NULL AND {first}

-- name: first
-- An undelivered alert with no undelivered one raised before it, of its target and notify
-- block (a silenced alert is never delivered, and holds back none).
NOT EXISTS (SELECT 1 FROM alerts AS earlier WHERE earlier.delivered IS NULL
    AND earlier.silenced IS NULL AND earlier.notify = alerts.notify AND earlier.kind = alerts.kind
    AND earlier.target_id = alerts.target_id AND earlier.id < alerts.id)

-- name: alerts
SELECT id, alert, raised, delivered, next_attempt, silenced FROM alerts
WHERE workspace = ? ORDER BY id DESC LIMIT ?

-- name: attempts
SELECT alert_id, number, started, ended, error FROM alert_attempts
WHERE alert_id IN ({ids}) ORDER BY number

-- name: counts
-- The alerts sent or to be sent: not the silenced ones.
SELECT notify, state, count(*) FROM alerts WHERE silenced IS NULL GROUP BY notify, state
