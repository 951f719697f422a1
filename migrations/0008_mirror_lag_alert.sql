-- fnvault schema: which lag episode of a mirror was already alerted, so the
-- `[notify] mirror_lag_alert` alert fires once per episode even across `fnvault sync` runs
-- (each its own process). An episode is named by the mirror's `last_success` when it began
-- ('never' before any success): a success ends it, and a later lag is a new one. NULL: no
-- alert is standing.
ALTER TABLE mirrors ADD COLUMN lag_alerted TEXT;
