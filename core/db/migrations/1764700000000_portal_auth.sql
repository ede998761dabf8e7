-- Up Migration
-- Sign-in for the tenant portal (portal_*: tenant data, RLS like every tenant table) and the
-- operator console (operator_*: the vendor's staff, no tenant). The two realms share nothing but
-- the throttle table, whose keys say which realm they belong to.

CREATE TABLE portal_users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  email text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  display_name text,
  -- argon2id PHC string; NULL until the person completes their setup link.
  password_hash text,
  status text NOT NULL DEFAULT 'invited' CHECK (status IN ('invited', 'active', 'disabled')),
  -- TOTP secrets sealed with core/secret-box.ts (associated data names tenant and user).
  totp_secret bytea,
  totp_pending_secret bytea,
  totp_enabled_at timestamptz,
  -- The last accepted TOTP time step: a code is never accepted twice (RFC 6238 §5.2).
  totp_last_step bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_sign_in_at timestamptz,
  UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX portal_users_email ON portal_users (tenant_id, lower(email));

CREATE TABLE portal_user_roles (
  tenant_id uuid NOT NULL,
  user_id uuid NOT NULL,
  role text NOT NULL CHECK (role IN ('admin', 'approver', 'reviewer', 'auditor')),
  PRIMARY KEY (tenant_id, user_id, role),
  FOREIGN KEY (tenant_id, user_id) REFERENCES portal_users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE portal_setup_links (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  user_id uuid NOT NULL,
  token_hash bytea NOT NULL UNIQUE,
  purpose text NOT NULL CHECK (purpose IN ('setup', 'invite')),
  created_by_type text NOT NULL,
  created_by_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  FOREIGN KEY (tenant_id, user_id) REFERENCES portal_users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX portal_setup_links_user ON portal_setup_links (tenant_id, user_id);

CREATE TABLE portal_sessions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  user_id uuid NOT NULL,
  token_hash bytea NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  ip text,
  user_agent text,
  FOREIGN KEY (tenant_id, user_id) REFERENCES portal_users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX portal_sessions_user ON portal_sessions (tenant_id, user_id);

CREATE TABLE portal_recovery_codes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  user_id uuid NOT NULL,
  code_hash bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  used_at timestamptz,
  FOREIGN KEY (tenant_id, user_id) REFERENCES portal_users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX portal_recovery_codes_user ON portal_recovery_codes (tenant_id, user_id);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['portal_users', 'portal_user_roles', 'portal_setup_links', 'portal_sessions', 'portal_recovery_codes'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE ON portal_users, portal_setup_links, portal_sessions, portal_recovery_codes TO roster_app;
GRANT SELECT, INSERT, DELETE ON portal_user_roles TO roster_app;
GRANT DELETE ON portal_recovery_codes TO roster_app;

-- Failed sign-ins, per realm: kind 'address' (the client address) or 'account' (sha256 of realm,
-- tenant slug and lower-cased email, so unknown accounts are throttled like known ones and no
-- address book sits in clear text). Not tenant data: it is written before anyone is known.
CREATE TABLE auth_throttle (
  key text PRIMARY KEY,
  window_started_at timestamptz NOT NULL DEFAULT now(),
  failures integer NOT NULL DEFAULT 0,
  locked_until timestamptz
);
GRANT SELECT, INSERT, UPDATE, DELETE ON auth_throttle TO roster_app;

-- Operators: the vendor's staff. No tenant_id: they belong to no tenant.
CREATE TABLE operators (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  display_name text,
  password_hash text,
  status text NOT NULL DEFAULT 'invited' CHECK (status IN ('invited', 'active', 'disabled')),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_sign_in_at timestamptz
);
CREATE UNIQUE INDEX operators_email ON operators (lower(email));

CREATE TABLE operator_setup_links (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  operator_id uuid NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
  token_hash bytea NOT NULL UNIQUE,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);

CREATE TABLE operator_sessions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  operator_id uuid NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
  token_hash bytea NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  ip text,
  user_agent text
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);

-- Operators' own account events (sign-ins, failures, lockouts, setup); what they do to a tenant is
-- audited in that tenant's audit log.
CREATE TABLE operator_audit (
  id bigserial PRIMARY KEY,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  operator_id uuid,
  action text NOT NULL,
  data jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX operator_audit_operator ON operator_audit (operator_id, id);

GRANT SELECT, INSERT, UPDATE ON operators, operator_setup_links, operator_sessions TO roster_app;
GRANT SELECT, INSERT ON operator_audit TO roster_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO roster_app;

-- Cross-tenant entry points: each answers one narrow question before a tenant is known.

-- A live session by its token hash; refreshes last_seen_at (at most every p_touch_seconds).
-- Returns the person's own e-mail and roles too, so an authenticated request costs one round trip.
CREATE FUNCTION portal_session_resolve(p_hash bytea, p_idle_seconds integer, p_touch_seconds integer)
RETURNS TABLE (session_id uuid, tenant_id uuid, user_id uuid, email text, roles text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  RETURN QUERY
    SELECT s.id, s.tenant_id, s.user_id, u.email,
           coalesce((SELECT array_agg(r.role ORDER BY r.role) FROM portal_user_roles r
                      WHERE r.tenant_id = s.tenant_id AND r.user_id = s.user_id), '{}')
      FROM portal_sessions s JOIN portal_users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
     WHERE s.token_hash = p_hash AND s.revoked_at IS NULL AND s.expires_at > now()
       AND s.last_seen_at > now() - make_interval(secs => p_idle_seconds)
       AND u.status = 'active';
  IF FOUND THEN
    UPDATE portal_sessions SET last_seen_at = now()
     WHERE token_hash = p_hash AND last_seen_at < now() - make_interval(secs => p_touch_seconds);
  END IF;
END $$;

-- A setup link by its token hash, whatever its state (the caller explains expired / used).
CREATE FUNCTION portal_setup_link_resolve(p_hash bytea)
RETURNS TABLE (link_id uuid, tenant_id uuid, user_id uuid, expires_at timestamptz, used_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT l.id, l.tenant_id, l.user_id, l.expires_at, l.used_at FROM portal_setup_links l WHERE l.token_hash = p_hash
$$;

-- Sign-in: the tenant by slug and, when there is one, the account by e-mail in that tenant.
CREATE FUNCTION portal_sign_in_lookup(p_slug text, p_email text)
RETURNS TABLE (tenant_id uuid, user_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT t.id, u.id
    FROM tenants t LEFT JOIN portal_users u ON u.tenant_id = t.id AND lower(u.email) = lower(p_email)
   WHERE t.slug = p_slug
$$;

REVOKE ALL ON FUNCTION portal_session_resolve(bytea, integer, integer), portal_setup_link_resolve(bytea),
  portal_sign_in_lookup(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION portal_session_resolve(bytea, integer, integer), portal_setup_link_resolve(bytea),
  portal_sign_in_lookup(text, text) TO roster_app;

-- Down Migration
DROP FUNCTION IF EXISTS portal_sign_in_lookup(text, text);
DROP FUNCTION IF EXISTS portal_setup_link_resolve(bytea);
DROP FUNCTION IF EXISTS portal_session_resolve(bytea, integer, integer);
DROP TABLE IF EXISTS operator_audit, operator_sessions, operator_setup_links, operators, auth_throttle,
  portal_recovery_codes, portal_sessions, portal_setup_links, portal_user_roles, portal_users;
