-- Storage per check (issue 31): a report equal to its target's previous one but for its time
-- keeps no text of its own. Its row (time, health, duration, location) refers to a body that
-- the reports of one run share; the first of the run gives its text up to it. A body goes
-- when the last report referring to it is deleted. Rows of before keep their text, and NULL:
-- a report with its own text.
ALTER TABLE reports ADD COLUMN body INTEGER;

CREATE TABLE bodies (
    id INTEGER PRIMARY KEY,
    report TEXT NOT NULL
);
