-- Up Migration

-- A SCIM request authenticated from an API process's token cache must still stop at once when its
-- token or connection is revoked on any process: the cache hears revocations by NOTIFY, which can
-- arrive after the next request. Every SCIM statement that scopes itself to a tenant takes that
-- tenant from this function instead of a bare parameter, so the token is re-checked in the same
-- statement (no round trip of its own), and a revoked, expired or foreign token raises RT401
-- before anything is read or written. The API answers it 401, like a failed authentication.
CREATE FUNCTION scim_token_tenant(p_token uuid, p_tenant uuid) RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
BEGIN
  PERFORM 1 FROM scim_tokens t JOIN scim_connections c ON c.id = t.connection_id
   WHERE t.id = p_token AND t.tenant_id = p_tenant
     AND t.revoked_at IS NULL AND c.revoked_at IS NULL
     AND (t.expires_at IS NULL OR t.expires_at > now());
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the SCIM token is revoked or expired' USING ERRCODE = 'RT401';
  END IF;
  RETURN p_tenant;
END $$;

REVOKE ALL ON FUNCTION scim_token_tenant(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scim_token_tenant(uuid, uuid) TO roster_app;

-- Down Migration
DROP FUNCTION scim_token_tenant(uuid, uuid);
