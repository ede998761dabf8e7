-- Up Migration

-- Portal user search, planned for the term at hand. directory_user_matches (1764700006000) returns
-- every match, which the caller then sorts for one page: a common term (5,000 of 100,000 users)
-- read 5,000 rows through the trigram index, twice (page and count), 40-80 ms per request. These
-- two plan each call with the real pattern (EXECUTE ... USING): a rare term goes through the
-- trigram index, a common one walks users_page_order and stops after one page (0.3 ms). Both answer
-- only inside the transaction's own tenant (app.tenant_id), like directory_user_matches.

-- One keyset page of matching users' keys (newest first, or oldest first when reading backwards
-- from the cursor); p_state optionally narrows to one lifecycle state.
CREATE FUNCTION directory_user_search_page(p_tenant uuid, p_pattern text, p_state text, p_at timestamptz, p_id uuid,
                                           p_backwards boolean, p_limit integer)
RETURNS TABLE (id uuid, created_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
DECLARE dir text := CASE WHEN p_backwards THEN 'ASC' ELSE 'DESC' END;
BEGIN
  IF p_tenant IS DISTINCT FROM app_tenant_id() THEN RETURN; END IF;
  RETURN QUERY EXECUTE format(
    'SELECT u.id, u.created_at FROM users u WHERE u.tenant_id = $1 AND u.directory_search LIKE $2 %s %s
      ORDER BY u.created_at %s, u.id %s LIMIT $6',
    CASE WHEN p_state IS NULL THEN '' ELSE 'AND u.lifecycle_state = $3' END,
    CASE WHEN p_at IS NULL THEN '' WHEN p_backwards THEN 'AND (u.created_at, u.id) > ($4, $5)' ELSE 'AND (u.created_at, u.id) < ($4, $5)' END,
    dir, dir)
  USING p_tenant, p_pattern, p_state, p_at, p_id, p_limit;
END $$;

-- How many users match: exactly up to p_cap (p_cap + 1 means "more"), or, when the planner
-- expects more than p_cap, its estimate (estimated = true: the portal shows "about N"), which
-- costs a plan and no scan. Counting a common term exactly read thousands of rows per request.
CREATE FUNCTION directory_user_search_count(p_tenant uuid, p_pattern text, p_state text, p_cap integer)
RETURNS TABLE (n bigint, estimated boolean)
-- VOLATILE only because EXPLAIN is not allowed in a STABLE function; it writes nothing.
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
  plan json;
  expected numeric;
BEGIN
  IF p_tenant IS DISTINCT FROM app_tenant_id() THEN
    RETURN QUERY SELECT 0::bigint, false;
    RETURN;
  END IF;
  EXECUTE format('EXPLAIN (FORMAT JSON) SELECT 1 FROM users u WHERE u.tenant_id = %L AND u.directory_search LIKE %L %s',
                 p_tenant, p_pattern, CASE WHEN p_state IS NULL THEN '' ELSE format('AND u.lifecycle_state = %L', p_state) END)
    INTO plan;
  expected := (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric;
  IF expected > p_cap THEN
    RETURN QUERY SELECT expected::bigint, true;
    RETURN;
  END IF;
  RETURN QUERY EXECUTE format(
    'SELECT count(*), false FROM (SELECT 1 FROM users u WHERE u.tenant_id = $1 AND u.directory_search LIKE $2 %s LIMIT $4) m',
    CASE WHEN p_state IS NULL THEN '' ELSE 'AND u.lifecycle_state = $3' END)
  USING p_tenant, p_pattern, p_state, p_cap + 1;
END $$;

REVOKE ALL ON FUNCTION directory_user_search_page(uuid, text, text, timestamptz, uuid, boolean, integer),
  directory_user_search_count(uuid, text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION directory_user_search_page(uuid, text, text, timestamptz, uuid, boolean, integer),
  directory_user_search_count(uuid, text, text, integer) TO roster_app;

-- Down Migration
DROP FUNCTION directory_user_search_count(uuid, text, text, integer);
DROP FUNCTION directory_user_search_page(uuid, text, text, timestamptz, uuid, boolean, integer);
