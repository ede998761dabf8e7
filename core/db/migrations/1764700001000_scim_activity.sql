-- Up Migration

-- SCIM connection activity (issue 7): what the portal's connections page and the operator console
-- show per connection. API processes count requests in memory and flush every few seconds in one
-- statement (scim_activity_flush), so the SCIM hot path never waits for these tables.

-- Per connection: when it was last used, totals since it was created.
CREATE TABLE scim_connection_activity (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  connection_id uuid NOT NULL REFERENCES scim_connections (id) ON DELETE CASCADE,
  last_request_at timestamptz NOT NULL,
  last_error_at timestamptz,
  requests bigint NOT NULL DEFAULT 0,
  errors bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, connection_id)
);

-- Requests and errors per connection and minute; kept for a week (older buckets go at each flush).
CREATE TABLE scim_activity_buckets (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  connection_id uuid NOT NULL REFERENCES scim_connections (id) ON DELETE CASCADE,
  bucket timestamptz NOT NULL CHECK (bucket = date_trunc('minute', bucket)),
  requests integer NOT NULL DEFAULT 0 CHECK (requests >= 0),
  errors integer NOT NULL DEFAULT 0 CHECK (errors >= 0 AND errors <= requests),
  PRIMARY KEY (tenant_id, connection_id, bucket)
);
CREATE INDEX scim_activity_buckets_age ON scim_activity_buckets (bucket);

