-- Up Migration

-- SCIM authentication without a round trip per request: API processes cache token → principal in
-- memory and evict on these notifications. NOTIFY is delivered at commit, so a revocation reaches
-- every listening API process as soon as it is durable. Payloads: `t:<token_hash hex>` for a token,
-- `c:<connection id>` for a whole connection. last_used_at-only updates do not notify (they would
-- evict the entries the cache just flushed them from).
CREATE FUNCTION scim_tokens_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'scim_tokens' THEN
    PERFORM pg_notify('roster_scim_tokens', 't:' || encode(OLD.token_hash, 'hex'));
  ELSE
    PERFORM pg_notify('roster_scim_tokens', 'c:' || OLD.id::text);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER scim_tokens_notify AFTER UPDATE ON scim_tokens FOR EACH ROW
  WHEN ((OLD.tenant_id, OLD.connection_id, OLD.token_hash, OLD.expires_at, OLD.revoked_at)
        IS DISTINCT FROM (NEW.tenant_id, NEW.connection_id, NEW.token_hash, NEW.expires_at, NEW.revoked_at))
  EXECUTE FUNCTION scim_tokens_notify();
CREATE TRIGGER scim_tokens_notify_delete AFTER DELETE ON scim_tokens FOR EACH ROW EXECUTE FUNCTION scim_tokens_notify();
CREATE TRIGGER scim_connections_notify AFTER UPDATE OR DELETE ON scim_connections FOR EACH ROW
  EXECUTE FUNCTION scim_tokens_notify();

