-- Up Migration

-- Token introspection (RFC 7662) in one statement and its own implicit transaction, the way the
-- SCIM `userName eq` lookup is (scim_user_by_name_key): the tenant for this statement only, then
-- the credential with its principal's state under row-level security, and the minute-resolution
-- last_used_at touch of a credential that answers active. Whether it is active is decided here,
-- once, for both the touch and the answer. Before: BEGIN, set the tenant, select,
-- maybe touch, COMMIT (4–5 round trips on the path a vendor's application calls on every request).
CREATE FUNCTION credential_introspect(p_tenant uuid, p_token_hash bytea)
RETURNS TABLE (
  kind text, user_id uuid, service_account_id uuid, scopes text[], token_hash bytea, iat bigint,
  exp bigint, roles text[], active boolean)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
#variable_conflict use_column
DECLARE
  r record;
  v_active boolean;
BEGIN
  PERFORM set_config('app.tenant_id', p_tenant::text, true);
  SELECT c.id, c.kind, c.user_id, c.service_account_id, c.scopes, c.required_roles, c.token_hash,
         floor(extract(epoch FROM c.created_at))::int8 AS iat,
         floor(extract(epoch FROM c.expires_at))::int8 AS exp,
         c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > now()) AS credential_live,
         u.lifecycle_state = 'active' AND u.active AND u.scim_deleted_at IS NULL AS user_live,
         coalesce((SELECT array_agg(ur.role ORDER BY ur.role) FROM user_roles ur
                    WHERE ur.tenant_id = c.tenant_id AND ur.user_id = c.user_id), '{}') AS roles,
         s.status = 'active' AND NOT s.orphaned AS account_live,
         c.last_used_at IS NULL OR c.last_used_at < now() - interval '1 minute' AS stale_last_used
    INTO r
    FROM credentials c
    LEFT JOIN users u ON u.tenant_id = c.tenant_id AND u.id = c.user_id
    LEFT JOIN service_accounts s ON s.tenant_id = c.tenant_id AND s.id = c.service_account_id
   WHERE c.tenant_id = p_tenant AND c.token_hash = p_token_hash;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  -- Active: a live credential of a live principal (a user holding every role the credential
  -- requires, or a service account). Minute resolution for last use: a write per call would cost
  -- more than the lookup.
  v_active := r.credential_live AND coalesce(CASE WHEN r.user_id IS NOT NULL THEN r.user_live AND r.required_roles <@ r.roles
                                                   ELSE r.account_live END, false);
  IF r.stale_last_used AND v_active THEN
    UPDATE credentials SET last_used_at = now() WHERE tenant_id = p_tenant AND credentials.id = r.id;
  END IF;
  RETURN QUERY SELECT r.kind, r.user_id, r.service_account_id, r.scopes, r.token_hash, r.iat, r.exp, r.roles, v_active;
END $$;
REVOKE ALL ON FUNCTION credential_introspect(uuid, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credential_introspect(uuid, bytea) TO roster_app;

-- Down Migration
DROP FUNCTION credential_introspect(uuid, bytea);
