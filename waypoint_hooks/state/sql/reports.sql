-- Finalized status reports, and how many each target keeps (the reports store).

-- name: insert
-- A report's row names its target and its app by their keys. report is empty where body names
-- the shared text (a report equal to the one before it but for its time).
INSERT INTO reports (target, app, health, generated, report, duration, location, body)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)

-- name: share
-- Texts that reports of runs share, one a run: each the first one's, given up by it (give_up).
-- In one statement for the runs of a batch; each text comes back with the id it was given.
INSERT INTO bodies (report) VALUES {values} RETURNING id, report

-- name: give_up
UPDATE reports SET report = '', body = ? WHERE id = ?

-- name: targets
-- Of the targets asked about: whether each is destroyed or being destroyed, how many reports
-- it has stored (NULL: not counted yet), its key and its app's. Locked where writers do not
-- take turns, in one order, so that two transactions never wait for each other.
WITH asked (asked_kind, asked_id) AS (VALUES {values})
SELECT kind, id, destroyed IS NOT NULL OR claimed IS NOT NULL, report_count, key,
    (SELECT apps.key FROM apps WHERE apps.app = targets.app
    AND apps.workspace = targets.workspace)
FROM asked JOIN targets ON kind = asked_kind AND id = asked_id
ORDER BY kind, id{for_update}

-- name: count
SELECT count(*) FROM reports WHERE target = ?

-- name: prune
-- Only the oldest surplus rows are read, from the old end of the target's index.
DELETE FROM reports WHERE id IN (SELECT id FROM reports
    WHERE target = ? ORDER BY generated, id LIMIT ?)

-- name: doomed_bodies
-- The shared texts that the surplus refers to: those that no kept report refers to go with it.
SELECT DISTINCT body FROM (SELECT body FROM reports
    WHERE target = ? ORDER BY generated, id LIMIT ?) AS doomed
WHERE body IS NOT NULL

-- name: forget
-- A run's reports are next to each other, oldest first: the oldest kept one is found at once
-- while the run lasts; the whole target is read once, when its last report goes.
DELETE FROM bodies WHERE id = ? AND NOT EXISTS (SELECT 1 FROM reports
    WHERE target = ? AND body = ?)

-- name: recount
UPDATE targets SET report_count = ? WHERE key = ?

-- name: last_reports
-- The newest report of each target asked about: one index seek per target, however many
-- reports each has. With its row and the body it refers to, which the next report of the
-- target may share.
WITH wanted (wanted_kind, wanted_id) AS (VALUES {values})
SELECT targets.id, generated, coalesce(bodies.report, reports.report), reports.id, body
FROM wanted JOIN targets ON kind = wanted_kind AND targets.id = wanted_id
JOIN reports ON reports.id = (SELECT id FROM reports WHERE target = targets.key
    ORDER BY generated DESC, id DESC LIMIT 1)
LEFT JOIN bodies ON bodies.id = body

-- name: latest_by_location
-- The newest report's {columns} of each target at each location asked about that has one:
-- one walk back along the target's index, as far as that location's newest.
WITH wanted (wanted_kind, wanted_id, wanted_location) AS (VALUES {values})
SELECT wanted_kind, wanted_id, wanted_location, {columns}
FROM wanted JOIN targets ON kind = wanted_kind AND targets.id = wanted_id
JOIN reports ON reports.id = (SELECT id FROM reports
    WHERE target = targets.key AND location = wanted_location
    ORDER BY generated DESC, id DESC LIMIT 1)
LEFT JOIN bodies ON bodies.id = body

-- name: history
-- An app's reports, newest first, with their targets in one query: each row and its target
-- are of one snapshot. With each, the health of its target's report before it from the same
-- location, by the index of a target's reports.
SELECT kind, targets.id, sequence, plugin, generated,
    coalesce(bodies.report, reports.report), reports.location,
    (SELECT older.health FROM reports AS older
    WHERE older.target = reports.target AND older.location = reports.location
    AND (older.generated, older.id) < (reports.generated, reports.id)
    ORDER BY older.generated DESC, older.id DESC LIMIT 1)
FROM reports JOIN targets ON targets.key = reports.target
LEFT JOIN bodies ON bodies.id = body
WHERE reports.app = (SELECT key FROM apps WHERE app = ? AND workspace = ?)
ORDER BY generated DESC, reports.id DESC LIMIT ?

-- name: healths
SELECT generated, health FROM reports JOIN targets ON targets.key = reports.target
WHERE reports.app = (SELECT key FROM apps WHERE app = ? AND workspace = ?) AND kind = ?
ORDER BY generated DESC, reports.id DESC LIMIT ?

-- name: ready_counts
-- For each start, how many reports were READY since then and how many were made: one pass.
-- CASE, not FILTER: SQLite has that only since 3.30, and PostgreSQL no sum of booleans.
SELECT {counts} FROM reports
WHERE reports.app = (SELECT key FROM apps WHERE app = ? AND workspace = ?) AND generated >= ?
