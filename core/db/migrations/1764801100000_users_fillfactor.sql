-- Up Migration

-- Room on each page for the next version of a row, so the updates that change no indexed column
-- are HOT (heap-only: no new entry in any of the table's indexes). A user row is updated for every
-- event on its stream (event_seq, version, updated_at when a group push adds it to a group;
-- applied_seq when the worker applies an event); with full pages each such update moved the row to
-- another page and added an entry to all seven indexes, the directory's trigram GIN index among
-- them. Measured on 20,000 users, 256-row stream bumps as a group push does: 1.0–1.2 s for all of
-- them at fillfactor 100 (0.1 % HOT), 0.3–0.6 s at 70 (66 % HOT on the first pass, more after).
-- Group rows take a version bump for every member PATCH. Applies to pages written from now on;
-- existing rows move to such pages as they are updated (or at once with VACUUM FULL / pg_repack in
-- a maintenance window).
ALTER TABLE users SET (fillfactor = 70);
ALTER TABLE groups SET (fillfactor = 70);

-- Down Migration
ALTER TABLE users RESET (fillfactor);
ALTER TABLE groups RESET (fillfactor);
