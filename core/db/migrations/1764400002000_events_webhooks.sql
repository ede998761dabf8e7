-- Up Migration

-- Outbound events for the vendor's app (webhooks and the events feed). `id` is the key receivers
-- deduplicate on; writers derive it from the emitting workflow id + step, so a retried activity
-- inserts nothing twice. Writers leave `position` NULL; one sealer per tenant assigns it in
-- commit-visible order (events_seal below). The feed pages by position only, so a reader can never
-- skip a row that commits late: it simply gets a later position than every row sealed before it.
CREATE TABLE events (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  type text NOT NULL CHECK (type ~ '^[a-z][a-z_]*(\.[a-z][a-z_]*)+$'),
  subject_type text NOT NULL CHECK (subject_type ~ '^[a-z][a-z_]*$'),
  subject_id uuid NOT NULL,
  -- Ids and facts only: never secrets, personal data kept to the minimum the receiver needs.
  data jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  position bigint,
  UNIQUE (tenant_id, position)
);
CREATE INDEX events_unsealed ON events (tenant_id, created_at, id) WHERE position IS NULL;
CREATE INDEX events_subject ON events (tenant_id, subject_type, subject_id);
CREATE INDEX events_created ON events (tenant_id, created_at);

-- The feed's head per tenant: the last position assigned, and the last one purged by retention
-- (a cursor before it can no longer be replayed completely).
CREATE TABLE event_feed_heads (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  position bigint NOT NULL DEFAULT 0,
  purged_through bigint NOT NULL DEFAULT 0
);

-- Where the vendor's app receives signed webhooks.
-- The signing secret must be usable to compute HMACs at delivery time, so unlike bearer secrets
-- (stored as SHA-256, only ever compared) it cannot be hashed: it is stored encrypted with
-- AES-256-GCM under the server's SECRETS_ENCRYPTION_KEY (core/secret-box.ts), bound to the row by
-- its associated data. A database dump alone does not reveal it. The plaintext is shown once.
CREATE TABLE webhook_endpoints (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  url text NOT NULL CHECK (url ~ '^https?://'),
  -- NULL: every event type.
  event_types text[],
  secret_ciphertext bytea NOT NULL,
  secret_prefix text NOT NULL,
  -- Rotation: the previous secret still signs (a second v1 value) until previous_expires_at.
  previous_secret_ciphertext bytea,
  previous_expires_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  rotated_at timestamptz,
  disabled_at timestamptz,
  UNIQUE (tenant_id, id)
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id) WHERE disabled_at IS NULL;

-- One row per (event, endpoint) once a delivery was attempted: attempts, last outcome, delivery.
CREATE TABLE webhook_deliveries (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  event_id uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
  endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  attempts integer NOT NULL DEFAULT 0,
  last_status integer,
  last_error text,
  last_attempt_at timestamptz,
  delivered_at timestamptz,
  PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (tenant_id, endpoint_id);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['events', 'event_feed_heads', 'webhook_endpoints', 'webhook_deliveries'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;

-- Events are immutable for the app role: positions and retention go through the functions below.
GRANT SELECT, INSERT ON events TO roster_app;
GRANT SELECT ON event_feed_heads TO roster_app;
GRANT SELECT, INSERT, UPDATE ON webhook_endpoints, webhook_deliveries TO roster_app;

-- Tenants with events waiting for a feed position.
CREATE FUNCTION events_tenants_to_seal() RETURNS SETOF uuid
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  SELECT DISTINCT tenant_id FROM events WHERE position IS NULL
$$;

-- Assigns feed positions to one tenant's committed, unpositioned events in (created_at, id) order.
-- Concurrent sealers of a tenant queue on its head row, and each commits its whole batch at once,
-- so position n is never visible before n - 1.
CREATE FUNCTION events_seal(p_tenant uuid, p_limit integer DEFAULT 5000) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  head bigint;
  n integer;
BEGIN
  INSERT INTO event_feed_heads (tenant_id) VALUES (p_tenant) ON CONFLICT DO NOTHING;
  SELECT position INTO head FROM event_feed_heads WHERE tenant_id = p_tenant FOR UPDATE;
  WITH pending AS (
    SELECT id, row_number() OVER (ORDER BY created_at, id) AS rn
      FROM (SELECT id, created_at FROM events WHERE tenant_id = p_tenant AND position IS NULL
             ORDER BY created_at, id LIMIT p_limit) AS p
  )
  UPDATE events e SET position = head + pending.rn FROM pending WHERE e.id = pending.id;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n > 0 THEN
    UPDATE event_feed_heads SET position = head + n WHERE tenant_id = p_tenant;
  END IF;
  RETURN n;
END $$;

-- Retention: removes events older than each tenant's event_retention_days (their delivery rows
-- go with them) and records how far the feed was purged. Returns the number of events removed.
CREATE FUNCTION events_purge_expired(p_limit integer DEFAULT 10000) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  n integer;
BEGIN
  WITH doomed AS (
    SELECT e.id FROM events e JOIN tenants t ON t.id = e.tenant_id
     WHERE e.position IS NOT NULL AND e.created_at < now() - make_interval(days => t.event_retention_days)
     ORDER BY e.created_at LIMIT p_limit
  ), gone AS (
    DELETE FROM events e USING doomed WHERE e.id = doomed.id RETURNING e.tenant_id, e.position
  ), per_tenant AS (
    SELECT tenant_id, max(position) AS through, count(*) AS c FROM gone GROUP BY tenant_id
  ), bumped AS (
    UPDATE event_feed_heads h SET purged_through = greatest(h.purged_through, per_tenant.through)
      FROM per_tenant WHERE h.tenant_id = per_tenant.tenant_id RETURNING per_tenant.c
  )
  SELECT coalesce(sum(c), 0) INTO n FROM bumped;
  RETURN n;
END $$;

REVOKE ALL ON FUNCTION events_tenants_to_seal(), events_seal(uuid, integer), events_purge_expired(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION events_tenants_to_seal(), events_seal(uuid, integer), events_purge_expired(integer) TO roster_app;

-- Down Migration
DROP FUNCTION events_purge_expired(integer);
DROP FUNCTION events_seal(uuid, integer);
DROP FUNCTION events_tenants_to_seal();
DROP TABLE webhook_deliveries, webhook_endpoints, event_feed_heads, events;
