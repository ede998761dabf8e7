-- Up Migration

-- The delivery log per endpoint and redelivery. `created_at` (the first attempt or request, never
-- changed) is the log's keyset order; `last_latency_ms` the last attempt's round trip. A
-- redelivery request counts up `redeliveries` (and stamps `redeliver_requested_at`); a successful
-- attempt records in `redeliveries_done` how many requests it had seen when it started, so the row
-- is settled only once an attempt that began after the last request succeeded (one already in
-- flight when the request came does not satisfy it).
ALTER TABLE webhook_deliveries
  ADD COLUMN created_at timestamptz,
  ADD COLUMN last_latency_ms integer,
  ADD COLUMN redeliver_requested_at timestamptz,
  ADD COLUMN redeliveries integer NOT NULL DEFAULT 0,
  ADD COLUMN redeliveries_done integer NOT NULL DEFAULT 0;
UPDATE webhook_deliveries SET created_at = coalesce(last_attempt_at, now());
ALTER TABLE webhook_deliveries ALTER COLUMN created_at SET DEFAULT clock_timestamp(), ALTER COLUMN created_at SET NOT NULL;
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (tenant_id, endpoint_id, created_at DESC, event_id DESC);

-- Down Migration
DROP INDEX webhook_deliveries_log;
ALTER TABLE webhook_deliveries DROP COLUMN created_at, DROP COLUMN last_latency_ms, DROP COLUMN redeliver_requested_at, DROP COLUMN redeliveries, DROP COLUMN redeliveries_done;