-- The most recent error answers per connection (at most 50 each: older ones go at each flush).
-- The path is stored without its query string (filters can carry personal data).
CREATE TABLE scim_request_errors (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  connection_id uuid NOT NULL REFERENCES scim_connections (id) ON DELETE CASCADE,
  occurred_at timestamptz NOT NULL,
  method text NOT NULL,
  path text NOT NULL,
  status integer NOT NULL,
  scim_type text,
  detail text
);
CREATE INDEX scim_request_errors_recent ON scim_request_errors (tenant_id, connection_id, id DESC);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['scim_connection_activity', 'scim_activity_buckets', 'scim_request_errors'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;
-- Read in the tenant's own transactions; written only through scim_activity_flush.
GRANT SELECT ON scim_connection_activity, scim_activity_buckets, scim_request_errors TO roster_app;

-- One API process's counts since its last flush, for any number of tenants, in one statement.
-- p_counts: [{ "tenant": uuid, "connection": uuid, "bucket": timestamptz, "requests": n, "errors": n,
--              "last": timestamptz }], p_errors: [{ "tenant", "connection", "at", "method", "path",
-- "status", "scimType", "detail" }]. Rows naming a connection that is not the tenant's are dropped
-- (the caller only ever has what scim_authenticate returned, but this function trusts nothing).
CREATE FUNCTION scim_activity_flush(p_counts jsonb, p_errors jsonb) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  WITH x AS (
    SELECT x.tenant, x.connection, date_trunc('minute', x.bucket) AS bucket, x.requests, least(x.errors, x.requests) AS errors, x.last
      FROM jsonb_to_recordset(coalesce(p_counts, '[]')) AS x(tenant uuid, connection uuid, bucket timestamptz,
                                                            requests integer, errors integer, last timestamptz)
      JOIN scim_connections c ON c.id = x.connection AND c.tenant_id = x.tenant
     WHERE x.requests > 0),
  buckets AS (
    INSERT INTO scim_activity_buckets AS b (tenant_id, connection_id, bucket, requests, errors)
    SELECT tenant, connection, bucket, sum(requests), sum(errors) FROM x GROUP BY tenant, connection, bucket
    ON CONFLICT (tenant_id, connection_id, bucket)
    DO UPDATE SET requests = b.requests + excluded.requests, errors = b.errors + excluded.errors)
  INSERT INTO scim_connection_activity AS a (tenant_id, connection_id, last_request_at, last_error_at, requests, errors)
  SELECT tenant, connection, max(last), max(last) FILTER (WHERE errors > 0), sum(requests), sum(errors)
    FROM x GROUP BY tenant, connection
  ON CONFLICT (tenant_id, connection_id)
  DO UPDATE SET last_request_at = greatest(a.last_request_at, excluded.last_request_at),
                last_error_at = greatest(a.last_error_at, excluded.last_error_at),
                requests = a.requests + excluded.requests,
                errors = a.errors + excluded.errors;

  INSERT INTO scim_request_errors (tenant_id, connection_id, occurred_at, method, path, status, scim_type, detail)
  SELECT x.tenant, x.connection, x.at, left(x.method, 16), left(x.path, 300), x.status, left(x."scimType", 64), left(x.detail, 500)
    FROM jsonb_to_recordset(coalesce(p_errors, '[]')) AS x(tenant uuid, connection uuid, at timestamptz, method text,
                                                          path text, status integer, "scimType" text, detail text)
    JOIN scim_connections c ON c.id = x.connection AND c.tenant_id = x.tenant
   ORDER BY x.at;

  -- Bounded: the last 50 errors of each connection that just had some, and a week of buckets.
  DELETE FROM scim_request_errors e
   USING (SELECT DISTINCT x.tenant, x.connection
            FROM jsonb_to_recordset(coalesce(p_errors, '[]')) AS x(tenant uuid, connection uuid)) f
   WHERE e.tenant_id = f.tenant AND e.connection_id = f.connection
     AND e.id < (SELECT k.id FROM scim_request_errors k
                  WHERE k.tenant_id = f.tenant AND k.connection_id = f.connection
                  ORDER BY k.id DESC OFFSET 49 LIMIT 1);

  DELETE FROM scim_activity_buckets WHERE bucket < now() - interval '7 days';
$$;
REVOKE ALL ON FUNCTION scim_activity_flush(jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scim_activity_flush(jsonb, jsonb) TO roster_app;

-- ---------------------------------------------------------------------------------------------
-- The operator console's only ways into tenant data. Operators create tenants and watch the
-- fleet; they never read a tenant's people or change its settings, so these return tenant and
-- connection metadata and counts: no user rows, names or emails (an identity appears only as its
-- opaque id, so that an operator can tell a tenant which one is stuck). The console connects as
-- roster_app like everything else; only these functions cross tenants for it.

-- Identities whose lifecycle workflow has not applied their last accepted event for longer than
-- p_after (since: when the first unapplied event was accepted), and leavers held by the guard.
-- Scans users: a fleet page, not a hot path (an index on event_seq > applied_seq would cost
-- every SCIM write its HOT update).
CREATE FUNCTION fleet_identity_alerts(p_after interval)
RETURNS TABLE (tenant_id uuid, kind text, user_id uuid, since timestamptz, event_seq bigint, applied_seq bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT u.tenant_id, 'stuck', u.id, coalesce(o.created_at, u.updated_at), u.event_seq, u.applied_seq
    FROM users u
    LEFT JOIN outbox o ON o.tenant_id = u.tenant_id AND o.stream_type = 'user' AND o.stream_id = u.id AND o.seq = u.applied_seq + 1
   WHERE u.event_seq > u.applied_seq AND coalesce(o.created_at, u.updated_at) < now() - p_after
  UNION ALL
  SELECT h.tenant_id, 'held', h.user_id, h.held_at, u.event_seq, u.applied_seq
    FROM deprovision_holds h JOIN users u ON u.tenant_id = h.tenant_id AND u.id = h.user_id
   WHERE h.released_at IS NULL
$$;
REVOKE ALL ON FUNCTION fleet_identity_alerts(interval) FROM PUBLIC;

-- All tenants, or the one named by p_tenant.
CREATE FUNCTION console_tenants(p_stuck_after interval, p_tenant uuid DEFAULT NULL)
RETURNS TABLE (id uuid, slug text, name text, created_at timestamptz, connections integer,
               last_request_at timestamptz, requests_1h bigint, errors_1h bigint,
               outbox_backlog bigint, oldest_undelivered_at timestamptz, stuck integer, held integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  WITH c AS (
    SELECT tenant_id, count(*) FILTER (WHERE revoked_at IS NULL)::int AS n FROM scim_connections GROUP BY tenant_id),
  a AS (
    SELECT tenant_id, max(last_request_at) AS last FROM scim_connection_activity GROUP BY tenant_id),
  b AS (
    SELECT tenant_id, sum(requests)::bigint AS requests, sum(errors)::bigint AS errors
      FROM scim_activity_buckets WHERE bucket >= date_trunc('minute', now() - interval '1 hour') GROUP BY tenant_id),
  o AS (
    SELECT tenant_id, count(*)::bigint AS n, min(created_at) AS oldest FROM outbox WHERE delivered_at IS NULL GROUP BY tenant_id),
  i AS (
    SELECT tenant_id, count(*) FILTER (WHERE kind = 'stuck')::int AS stuck, count(*) FILTER (WHERE kind = 'held')::int AS held
      FROM fleet_identity_alerts(p_stuck_after) GROUP BY tenant_id)
  SELECT t.id, t.slug, t.name, t.created_at, coalesce(c.n, 0), a.last, coalesce(b.requests, 0), coalesce(b.errors, 0),
         coalesce(o.n, 0), o.oldest, coalesce(i.stuck, 0), coalesce(i.held, 0)
    FROM tenants t
    LEFT JOIN c ON c.tenant_id = t.id LEFT JOIN a ON a.tenant_id = t.id LEFT JOIN b ON b.tenant_id = t.id
    LEFT JOIN o ON o.tenant_id = t.id LEFT JOIN i ON i.tenant_id = t.id
   WHERE p_tenant IS NULL OR t.id = p_tenant
   ORDER BY t.slug
$$;

-- One tenant's SCIM connections with their health (no tokens, not even prefixes).
CREATE FUNCTION console_tenant_connections(p_tenant uuid)
RETURNS TABLE (id uuid, name text, created_at timestamptz, revoked_at timestamptz, live_tokens integer,
               last_request_at timestamptz, requests_1h bigint, errors_1h bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT c.id, c.name, c.created_at, c.revoked_at,
         (SELECT count(*)::int FROM scim_tokens t
           WHERE t.tenant_id = c.tenant_id AND t.connection_id = c.id AND t.revoked_at IS NULL
             AND (t.expires_at IS NULL OR t.expires_at > now())),
         a.last_request_at,
         coalesce(b.requests, 0), coalesce(b.errors, 0)
    FROM scim_connections c
    LEFT JOIN scim_connection_activity a ON a.tenant_id = c.tenant_id AND a.connection_id = c.id
    LEFT JOIN LATERAL (
      SELECT sum(requests)::bigint AS requests, sum(errors)::bigint AS errors FROM scim_activity_buckets k
       WHERE k.tenant_id = c.tenant_id AND k.connection_id = c.id
         AND k.bucket >= date_trunc('minute', now() - interval '1 hour')) b ON true
   WHERE c.tenant_id = p_tenant
   ORDER BY c.created_at, c.id
$$;

-- Creates a tenant (the console's only write; its audit row is written by the caller, in the same
-- transaction, into the new tenant's own log). A taken slug raises unique_violation.
-- The caller picks the id, so that its transaction can be scoped to the new tenant beforehand.
CREATE FUNCTION console_create_tenant(p_id uuid, p_slug text, p_name text)
RETURNS TABLE (id uuid, slug text, name text, created_at timestamptz)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
  INSERT INTO tenants (id, slug, name) VALUES (p_id, p_slug, p_name) RETURNING id, slug, name, created_at
$$;

-- The outbox relay's health: what waits, since when, and what keeps failing.
CREATE FUNCTION console_outbox_health()
RETURNS TABLE (backlog bigint, oldest_undelivered_at timestamptz, failing bigint, last_error text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT count(*)::bigint, min(created_at), count(*) FILTER (WHERE attempts > 0)::bigint,
         (SELECT left(o.last_error, 300) FROM outbox o WHERE o.delivered_at IS NULL AND o.last_error IS NOT NULL ORDER BY o.id LIMIT 1)
    FROM outbox WHERE delivered_at IS NULL
$$;

CREATE FUNCTION console_identity_alerts(p_stuck_after interval, p_limit integer)
RETURNS TABLE (tenant_id uuid, tenant_slug text, kind text, user_id uuid, since timestamptz, event_seq bigint, applied_seq bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT f.tenant_id, t.slug, f.kind, f.user_id, f.since, f.event_seq, f.applied_seq
    FROM fleet_identity_alerts(p_stuck_after) f JOIN tenants t ON t.id = f.tenant_id
   ORDER BY f.since, f.user_id LIMIT p_limit
$$;

REVOKE ALL ON FUNCTION console_tenants(interval, uuid), console_tenant_connections(uuid), console_create_tenant(uuid, text, text),
  console_outbox_health(), console_identity_alerts(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION console_tenants(interval, uuid), console_tenant_connections(uuid), console_create_tenant(uuid, text, text),
  console_outbox_health(), console_identity_alerts(interval, integer) TO roster_app;

-- Down Migration
DROP FUNCTION console_identity_alerts(interval, integer);
DROP FUNCTION console_outbox_health();
DROP FUNCTION console_create_tenant(uuid, text, text);
DROP FUNCTION console_tenant_connections(uuid);
DROP FUNCTION console_tenants(interval, uuid);
DROP FUNCTION fleet_identity_alerts(interval);
DROP FUNCTION scim_activity_flush(jsonb, jsonb);
DROP TABLE scim_request_errors;
DROP TABLE scim_activity_buckets;
DROP TABLE scim_connection_activity;
