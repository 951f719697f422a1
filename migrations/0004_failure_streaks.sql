-- fnvault schema: how many sweeps in a row each function has failed, and since when.
-- `fnvault status` shows it and `[notify] after_failures` alerts on it.
--
-- A trigger keeps the columns current for every writer: each check of a function sets
-- `last_status` (to 'failed', or to 'new'/'changed'/'unchanged' on success), so the streak is
-- counted where the status is written and no code path can forget it.
ALTER TABLE functions ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE functions ADD COLUMN failing_since TEXT;    -- first check of the current streak

-- A function that is failing right now starts its streak at 1 (its earlier history is unknown).
UPDATE functions SET consecutive_failures = 1, failing_since = last_checked
WHERE last_status = 'failed';

CREATE TRIGGER functions_failure_streak
AFTER UPDATE OF last_status ON functions
BEGIN
    UPDATE functions
    SET consecutive_failures = CASE WHEN NEW.last_status = 'failed'
                                    THEN OLD.consecutive_failures + 1 ELSE 0 END,
        failing_since = CASE WHEN NEW.last_status = 'failed'
                             THEN COALESCE(OLD.failing_since, NEW.last_checked) ELSE NULL END
    WHERE id = NEW.id;
END;
