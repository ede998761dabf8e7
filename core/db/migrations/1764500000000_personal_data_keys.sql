-- Up Migration

-- Crypto-shredding for the audit trail: attribute values of a person (before/after of SCIM writes)
-- are stored in audit events encrypted under a key per identity. Deleting the identity deletes
-- the key, which erases those values from an append-only, hash-chained log without touching a
-- single sealed row (the chain still verifies). Ids, actions, actors and times stay readable.
CREATE TABLE personal_data_keys (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid NOT NULL,
  data_key bytea NOT NULL CHECK (octet_length(data_key) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id)
);
ALTER TABLE personal_data_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE personal_data_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON personal_data_keys USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, DELETE ON personal_data_keys TO roster_app;

-- Down Migration
DROP TABLE personal_data_keys;
