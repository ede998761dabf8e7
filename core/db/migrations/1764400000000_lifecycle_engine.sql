-- Up Migration

-- Tenant-owned lifecycle policy (changed through approvals once the portal exists).
ALTER TABLE tenants
  ADD COLUMN default_role text,
  -- What happens to service accounts whose owner leaves: reassign to the manager, or disable.
  ADD COLUMN orphan_policy text NOT NULL DEFAULT 'reassign' CHECK (orphan_policy IN ('reassign', 'disable')),
  -- Mass-deprovisioning guard: hold further leavers when more than this many, or this share of
  -- active identities, were suspended within the window.
  ADD COLUMN guard_max_suspensions integer NOT NULL DEFAULT 50 CHECK (guard_max_suspensions >= 0),
  ADD COLUMN guard_max_share numeric(5, 4) NOT NULL DEFAULT 0.2 CHECK (guard_max_share >= 0 AND guard_max_share <= 1),
  ADD COLUMN guard_window_seconds integer NOT NULL DEFAULT 3600 CHECK (guard_window_seconds > 0),
  ADD COLUMN event_retention_days integer NOT NULL DEFAULT 30 CHECK (event_retention_days > 0);

-- IdP group → app role (one group may grant several roles; a role may come from several groups).
CREATE TABLE role_mappings (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  group_id uuid NOT NULL,
  role text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, group_id, role),
  FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE
);

-- Exceptions granted outside the IdP (by an admin), kept separate so they are visible as such.
CREATE TABLE direct_role_grants (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid NOT NULL,
  role text NOT NULL,
  granted_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id, role),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- The roles the lifecycle engine has actually granted (the joiner/mover apply the difference).
CREATE TABLE user_roles (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid NOT NULL,
  role text NOT NULL,
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id, role),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- Tenant-scoped keys the vendor's application authenticates with (app-facing API, introspection).
CREATE TABLE app_api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL,
  key_prefix text NOT NULL,
  key_hash bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX app_api_keys_tenant ON app_api_keys (tenant_id);

-- Leavers held by the mass-deprovisioning guard until released.
CREATE TABLE deprovision_holds (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid NOT NULL,
  held_at timestamptz NOT NULL DEFAULT now(),
  released_at timestamptz,
  released_by text,
  PRIMARY KEY (tenant_id, user_id, held_at),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX deprovision_holds_open ON deprovision_holds (tenant_id) WHERE released_at IS NULL;

-- Leavers that passed the guard: what the guard counts against its window (SCIM writes the
-- suspension itself synchronously, so suspended_at would count a whole burst before any leaver ran).
CREATE TABLE leaver_starts (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id, started_at),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE tenant_alerts (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  kind text NOT NULL,
  data jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  resolved_at timestamptz
);
CREATE INDEX tenant_alerts_tenant ON tenant_alerts (tenant_id, created_at);

-- What a leaver's verification step found: must show zero live credentials.
CREATE TABLE exposure_reports (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid NOT NULL,
  workflow_id text NOT NULL,
  report jsonb NOT NULL,
  live_credentials integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX exposure_reports_user ON exposure_reports (tenant_id, user_id);

-- Exactly-once activity steps: a step's effects and its result commit together under a key made
-- of the workflow id and the step; a retried activity gets the stored result back.
CREATE TABLE activity_steps (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  step_key text NOT NULL,
  result jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, step_key)
);

-- An IdP resending the same unknown member should not pile up review rows.
DELETE FROM unresolved_members a USING unresolved_members b
 WHERE a.tenant_id = b.tenant_id AND a.group_id = b.group_id AND a.member_value = b.member_value AND a.id > b.id;
CREATE UNIQUE INDEX unresolved_members_unique ON unresolved_members (tenant_id, group_id, member_value);

-- Personal data removal keeps the row (and the audit trail) under a pseudonymous id.
ALTER TABLE users ADD COLUMN pseudonym text;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['role_mappings', 'direct_role_grants', 'user_roles', 'app_api_keys', 'deprovision_holds',
                           'tenant_alerts', 'exposure_reports', 'activity_steps', 'leaver_starts'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE, DELETE ON role_mappings, direct_role_grants, user_roles TO roster_app;
GRANT SELECT, INSERT, UPDATE ON app_api_keys, deprovision_holds, tenant_alerts TO roster_app;
GRANT SELECT, INSERT ON exposure_reports, activity_steps, leaver_starts TO roster_app;
GRANT UPDATE (default_role, orphan_policy, guard_max_suspensions, guard_max_share, guard_window_seconds, event_retention_days, deletion_grace_seconds)
  ON tenants TO roster_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO roster_app;

-- App API key authentication: the caller only knows the key's hash.
CREATE FUNCTION app_key_authenticate(p_hash bytea)
RETURNS TABLE (tenant_id uuid, key_id uuid, key_hash bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  RETURN QUERY SELECT k.tenant_id, k.id, k.key_hash FROM app_api_keys k WHERE k.key_hash = p_hash AND k.revoked_at IS NULL;
  IF FOUND THEN
    UPDATE app_api_keys SET last_used_at = now()
     WHERE app_api_keys.key_hash = p_hash AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');
  END IF;
END $$;
REVOKE ALL ON FUNCTION app_key_authenticate(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_key_authenticate(bytea) TO roster_app;

-- Down Migration
DROP FUNCTION app_key_authenticate(bytea);
DROP TABLE leaver_starts, activity_steps, exposure_reports, tenant_alerts, deprovision_holds, app_api_keys, user_roles, direct_role_grants, role_mappings;
ALTER TABLE users DROP COLUMN pseudonym;
ALTER TABLE tenants DROP COLUMN default_role, DROP COLUMN orphan_policy, DROP COLUMN guard_max_suspensions,
  DROP COLUMN guard_max_share, DROP COLUMN guard_window_seconds, DROP COLUMN event_retention_days;
