-- Up Migration

-- Parked identity streams for the operator console: the opaque identity id, the event's seq and
-- type, the failure type and attempts, since when. Not the failure message (it may quote the
-- person's data); the tenant's portal and the CLI show it.
CREATE FUNCTION console_stream_parks(p_tenant uuid DEFAULT NULL, p_limit integer DEFAULT 200)
RETURNS TABLE (tenant_id uuid, tenant_slug text, user_id uuid, seq bigint, event_type text, failure_type text, attempts integer, since timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT a.tenant_id, t.slug, (a.data->>'userId')::uuid, (a.data->>'seq')::bigint, a.data->>'eventType', a.data->>'failureType',
         coalesce((a.data->>'attempts')::int, 1), a.created_at
    FROM tenant_alerts a JOIN tenants t ON t.id = a.tenant_id
   WHERE a.kind = 'stream_parked' AND a.resolved_at IS NULL AND (p_tenant IS NULL OR a.tenant_id = p_tenant)
   ORDER BY a.created_at, a.id LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION console_stream_parks(uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION console_stream_parks(uuid, integer) TO roster_app;

-- Down Migration
DROP FUNCTION console_stream_parks(uuid, integer);
