-- Up Migration

-- Fleet numbers for /metrics: counts and ages only, never a tenant's data. One call per scrape;
-- each count reads a partial index of rows that are still pending.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (last_attempt_at) WHERE delivered_at IS NULL;

CREATE FUNCTION metrics_snapshot()
RETURNS TABLE (
  outbox_backlog bigint,
  outbox_oldest_seconds double precision,
  audit_unsealed bigint,
  audit_oldest_unsealed_seconds double precision,
  feed_unsealed bigint,
  feed_oldest_unsealed_seconds double precision,
  guard_holds bigint,
  webhook_pending bigint
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT
    (SELECT count(*) FROM outbox WHERE delivered_at IS NULL),
    (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM outbox WHERE delivered_at IS NULL),
    (SELECT count(*) FROM audit_events WHERE seq IS NULL),
    (SELECT coalesce(extract(epoch FROM now() - min(occurred_at)), 0)::float8 FROM audit_events WHERE seq IS NULL),
    (SELECT count(*) FROM events WHERE position IS NULL),
    (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM events WHERE position IS NULL),
    (SELECT count(*) FROM deprovision_holds WHERE released_at IS NULL),
    (SELECT count(*) FROM webhook_deliveries WHERE delivered_at IS NULL)
$$;
REVOKE ALL ON FUNCTION metrics_snapshot() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION metrics_snapshot() TO roster_app;

-- Down Migration
DROP FUNCTION metrics_snapshot();
DROP INDEX webhook_deliveries_pending;
