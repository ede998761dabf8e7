-- Up Migration

-- A SCIM user PATCH or PUT in two statements instead of a transaction of five round trips (BEGIN,
-- set tenant, locking read, write, COMMIT), for the case where nobody else writes the user in
-- between: a plain read, the patch applied in the API, then one conditional write. Both set the
-- tenant for their own implicit transaction (SECURITY INVOKER: row-level security applies as in
-- any transaction). The write names the version it was computed from and writes nothing when the
-- user has moved on since (or was SCIM-deleted); the API then takes the locking path. Its only
-- row lock is the user's own, taken and released inside the one statement, so it needs no place in
-- the lock order (core/db/locks.ts). Call them as statements of their own, or inside a transaction
-- already scoped to the same tenant: the tenant setting stays for the rest of a transaction. The
-- locking path calls scim_update_user too, in its transaction, with the user locked.

-- A user's SCIM `groups` ({id, displayName} by folded name; [] when none), as every user query returns it.
CREATE FUNCTION scim_user_groups(p_tenant uuid, p_user uuid) RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = public AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object('id', g.id, 'displayName', g.display_name) ORDER BY g.display_name_key), '[]'::jsonb)
    FROM group_members gm JOIN groups g ON g.tenant_id = gm.tenant_id AND g.id = gm.group_id
   WHERE gm.tenant_id = p_tenant AND gm.user_id = p_user
$$;

-- A live user with its groups and its personal-data key (NULL: none yet).
CREATE FUNCTION scim_user_for_write(p_tenant uuid, p_id uuid)
RETURNS TABLE (
  tenant_id uuid, id uuid, user_name text, external_id text, active boolean, lifecycle_state text,
  provisioned_at timestamptz, activated_at timestamptz, suspended_at timestamptz, deleted_at timestamptz,
  scim_deleted_at timestamptz, display_name text, name jsonb, emails jsonb, phone_numbers jsonb, enterprise jsonb,
  attributes jsonb, version integer, event_seq bigint, applied_seq bigint, created_at timestamptz,
  updated_at timestamptz, groups jsonb, data_key bytea)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
#variable_conflict use_column
BEGIN
  PERFORM set_config('app.tenant_id', p_tenant::text, true);
  RETURN QUERY
    SELECT u.tenant_id, u.id, u.user_name, u.external_id, u.active, u.lifecycle_state, u.provisioned_at,
           u.activated_at, u.suspended_at, u.deleted_at, u.scim_deleted_at, u.display_name, u.name, u.emails,
           u.phone_numbers, u.enterprise, u.attributes, u.version, u.event_seq, u.applied_seq, u.created_at,
           u.updated_at,
           scim_user_groups(u.tenant_id, u.id),
           k.data_key
      FROM users u LEFT JOIN personal_data_keys k ON k.tenant_id = u.tenant_id AND k.user_id = u.id
     WHERE u.tenant_id = p_tenant AND u.id = p_id AND u.scim_deleted_at IS NULL;
END $$;

-- The user's new representation, if it is still at p_version and live, with its audit event (data
-- already sealed by the caller) and its stream event at the next seq, as data-modifying CTEs.
-- p_suspend: `active` goes from true to false (the SCIM-side suspension; the leaver runs in the
-- workflow). Returns the row as written, or no row. A taken userName raises unique_violation.
CREATE FUNCTION scim_update_user(
  p_tenant uuid, p_id uuid, p_version integer, p_user_name text, p_user_name_key text, p_external_id text,
  p_active boolean, p_display_name text, p_name jsonb, p_emails jsonb, p_phone_numbers jsonb, p_enterprise jsonb,
  p_attributes jsonb, p_suspend boolean, p_actor_id text, p_request_id text, p_action text, p_audit_data jsonb,
  p_event_type text, p_event_payload jsonb, p_traceparent text)
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
    WITH u AS (
      UPDATE users AS u SET user_name = p_user_name, user_name_key = p_user_name_key, external_id = p_external_id,
             active = p_active, display_name = p_display_name, name = p_name, emails = p_emails,
             phone_numbers = p_phone_numbers, enterprise = p_enterprise, attributes = p_attributes,
             lifecycle_state = CASE WHEN p_suspend THEN 'suspended' ELSE u.lifecycle_state END,
             suspended_at = CASE WHEN p_suspend THEN now() ELSE u.suspended_at END,
             version = u.version + 1, event_seq = u.event_seq + 1, updated_at = now()
       WHERE u.tenant_id = p_tenant AND u.id = p_id AND u.version = p_version AND u.scim_deleted_at IS NULL
       RETURNING u.*),
    a AS (
      INSERT INTO audit_events (tenant_id, actor_type, actor_id, action, target_type, target_id, request_id, data)
      SELECT u.tenant_id, 'scim', p_actor_id, p_action, 'user', u.id::text, p_request_id, p_audit_data FROM u),
    o AS (
      INSERT INTO outbox (tenant_id, stream_type, stream_id, seq, event_type, payload, traceparent)
      SELECT u.tenant_id, 'user', u.id, u.event_seq, p_event_type, p_event_payload, p_traceparent FROM u)
    SELECT u.tenant_id, u.id, u.user_name, u.external_id, u.active, u.lifecycle_state, u.provisioned_at,
           u.activated_at, u.suspended_at, u.deleted_at, u.scim_deleted_at, u.display_name, u.name, u.emails,
           u.phone_numbers, u.enterprise, u.attributes, u.version, u.event_seq, u.applied_seq, u.created_at,
           u.updated_at,
           scim_user_groups(u.tenant_id, u.id)
      FROM u;
END $$;

-- Down Migration
DROP FUNCTION scim_update_user(uuid, uuid, integer, text, text, text, boolean, text, jsonb, jsonb, jsonb, jsonb, jsonb,
  boolean, text, text, text, jsonb, text, jsonb, text);
DROP FUNCTION scim_user_for_write(uuid, uuid);
DROP FUNCTION scim_user_groups(uuid, uuid);
