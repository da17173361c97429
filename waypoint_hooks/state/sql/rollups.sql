-- Hourly and daily roll-ups of the reports retention deletes (DESIGN §14, long history).

-- name: oldest
-- A target's oldest reports, in the order retention deletes them: the surplus, and the
-- report after it, where the last of the surplus ends. Several targets' are read in one
-- statement, this one repeated with UNION ALL between (in no order: sorted as read).
SELECT * FROM (SELECT target, generated, id, health, duration FROM reports
WHERE target = ? ORDER BY generated, id LIMIT ?) AS oldest

-- name: rows
-- Targets' roll-ups of both steps from one start to another, to add to: the targets of one
-- kind by id ({values}: a placeholder each).
SELECT kind, target_id, step, start,
    unknown, alive, ready, down, partial, missing, checks, durations
FROM rollups WHERE kind = ? AND target_id IN ({values}) AND step IN ('hour', 'day')
AND start >= ? AND start <= ?

-- name: put
INSERT INTO rollups (kind, target_id, app, workspace, step, start,
    unknown, alive, ready, down, partial, missing, checks, durations)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (kind, target_id, step, start) DO UPDATE SET
    unknown = excluded.unknown, alive = excluded.alive, ready = excluded.ready,
    down = excluded.down, partial = excluded.partial, missing = excluded.missing,
    checks = excluded.checks, durations = excluded.durations

-- name: expire
-- Hours are kept for weeks, days for over a year: a target's roll-ups stay bounded.
DELETE FROM rollups WHERE kind = ? AND target_id = ?
AND ((step = 'hour' AND start < ?) OR (step = 'day' AND start < ?))

-- name: span
-- An app's roll-ups of one step and the reports still kept, from one time to another, in one
-- statement: one snapshot, so that a retention between two reads can neither count a report
-- twice (kept, then rolled up) nor lose it. By target: its reports first, in the order
-- retention deletes them.
SELECT kind, targets.id, 0, generated, reports.id, health, duration,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM reports JOIN targets ON targets.key = reports.target
WHERE reports.app = (SELECT key FROM apps WHERE app = ? AND workspace = ?)
AND generated >= ? AND generated < ?
UNION ALL
SELECT kind, target_id, 1, start, 0, NULL, NULL,
    unknown, alive, ready, down, partial, missing, checks, durations
FROM rollups WHERE app = ? AND workspace = ? AND step = ? AND start >= ? AND start < ?
ORDER BY 1, 2, 3, 4, 5

-- name: of_apps
-- Several apps' reports still kept from one time to another (their time and health: read
-- from reports_of_app, their targets' names by key), and their roll-ups of each step from
-- one start to another, in one statement, as span.
SELECT targets.app, kind, targets.id, 'kept', generated, reports.id, health,
    NULL, NULL, NULL, NULL, NULL, NULL
FROM reports JOIN targets ON targets.key = reports.target
WHERE reports.app IN (SELECT key FROM apps WHERE app IN ({values}) AND workspace = ?)
AND generated >= ? AND generated < ?
UNION ALL
SELECT app, kind, target_id, step, start, 0, NULL,
    unknown, alive, ready, down, partial, missing
FROM rollups WHERE app IN ({values}) AND workspace = ?
AND ((step = 'hour' AND start >= ? AND start < ?) OR (step = 'day' AND start >= ? AND start < ?))
