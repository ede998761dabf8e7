-- Up Migration

-- Bounded growth (issue 10). A scheduled job (workflows/maintenance.ts) deletes, in batches, rows
-- that served their purpose; the audit log is kept (it is the record) and only measured.

-- A tenant may keep its webhook delivery log longer or shorter than the operator's default
-- (NULL: the default, RETENTION_WEBHOOK_DELIVERIES_DAYS).
ALTER TABLE tenants ADD COLUMN delivery_log_retention_days integer CHECK (delivery_log_retention_days BETWEEN 1 AND 3650);
GRANT UPDATE (delivery_log_retention_days) ON tenants TO roster_app;

-- The size of each tenant's audit log, counted incrementally: sealed rows never change and their
-- seq is gapless per tenant, so each pass adds the rows sealed since `counted_seq`.
CREATE TABLE tenant_audit_size (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  audit_rows bigint NOT NULL DEFAULT 0,
  audit_bytes bigint NOT NULL DEFAULT 0,
  counted_seq bigint NOT NULL DEFAULT 0,
  measured_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenant_audit_size ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_audit_size FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_audit_size USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT ON tenant_audit_size TO roster_app;

-- Deletes at most p_limit rows of one kind past its retention (days); returns how many. Batches
-- keep each transaction short; the job calls again until a batch comes back short.
--   outbox:             delivered rows whose stream has applied them (a stuck stream keeps its rows)
--   activity_steps:     stored step results of an identity or group stream that moved past the
--                       step (a later event applied) or of a deleted identity
--   portal_sessions, operator_sessions: expired or revoked
--   portal_setup_links, operator_setup_links: used or expired
--   webhook_deliveries: last touched before the tenant's delivery_log_retention_days (or p_days)
--   scim_activity:      per-minute buckets and recorded error answers
CREATE FUNCTION prune_expired(p_kind text, p_days integer, p_limit integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  cutoff timestamptz := now() - make_interval(days => p_days);
  n integer := 0;
  m integer := 0;
BEGIN
  IF p_days < 1 OR p_limit < 1 THEN RAISE EXCEPTION 'prune_expired: days and limit must be positive'; END IF;
  IF p_kind = 'outbox' THEN
    DELETE FROM outbox WHERE id IN (
      SELECT o.id FROM outbox o
       WHERE o.delivered_at IS NOT NULL AND o.created_at < cutoff
         AND NOT EXISTS (SELECT 1 FROM users u WHERE o.stream_type = 'user' AND u.tenant_id = o.tenant_id AND u.id = o.stream_id AND u.applied_seq < o.seq)
         AND NOT EXISTS (SELECT 1 FROM groups g WHERE o.stream_type = 'group' AND g.tenant_id = o.tenant_id AND g.id = o.stream_id AND g.applied_seq < o.seq)
       ORDER BY o.id LIMIT p_limit);
    GET DIAGNOSTICS n = ROW_COUNT;
  ELSIF p_kind = 'activity_steps' THEN
    DELETE FROM activity_steps s USING (
      SELECT x.tenant_id, x.step_key FROM (
        SELECT a.tenant_id, a.step_key, km[1] AS kind, km[2]::uuid AS stream_id, km[3]::bigint AS seq
          FROM activity_steps a, regexp_match(a.step_key, '^(identity|group)/[0-9a-f-]{36}/([0-9a-f-]{36}):([0-9]{1,18}):') AS km
         WHERE a.created_at < cutoff) x
       WHERE (x.kind = 'identity' AND NOT EXISTS (
                SELECT 1 FROM users u WHERE u.tenant_id = x.tenant_id AND u.id = x.stream_id AND u.applied_seq <= x.seq AND u.lifecycle_state <> 'deleted'))
          OR (x.kind = 'group' AND NOT EXISTS (
                SELECT 1 FROM groups g WHERE g.tenant_id = x.tenant_id AND g.id = x.stream_id AND g.applied_seq <= x.seq))
       LIMIT p_limit) d
     WHERE s.tenant_id = d.tenant_id AND s.step_key = d.step_key;
    GET DIAGNOSTICS n = ROW_COUNT;
  ELSIF p_kind = 'portal_sessions' THEN
    DELETE FROM portal_sessions WHERE id IN (
      SELECT id FROM portal_sessions WHERE coalesce(least(revoked_at, expires_at), expires_at) < cutoff LIMIT p_limit);
    GET DIAGNOSTICS n = ROW_COUNT;
  ELSIF p_kind = 'operator_sessions' THEN
    DELETE FROM operator_sessions WHERE id IN (
      SELECT id FROM operator_sessions WHERE coalesce(least(revoked_at, expires_at), expires_at) < cutoff LIMIT p_limit);
    GET DIAGNOSTICS n = ROW_COUNT;
  ELSIF p_kind = 'portal_setup_links' THEN
    DELETE FROM portal_setup_links WHERE id IN (
      SELECT id FROM portal_setup_links WHERE coalesce(least(used_at, expires_at), expires_at) < cutoff LIMIT p_limit);
    GET DIAGNOSTICS n = ROW_COUNT;
  ELSIF p_kind = 'operator_setup_links' THEN
    DELETE FROM operator_setup_links WHERE id IN (
      SELECT id FROM operator_setup_links WHERE coalesce(least(used_at, expires_at), expires_at) < cutoff LIMIT p_limit);
    GET DIAGNOSTICS n = ROW_COUNT;
  ELSIF p_kind = 'webhook_deliveries' THEN
    DELETE FROM webhook_deliveries w USING (
      SELECT d.event_id, d.endpoint_id FROM webhook_deliveries d JOIN tenants t ON t.id = d.tenant_id
       WHERE greatest(d.created_at, d.last_attempt_at, d.redeliver_requested_at)
             < now() - make_interval(days => coalesce(t.delivery_log_retention_days, p_days))
       LIMIT p_limit) x
     WHERE w.event_id = x.event_id AND w.endpoint_id = x.endpoint_id;
    GET DIAGNOSTICS n = ROW_COUNT;
  ELSIF p_kind = 'scim_activity' THEN
    DELETE FROM scim_activity_buckets b USING (
      SELECT tenant_id, connection_id, bucket FROM scim_activity_buckets WHERE bucket < cutoff LIMIT p_limit) x
     WHERE b.tenant_id = x.tenant_id AND b.connection_id = x.connection_id AND b.bucket = x.bucket;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM scim_request_errors WHERE id IN (SELECT id FROM scim_request_errors WHERE occurred_at < cutoff LIMIT p_limit);
    GET DIAGNOSTICS m = ROW_COUNT;
    n := n + m;
  ELSE
    RAISE EXCEPTION 'prune_expired: unknown kind %', p_kind;
  END IF;
  RETURN n;
END $$;

-- Adds the audit rows sealed since the last pass to each tenant's size. One pass at a time (a
-- second caller returns at once): the sum must not count a row twice.
CREATE FUNCTION audit_size_refresh() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  t uuid;
  counted bigint;
  n integer := 0;
BEGIN
  IF NOT pg_try_advisory_xact_lock(hashtext('roster.audit_size_refresh')) THEN RETURN 0; END IF;
  FOR t IN SELECT id FROM tenants LOOP
    SELECT counted_seq INTO counted FROM tenant_audit_size WHERE tenant_id = t;
    INSERT INTO tenant_audit_size AS s (tenant_id, audit_rows, audit_bytes, counted_seq, measured_at)
    SELECT t, count(*), coalesce(sum(pg_column_size(a.*)), 0), coalesce(max(a.seq), coalesce(counted, 0)), now()
      FROM audit_events a WHERE a.tenant_id = t AND a.seq > coalesce(counted, 0)
    ON CONFLICT (tenant_id) DO UPDATE
       SET audit_rows = s.audit_rows + EXCLUDED.audit_rows, audit_bytes = s.audit_bytes + EXCLUDED.audit_bytes,
           counted_seq = EXCLUDED.counted_seq, measured_at = EXCLUDED.measured_at;
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;

-- Every tenant's audit size, for the metric and the operator console (counts only).
CREATE FUNCTION console_audit_sizes(p_tenant uuid DEFAULT NULL)
RETURNS TABLE (tenant_id uuid, slug text, audit_rows bigint, audit_bytes bigint, measured_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT t.id, t.slug, coalesce(s.audit_rows, 0), coalesce(s.audit_bytes, 0), s.measured_at
    FROM tenants t LEFT JOIN tenant_audit_size s ON s.tenant_id = t.id
   WHERE p_tenant IS NULL OR t.id = p_tenant
   ORDER BY t.slug
$$;

REVOKE ALL ON FUNCTION prune_expired(text, integer, integer), audit_size_refresh(), console_audit_sizes(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION prune_expired(text, integer, integer), audit_size_refresh(), console_audit_sizes(uuid) TO roster_app;

-- Down Migration
DROP FUNCTION console_audit_sizes(uuid);
DROP FUNCTION audit_size_refresh();
DROP FUNCTION prune_expired(text, integer, integer);
DROP TABLE tenant_audit_size;
ALTER TABLE tenants DROP COLUMN delivery_log_retention_days;
