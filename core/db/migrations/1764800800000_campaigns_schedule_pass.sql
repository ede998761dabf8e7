-- Up Migration

-- Campaigns (issue 9), added by the temporal helper: the schedule reconciler's full pass
-- (worker/loops/campaign-reconciler.ts) recreates lost Temporal Schedules for every live definition
-- that has a schedule. campaign_definitions_to_sync(true, n) returns one page only (ordered by
-- updated_at, which moves), so the pass walks keyset pages of (tenant_id, id) instead. Ids and
-- revisions only; each definition is then read under its tenant.
CREATE FUNCTION campaign_definitions_scheduled(p_after_tenant uuid, p_after_id uuid, p_limit integer)
RETURNS TABLE (tenant_id uuid, id uuid, revision integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT d.tenant_id, d.id, d.revision FROM campaign_definitions d
   WHERE d.deleted_at IS NULL AND d.settings->'schedule' IS NOT NULL AND d.settings->'schedule' <> 'null'::jsonb
     AND (p_after_tenant IS NULL OR (d.tenant_id, d.id) > (p_after_tenant, p_after_id))
   ORDER BY d.tenant_id, d.id LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION campaign_definitions_scheduled(uuid, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION campaign_definitions_scheduled(uuid, uuid, integer) TO roster_app;

-- Down Migration
DROP FUNCTION IF EXISTS campaign_definitions_scheduled(uuid, uuid, integer);
