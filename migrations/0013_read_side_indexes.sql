-- fnvault schema: indexes for the read-side commands at 100,000 functions (issue 16). Only
-- indexes: no row of history is read differently or changed, and an existing database gets
-- them built from the rows it holds when it is opened by this version.
--
-- A bare name (`history order-api`) and the trailing parts of a key name a function by its
-- `name` column: one lookup here instead of a search of every key.
CREATE INDEX functions_by_name ON functions (name);

-- `status` lists only the functions that need attention: failing, gone, or not confirmed
-- archived for a day. Each kind is a range of one of these, so it reads those rows and not
-- every function. Times are RFC 3339 UTC text with milliseconds (0001), so "confirmed before
-- T" is a range of `last_success`; a function never confirmed has NULL, which sorts first.
CREATE INDEX functions_by_last_success ON functions (last_success);
CREATE INDEX functions_failing ON functions (key) WHERE last_status = 'failed';
CREATE INDEX functions_gone ON functions (key) WHERE gone_since IS NOT NULL;

-- `status`'s full-check summary counts the functions by how their last check was made and
-- finds the oldest full check: a count over this index and the first entry of the next one,
-- instead of a join of every function with its check.
CREATE INDEX listing_checks_by_kind ON listing_checks (last_check_kind);
CREATE INDEX listing_checks_by_full_check ON listing_checks (last_full_check);
