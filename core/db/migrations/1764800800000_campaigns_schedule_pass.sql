-- Up Migration

-- Campaigns (issue 9), added by the temporal helper. The schedule reconciler's full pass
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

-- Fresh statistics for campaign_items once a campaign's generation has written its items (100,000
-- rows in seconds): until autovacuum's analyze comes round, the planner takes the new campaign for
-- empty and serves lookups by primary key from the reviewer worklist index (a scan of every entry of
-- the campaign per decided item: revoke decisions ran 6x slower). The app role does not own the
-- table, so the campaign workflow's generation step asks through this function. ANALYZE samples a
-- bounded number of rows, so its cost does not grow with the table.
CREATE FUNCTION campaign_items_analyze() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  ANALYZE campaign_items;
END
$$;
REVOKE ALL ON FUNCTION campaign_items_analyze() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION campaign_items_analyze() TO roster_app;

-- Down Migration
DROP FUNCTION IF EXISTS campaign_items_analyze();
DROP FUNCTION IF EXISTS campaign_definitions_scheduled(uuid, uuid, integer);
