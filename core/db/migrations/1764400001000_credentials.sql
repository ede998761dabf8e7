-- Up Migration

-- Non-human identities the vendor's app creates through the app API. Each has an owner (a user of
-- the tenant); when the owner leaves, the account goes to the owner's manager or, per tenant
-- policy, is disabled and queued for a new owner (orphaned).
CREATE TABLE service_accounts (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  owner_user_id uuid,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  orphaned boolean NOT NULL DEFAULT false,
  orphaned_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (id),
  FOREIGN KEY (tenant_id, owner_user_id) REFERENCES users (tenant_id, id),
  CHECK (orphaned = (orphaned_at IS NOT NULL)),
  CHECK ((status = 'disabled') = (disabled_at IS NOT NULL))
);
CREATE INDEX service_accounts_owner ON service_accounts (tenant_id, owner_user_id) WHERE owner_user_id IS NOT NULL;
CREATE INDEX service_accounts_orphans ON service_accounts (tenant_id) WHERE orphaned;

-- Bearer credentials Roster issues (sessions, personal API tokens, service-account tokens). The
-- secret is shown once; only its SHA-256 and a display prefix are kept.
CREATE TABLE credentials (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  kind text NOT NULL CHECK (kind IN ('session', 'personal_token', 'service_account_token')),
  user_id uuid,
  service_account_id uuid,
  name text CHECK (name IS NULL OR length(name) BETWEEN 1 AND 200),
  scopes text[] NOT NULL DEFAULT '{}',
  -- The roles the credential depends on: losing one of them revokes it (mover).
  required_roles text[] NOT NULL DEFAULT '{}',
  token_prefix text NOT NULL,
  token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz,
  revoked_reason text,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
  FOREIGN KEY (tenant_id, service_account_id) REFERENCES service_accounts (tenant_id, id),
  -- Exactly one principal, and the right one for the kind.
  CHECK ((user_id IS NULL) <> (service_account_id IS NULL)),
  CHECK ((kind = 'service_account_token') = (service_account_id IS NOT NULL)),
  CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX credentials_user ON credentials (tenant_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX credentials_service_account ON credentials (tenant_id, service_account_id) WHERE service_account_id IS NOT NULL;

-- Integrations a user authorised (OAuth grants to third-party clients), recorded by the vendor's app.
CREATE TABLE oauth_grants (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL,
  client_id text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 200),
  client_name text,
  scopes text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  revoked_reason text,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
  CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX oauth_grants_user ON oauth_grants (tenant_id, user_id);

-- One exposure report per leaver run (the verification activity is retried safely).
CREATE UNIQUE INDEX exposure_reports_once ON exposure_reports (tenant_id, workflow_id, user_id);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['service_accounts', 'credentials', 'oauth_grants'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;

-- Nothing is ever deleted: revocation and disabling are recorded states.
GRANT SELECT, INSERT, UPDATE ON service_accounts, credentials, oauth_grants TO roster_app;

-- Down Migration
DROP INDEX exposure_reports_once;
DROP TABLE oauth_grants, credentials, service_accounts;
