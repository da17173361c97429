-- When each instance's lease last began anew after it had run out (or first began): since
-- then the instance has been known alive without a break. Another instance's lease that ran
-- out before that may have run out in the same outage, not because its instance died
-- (DESIGN §16). Instances of before count as alive without a break since ever.
ALTER TABLE instances ADD COLUMN resumed INTEGER NOT NULL DEFAULT 0;
