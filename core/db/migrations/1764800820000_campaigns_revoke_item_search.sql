-- Up Migration

-- Searching a campaign's items (GET /campaigns/:id/items?search=, core/campaigns/service-queries.ts
-- itemPage): a prefix of the role, the person's userName or the service account's name. Filtered
-- in risk order, a rare term read every item of the campaign with a lookup each (~0.2-0.5 s at
-- 100,000 items) to find a handful. These indexes let the matches be found from the other side
-- (the people and accounts whose name matches, the roles that match), and the function below
-- returns them, up to a cap, planned for the term at hand.
CREATE INDEX campaign_items_subject ON campaign_items (tenant_id, campaign_id, user_id);
CREATE INDEX campaign_items_service_account ON campaign_items (tenant_id, campaign_id, service_account_id)
  WHERE service_account_id IS NOT NULL;
CREATE INDEX campaign_items_access_prefix ON campaign_items (tenant_id, campaign_id, lower(access_ref) text_pattern_ops);

-- The ids of up to p_cap + 1 items of the campaign matching p_pattern (a LIKE pattern, lower-case):
-- p_cap + 1 rows tell the caller the term is common, and a walk in risk order finds a page of it
-- sooner. An item matching twice may come twice. A definer function for the reason of
-- 1764700006000_directory_search_rls (LIKE is not leakproof: under row-level security no index
-- would serve it); it answers only inside the transaction's own tenant (app.tenant_id). EXECUTE
-- plans each call with the real pattern, which the prefix index conditions need.
CREATE FUNCTION campaign_item_search_hits(p_tenant uuid, p_campaign uuid, p_pattern text, p_cap integer)
RETURNS TABLE (id bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
BEGIN
  IF p_tenant IS DISTINCT FROM app_tenant_id() THEN RETURN; END IF;
  RETURN QUERY EXECUTE
    'SELECT x.id FROM users u
       JOIN campaign_items x ON x.tenant_id = u.tenant_id AND x.campaign_id = $2 AND x.user_id = u.id
      WHERE u.tenant_id = $1 AND u.directory_search LIKE $3 AND lower(u.user_name) LIKE $3
     UNION ALL
     SELECT x.id FROM service_accounts s
       JOIN campaign_items x ON x.tenant_id = s.tenant_id AND x.campaign_id = $2 AND x.service_account_id = s.id
      WHERE s.tenant_id = $1 AND lower(s.name) LIKE $3
     UNION ALL
     SELECT x.id FROM campaign_items x WHERE x.tenant_id = $1 AND x.campaign_id = $2 AND lower(x.access_ref) LIKE $3
     LIMIT $4'
  USING p_tenant, p_campaign, p_pattern, p_cap + 1;
END $$;

REVOKE ALL ON FUNCTION campaign_item_search_hits(uuid, uuid, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION campaign_item_search_hits(uuid, uuid, text, integer) TO roster_app;

-- Down Migration
DROP FUNCTION IF EXISTS campaign_item_search_hits(uuid, uuid, text, integer);
DROP INDEX IF EXISTS campaign_items_access_prefix;
DROP INDEX IF EXISTS campaign_items_service_account;
DROP INDEX IF EXISTS campaign_items_subject;
