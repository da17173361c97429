-- The status page counts every app's uptime and draws its last day from each report's time
-- and health: an index that holds them (and which target, in what order) is read alone, not
-- the reports' rows, which hold whole reports. It replaces reports_of_app, its first columns.
DROP INDEX reports_of_app;

CREATE INDEX reports_of_app ON reports (app, workspace, generated, id, kind, target_id, health);
