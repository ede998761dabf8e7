-- Up Migration

-- The mass-deprovisioning guard counts a tenant's active and suspended identities (bounded by a
-- LIMIT); this index keeps that an index-only scan of the tenant's slice.
CREATE INDEX users_tenant_state ON users (tenant_id, lifecycle_state);

-- Down Migration
DROP INDEX users_tenant_state;
