-- Up Migration

-- Wakes the outbox relay at commit instead of waiting for its next poll: NOTIFY is delivered only
-- when the writing transaction commits, and identical notifications in one transaction collapse
-- into one. Polling stays as the fallback (a relay that missed a notification still finds rows).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('roster_outbox', '');
  RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Down Migration
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
