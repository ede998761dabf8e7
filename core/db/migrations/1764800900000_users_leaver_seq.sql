-- Up Migration

-- The seq of the leaver event that decided this suspension's leaver (null: none since the last
-- activation). The database, not the workflow's memory, says whether a later leaver event (a SCIM
-- DELETE after a deactivation) has a leaver left to run: a fresh workflow run in the middle of a
-- stream (an operator's terminate, a lost run) starts with no memory and must not revoke and
-- announce user.suspended a second time. Nullable, no default: instant on a large table.
ALTER TABLE users ADD COLUMN leaver_seq bigint;

-- Down Migration
ALTER TABLE users DROP COLUMN IF EXISTS leaver_seq;