-- The same lookup as before, plus the token's expiry (a cached principal must stop at it too). It
-- no longer writes last_used_at: API processes batch that through scim_tokens_touch.
DROP FUNCTION scim_authenticate(bytea);
CREATE FUNCTION scim_authenticate(p_hash bytea)
RETURNS TABLE (tenant_id uuid, connection_id uuid, token_id uuid, token_hash bytea, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT t.tenant_id, t.connection_id, t.id, t.token_hash, t.expires_at
    FROM scim_tokens t JOIN scim_connections c ON c.id = t.connection_id
   WHERE t.token_hash = p_hash
     AND t.revoked_at IS NULL AND c.revoked_at IS NULL
     AND (t.expires_at IS NULL OR t.expires_at > now())
$$;

-- last_used_at at minute resolution, for the tokens an API process saw since its last flush.
CREATE FUNCTION scim_tokens_touch(p_ids uuid[]) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  UPDATE scim_tokens SET last_used_at = now()
   WHERE id = ANY (p_ids) AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
$$;

REVOKE ALL ON FUNCTION scim_authenticate(bytea), scim_tokens_touch(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scim_authenticate(bytea), scim_tokens_touch(uuid[]) TO roster_app;

-- `GET /Users?filter=userName eq "…"`, the IdPs' hottest request, in one statement: the function
-- sets the tenant for the statement's own implicit transaction and selects. SECURITY INVOKER, so
-- row-level security applies exactly as in any other transaction (the tenant_id condition is the
-- index's, not the isolation). Call it as a statement of its own: inside an explicit transaction
-- the setting would stay for the rest of that transaction.
CREATE FUNCTION scim_user_by_name_key(p_tenant uuid, p_key text)
RETURNS TABLE (
  tenant_id uuid, id uuid, user_name text, external_id text, active boolean, lifecycle_state text,
  provisioned_at timestamptz, activated_at timestamptz, suspended_at timestamptz, deleted_at timestamptz,
  scim_deleted_at timestamptz, display_name text, name jsonb, emails jsonb, phone_numbers jsonb, enterprise jsonb,
  attributes jsonb, version integer, event_seq bigint, applied_seq bigint, created_at timestamptz,
  updated_at timestamptz, groups jsonb)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
#variable_conflict use_column
BEGIN
  PERFORM set_config('app.tenant_id', p_tenant::text, true);
  RETURN QUERY
    SELECT u.tenant_id, u.id, u.user_name, u.external_id, u.active, u.lifecycle_state, u.provisioned_at,
           u.activated_at, u.suspended_at, u.deleted_at, u.scim_deleted_at, u.display_name, u.name, u.emails,
           u.phone_numbers, u.enterprise, u.attributes, u.version, u.event_seq, u.applied_seq, u.created_at,
           u.updated_at,
           coalesce((
             SELECT jsonb_agg(jsonb_build_object('id', g.id, 'displayName', g.display_name) ORDER BY g.display_name_key)
               FROM group_members gm JOIN groups g ON g.tenant_id = gm.tenant_id AND g.id = gm.group_id
              WHERE gm.tenant_id = u.tenant_id AND gm.user_id = u.id), '[]'::jsonb)
      FROM users u
     WHERE u.tenant_id = p_tenant AND u.user_name_key = p_key AND u.scim_deleted_at IS NULL;
END $$;

-- A SCIM create in one statement, the same way: the tenant for the implicit transaction, then the
-- user, its personal-data key, its (already sealed) audit event and its first outbox event as
-- data-modifying CTEs. Returns no row, writing nothing, when the externalId names an identity
-- still restorable (SCIM-deleted inside its grace period): the caller restores that one instead.
-- A taken userName raises unique_violation (409) and the statement writes nothing. No row locks.
CREATE FUNCTION scim_create_user(
  p_tenant uuid, p_id uuid, p_user_name text, p_user_name_key text, p_external_id text, p_active boolean,
  p_display_name text, p_name jsonb, p_emails jsonb, p_phone_numbers jsonb, p_enterprise jsonb, p_attributes jsonb,
  p_data_key bytea, p_actor_id text, p_request_id text, p_audit_data jsonb)
RETURNS TABLE (
  tenant_id uuid, id uuid, user_name text, external_id text, active boolean, lifecycle_state text,
  provisioned_at timestamptz, activated_at timestamptz, suspended_at timestamptz, deleted_at timestamptz,
  scim_deleted_at timestamptz, display_name text, name jsonb, emails jsonb, phone_numbers jsonb, enterprise jsonb,
  attributes jsonb, version integer, event_seq bigint, applied_seq bigint, created_at timestamptz,
  updated_at timestamptz, groups jsonb)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
#variable_conflict use_column
BEGIN
  PERFORM set_config('app.tenant_id', p_tenant::text, true);
  IF p_external_id IS NOT NULL AND EXISTS (
       SELECT 1 FROM users d
        WHERE d.tenant_id = p_tenant AND d.external_id = p_external_id
          AND d.scim_deleted_at IS NOT NULL AND d.lifecycle_state <> 'deleted') THEN
    RETURN;
  END IF;
  RETURN QUERY
    WITH u AS (
      INSERT INTO users AS u (id, tenant_id, user_name, user_name_key, external_id, active, lifecycle_state,
                              display_name, name, emails, phone_numbers, enterprise, attributes, event_seq)
      VALUES (p_id, p_tenant, p_user_name, p_user_name_key, p_external_id, p_active, 'provisioned',
              p_display_name, p_name, p_emails, p_phone_numbers, p_enterprise, p_attributes, 1)
      RETURNING u.*),
    k AS (
      INSERT INTO personal_data_keys (tenant_id, user_id, data_key) SELECT u.tenant_id, u.id, p_data_key FROM u),
    a AS (
      INSERT INTO audit_events (tenant_id, actor_type, actor_id, action, target_type, target_id, request_id, data)
      SELECT u.tenant_id, 'scim', p_actor_id, 'user.created', 'user', u.id::text, p_request_id, p_audit_data FROM u),
    o AS (
      INSERT INTO outbox (tenant_id, stream_type, stream_id, seq, event_type, payload)
      SELECT u.tenant_id, 'user', u.id, u.event_seq, 'user.created', jsonb_build_object('active', u.active) FROM u)
    SELECT u.tenant_id, u.id, u.user_name, u.external_id, u.active, u.lifecycle_state, u.provisioned_at,
           u.activated_at, u.suspended_at, u.deleted_at, u.scim_deleted_at, u.display_name, u.name, u.emails,
           u.phone_numbers, u.enterprise, u.attributes, u.version, u.event_seq, u.applied_seq, u.created_at,
           u.updated_at, '[]'::jsonb  -- a user created this instant is in no group yet
      FROM u;
END $$;

-- Down Migration
DROP FUNCTION scim_create_user(uuid, uuid, text, text, text, boolean, text, jsonb, jsonb, jsonb, jsonb, jsonb, bytea, text, text, jsonb);
DROP FUNCTION scim_user_by_name_key(uuid, text);
DROP FUNCTION scim_tokens_touch(uuid[]);
DROP FUNCTION scim_authenticate(bytea);
CREATE FUNCTION scim_authenticate(p_hash bytea)
RETURNS TABLE (tenant_id uuid, connection_id uuid, token_id uuid, token_hash bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  RETURN QUERY
    SELECT t.tenant_id, t.connection_id, t.id, t.token_hash
      FROM scim_tokens t JOIN scim_connections c ON c.id = t.connection_id
     WHERE t.token_hash = p_hash
       AND t.revoked_at IS NULL AND c.revoked_at IS NULL
       AND (t.expires_at IS NULL OR t.expires_at > now());
  IF FOUND THEN
    UPDATE scim_tokens SET last_used_at = now()
     WHERE scim_tokens.token_hash = p_hash
       AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');
  END IF;
END $$;
REVOKE ALL ON FUNCTION scim_authenticate(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scim_authenticate(bytea) TO roster_app;
DROP TRIGGER scim_connections_notify ON scim_connections;
DROP TRIGGER scim_tokens_notify_delete ON scim_tokens;
DROP TRIGGER scim_tokens_notify ON scim_tokens;
DROP FUNCTION scim_tokens_notify();
