-- Up Migration

-- Under row-level security the planner may not evaluate a qual whose operator is not leakproof
-- (LIKE is not) inside an index scan ahead of the policy, so the trigram indexes of
-- 1764700002000_directory_search never served the app role: every portal search scanned the
-- whole tenant (100-300 ms at 100,000 users). These functions match inside the caller's own
-- tenant only (the tenant must be the transaction's app.tenant_id) and return ids, which the
-- caller's query then reads under RLS as before (with the page order's key, so a page of a common
-- term reads only its own rows).
CREATE FUNCTION directory_user_matches(p_tenant uuid, p_pattern text)
RETURNS TABLE (id uuid, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT u.id, u.created_at FROM users u
   WHERE u.tenant_id = p_tenant AND p_tenant = app_tenant_id() AND u.directory_search LIKE p_pattern
$$;

CREATE FUNCTION directory_group_matches(p_tenant uuid, p_pattern text)
RETURNS TABLE (id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT g.id FROM groups g
   WHERE g.tenant_id = p_tenant AND p_tenant = app_tenant_id() AND g.display_name_key LIKE p_pattern
$$;

REVOKE ALL ON FUNCTION directory_user_matches(uuid, text), directory_group_matches(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION directory_user_matches(uuid, text), directory_group_matches(uuid, text) TO roster_app;

-- Down Migration
DROP FUNCTION directory_group_matches(uuid, text);
DROP FUNCTION directory_user_matches(uuid, text);
