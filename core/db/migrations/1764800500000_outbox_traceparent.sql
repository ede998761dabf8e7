-- Up Migration

-- Traces (docs/operations.md "Traces"): the W3C traceparent of the request that wrote an outbox
-- row travels in the row, so the relay's signal, the workflow, its activities and the webhook POST
-- join the SCIM request's trace. NULL when tracing is off or no span was active (no rewrite: a
-- nullable column without a default).
ALTER TABLE outbox ADD COLUMN traceparent text;

-- The one-statement SCIM create writes its outbox row itself, so it takes the traceparent as a
-- parameter (last, defaulting to NULL). Otherwise unchanged from 1764600000000_scim_hot_path.sql.
DROP FUNCTION scim_create_user(uuid, uuid, text, text, text, boolean, text, jsonb, jsonb, jsonb, jsonb, jsonb, bytea, text, text, jsonb);
CREATE FUNCTION scim_create_user(
  p_tenant uuid, p_id uuid, p_user_name text, p_user_name_key text, p_external_id text, p_active boolean,
  p_display_name text, p_name jsonb, p_emails jsonb, p_phone_numbers jsonb, p_enterprise jsonb, p_attributes jsonb,
  p_data_key bytea, p_actor_id text, p_request_id text, p_audit_data jsonb, p_traceparent text DEFAULT NULL)
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
      INSERT INTO outbox (tenant_id, stream_type, stream_id, seq, event_type, payload, traceparent)
      SELECT u.tenant_id, 'user', u.id, u.event_seq, 'user.created', jsonb_build_object('active', u.active), p_traceparent FROM u)
    SELECT u.tenant_id, u.id, u.user_name, u.external_id, u.active, u.lifecycle_state, u.provisioned_at,
           u.activated_at, u.suspended_at, u.deleted_at, u.scim_deleted_at, u.display_name, u.name, u.emails,
           u.phone_numbers, u.enterprise, u.attributes, u.version, u.event_seq, u.applied_seq, u.created_at,
           u.updated_at, '[]'::jsonb  -- a user created this instant is in no group yet
      FROM u;
END $$;

-- Down Migration
DROP FUNCTION scim_create_user(uuid, uuid, text, text, text, boolean, text, jsonb, jsonb, jsonb, jsonb, jsonb, bytea, text, text, jsonb, text);
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
ALTER TABLE outbox DROP COLUMN traceparent;
