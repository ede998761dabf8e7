-- Up Migration

-- Domains a tenant claims (issue 8): proven by a DNS TXT record
-- `_roster-challenge.<name>  TXT  "roster-verification=<challenge_token>"`, looked up by the
-- domain's verification workflow and re-checked on the fleet's schedule once verified.
--   pending:  waiting for the record (until expires_at, 7 days after the claim)
--   verified: the record was seen
--   failed:   was verified, then the record was missing on several re-checks in a row
--   expired:  the challenge passed expires_at unverified
--   removed:  the tenant removed the claim
CREATE TABLE domains (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (name = lower(name) AND name ~ '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$' AND length(name) <= 253),
  challenge_token text NOT NULL,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'verified', 'failed', 'expired', 'removed')),
  created_at timestamptz NOT NULL DEFAULT now(),
  verified_at timestamptz,
  last_checked_at timestamptz,
  last_seen_at timestamptz,
  -- Re-checks in a row that did not find the record (the grace before `failed`).
  missed_checks integer NOT NULL DEFAULT 0,
  expires_at timestamptz NOT NULL,
  removed_at timestamptz,
  UNIQUE (tenant_id, id)
);
-- One live claim per name per tenant.
CREATE UNIQUE INDEX domains_live_name ON domains (tenant_id, name) WHERE state IN ('pending', 'verified', 'failed');
-- A name verified by one tenant cannot be verified by another. A unique index is checked across
-- every row whatever row-level security lets the writer see.
CREATE UNIQUE INDEX domains_verified_name ON domains (name) WHERE state = 'verified';
CREATE INDEX domains_recheck ON domains (last_checked_at) WHERE state IN ('verified', 'failed');

-- SSO connections the vendor's app uses (Roster stores and validates them; it is not the service
-- provider). `config` holds what the protocol needs, no secrets: OIDC issuer, endpoints and client
-- id; SAML entity id, SSO URL, binding and signing certificates (PEM).
CREATE TABLE sso_connections (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  protocol text NOT NULL CHECK (protocol IN ('oidc', 'saml')),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  config jsonb NOT NULL,
  allowed_domains text[] NOT NULL DEFAULT '{}',
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'deleted')),
  -- SAML: the earliest expiry among the signing certificates, and the last expiry alert raised
  -- for it (30, then 7 days before), so the sweep raises each once.
  cert_not_after timestamptz,
  cert_alerted_days integer,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX sso_connections_live_name ON sso_connections (tenant_id, lower(name)) WHERE state = 'active';
CREATE INDEX sso_connections_cert ON sso_connections (cert_not_after) WHERE state = 'active' AND cert_not_after IS NOT NULL;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['domains', 'sso_connections'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE ON domains, sso_connections TO roster_app;

-- The fleet's scheduled sweep (worker): which domains and SSO connections are due a check, ids
-- only, keyset-paged by (tenant_id, id). The per-tenant work then runs under row-level security.
CREATE FUNCTION domains_due_recheck(p_after_tenant uuid, p_after_id uuid, p_limit integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT d.tenant_id, d.id FROM domains d
   WHERE d.state IN ('pending', 'verified', 'failed')
     AND (d.tenant_id, d.id) > (coalesce(p_after_tenant, '00000000-0000-0000-0000-000000000000'), coalesce(p_after_id, '00000000-0000-0000-0000-000000000000'))
   ORDER BY d.tenant_id, d.id LIMIT p_limit
$$;

CREATE FUNCTION sso_certificates_expiring(p_within interval, p_after_tenant uuid, p_after_id uuid, p_limit integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT s.tenant_id, s.id FROM sso_connections s
   WHERE s.state = 'active' AND s.cert_not_after IS NOT NULL AND s.cert_not_after < now() + p_within
     AND (s.tenant_id, s.id) > (coalesce(p_after_tenant, '00000000-0000-0000-0000-000000000000'), coalesce(p_after_id, '00000000-0000-0000-0000-000000000000'))
   ORDER BY s.tenant_id, s.id LIMIT p_limit
$$;

REVOKE ALL ON FUNCTION domains_due_recheck(uuid, uuid, integer), sso_certificates_expiring(interval, uuid, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION domains_due_recheck(uuid, uuid, integer), sso_certificates_expiring(interval, uuid, uuid, integer) TO roster_app;

-- Down Migration
DROP FUNCTION sso_certificates_expiring(interval, uuid, uuid, integer);
DROP FUNCTION domains_due_recheck(uuid, uuid, integer);
DROP TABLE sso_connections;
DROP TABLE domains;
