-- Up Migration

-- The application role owns nothing and cannot bypass row-level security. Roles are
-- cluster-wide, so create it only once; grants below are per database.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'roster_app') THEN
    CREATE ROLE roster_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
END $$;

-- The tenant of the current transaction, or NULL (which matches nothing: fails closed).
CREATE FUNCTION app_tenant_id() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('app.tenant_id', true), '')::uuid
$$;

CREATE TABLE tenants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name text NOT NULL,
  deletion_grace_seconds integer NOT NULL DEFAULT 2592000 CHECK (deletion_grace_seconds >= 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE scim_connections (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX scim_connections_tenant ON scim_connections (tenant_id);

-- One row per bearer token. Rotation adds a row and gives the old one an expiry (the overlap).
CREATE TABLE scim_tokens (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  connection_id uuid NOT NULL REFERENCES scim_connections (id) ON DELETE CASCADE,
  token_prefix text NOT NULL,
  token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  expires_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX scim_tokens_connection ON scim_tokens (tenant_id, connection_id);

CREATE TABLE users (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  user_name text NOT NULL,
  -- NFKC + lower-case fold, computed by the application; lookups and uniqueness share it.
  user_name_key text NOT NULL,
  external_id text,
  active boolean NOT NULL DEFAULT true,
  lifecycle_state text NOT NULL DEFAULT 'provisioned'
    CHECK (lifecycle_state IN ('provisioned', 'active', 'suspended', 'deleted')),
  provisioned_at timestamptz NOT NULL DEFAULT now(),
  activated_at timestamptz,
  suspended_at timestamptz,
  deleted_at timestamptz,
  -- Set by SCIM DELETE: from then on the resource answers 404 (RFC 7644 §3.6).
  scim_deleted_at timestamptz,
  display_name text,
  name jsonb,
  emails jsonb NOT NULL DEFAULT '[]',
  phone_numbers jsonb NOT NULL DEFAULT '[]',
  enterprise jsonb,
  -- Every other attribute the IdP sent (core and unknown extensions), kept verbatim.
  attributes jsonb NOT NULL DEFAULT '{}',
  version integer NOT NULL DEFAULT 1,
  -- Per-identity event sequence: the last one assigned (outbox) and the last one applied.
  event_seq bigint NOT NULL DEFAULT 0,
  applied_seq bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (id)
);
CREATE UNIQUE INDEX users_user_name_key ON users (tenant_id, user_name_key) WHERE scim_deleted_at IS NULL;
CREATE INDEX users_external_id ON users (tenant_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX users_page_order ON users (tenant_id, created_at, id);

CREATE TABLE groups (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  display_name text NOT NULL,
  display_name_key text NOT NULL,
  external_id text,
  attributes jsonb NOT NULL DEFAULT '{}',
  version integer NOT NULL DEFAULT 1,
  event_seq bigint NOT NULL DEFAULT 0,
  applied_seq bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (id)
);
CREATE UNIQUE INDEX groups_display_name_key ON groups (tenant_id, display_name_key);
CREATE INDEX groups_external_id ON groups (tenant_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX groups_page_order ON groups (tenant_id, created_at, id);

CREATE TABLE group_members (
  tenant_id uuid NOT NULL,
  group_id uuid NOT NULL,
  user_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, group_id, user_id),
  FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_user ON group_members (tenant_id, user_id);

-- Member references a group write could not resolve: kept for review, never silently dropped.
CREATE TABLE unresolved_members (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  group_id uuid NOT NULL,
  member_value text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX unresolved_members_group ON unresolved_members (tenant_id, group_id);

-- Append-only, hash-chained per tenant. Writers insert unsealed rows (seq and hashes NULL) so
-- concurrent transactions never queue on a chain head; one sealer per tenant assigns seq in
-- order and links each row to the previous one (audit_seal below).
CREATE TABLE audit_events (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
  occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor_type text NOT NULL,
  actor_id text,
  action text NOT NULL,
  target_type text,
  target_id text,
  request_id text,
  data jsonb NOT NULL DEFAULT '{}',
  seq bigint,
  prev_hash bytea,
  hash bytea,
  UNIQUE (tenant_id, seq)
);
CREATE INDEX audit_events_unsealed ON audit_events (tenant_id, id) WHERE seq IS NULL;
CREATE INDEX audit_events_target ON audit_events (tenant_id, target_type, target_id);

CREATE TABLE audit_chain_heads (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE RESTRICT,
  seq bigint NOT NULL DEFAULT 0,
  hash bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'
);

-- The bytes a chain link hashes: everything but the link itself, in a fixed order.
CREATE FUNCTION audit_event_digest(e audit_events, p_seq bigint, p_prev bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
  SELECT sha256(p_prev || convert_to(concat_ws(E'\x1f',
    e.tenant_id::text, p_seq::text, to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    e.actor_type, coalesce(e.actor_id, ''), e.action, coalesce(e.target_type, ''),
    coalesce(e.target_id, ''), coalesce(e.request_id, ''), e.data::text), 'UTF8'))
$$;

-- Refuse every change to a sealed row, and every change but sealing to an unsealed one.
CREATE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.seq IS NOT NULL OR NEW.seq IS NULL OR NEW.hash IS NULL
     OR (NEW.id, NEW.tenant_id, NEW.occurred_at, NEW.actor_type, NEW.actor_id, NEW.action, NEW.target_type,
         NEW.target_id, NEW.request_id, NEW.data)
        IS DISTINCT FROM
        (OLD.id, OLD.tenant_id, OLD.occurred_at, OLD.actor_type, OLD.actor_id, OLD.action, OLD.target_type,
         OLD.target_id, OLD.request_id, OLD.data) THEN
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_guard();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_guard();

-- Durable hand-off to Temporal. seq is gapless per stream (assigned under the stream row's lock
-- in the writing transaction), so the workflow can apply events strictly in order.
CREATE TABLE outbox (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  stream_type text NOT NULL CHECK (stream_type IN ('user', 'group')),
  stream_id uuid NOT NULL,
  seq bigint NOT NULL,
  event_type text NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  UNIQUE (tenant_id, stream_type, stream_id, seq)
);
CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL;

-- Row-level security on every tenant table, forced so that even the owner obeys it.
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['scim_connections', 'scim_tokens', 'users', 'groups', 'group_members',
                           'unresolved_members', 'audit_events', 'audit_chain_heads', 'outbox'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants USING (id = app_tenant_id());

GRANT USAGE ON SCHEMA public TO roster_app;
GRANT SELECT ON tenants TO roster_app;
GRANT SELECT, INSERT, UPDATE ON scim_connections, scim_tokens TO roster_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, groups, group_members, unresolved_members TO roster_app;
GRANT SELECT, INSERT ON audit_events, outbox TO roster_app;
GRANT SELECT ON audit_chain_heads TO roster_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO roster_app;
GRANT EXECUTE ON FUNCTION app_tenant_id() TO roster_app;

-- ---------------------------------------------------------------------------------------------
-- Narrow cross-tenant entry points (SECURITY DEFINER, owned by the migrating role, which must be
-- a superuser or BYPASSRLS). Each does one thing and returns only what its caller needs.

-- Bearer-token authentication: the caller only knows the token's hash.
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
  -- last_used_at at minute resolution: a write per request would cost more than the lookup.
  IF FOUND THEN
    UPDATE scim_tokens SET last_used_at = now()
     WHERE scim_tokens.token_hash = p_hash
       AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');
  END IF;
END $$;

-- The outbox relay: claims undelivered rows (locked until the caller's transaction ends).
CREATE FUNCTION outbox_claim(p_limit integer)
RETURNS SETOF outbox
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  SELECT * FROM outbox WHERE delivered_at IS NULL ORDER BY id LIMIT p_limit FOR UPDATE SKIP LOCKED
$$;

CREATE FUNCTION outbox_mark_delivered(p_ids bigint[]) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  UPDATE outbox SET delivered_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = ANY (p_ids)
$$;

CREATE FUNCTION outbox_mark_failed(p_ids bigint[], p_error text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  UPDATE outbox SET attempts = attempts + 1, last_error = left(p_error, 500) WHERE id = ANY (p_ids)
$$;

-- Tenants with audit rows waiting for their chain link.
CREATE FUNCTION audit_tenants_to_seal() RETURNS SETOF uuid
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  SELECT DISTINCT tenant_id FROM audit_events WHERE seq IS NULL
$$;

-- Seals one tenant's pending audit rows in id order. Concurrent sealers of one tenant queue on
-- its chain head; different tenants seal in parallel.
CREATE FUNCTION audit_seal(p_tenant uuid, p_limit integer DEFAULT 5000) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  head audit_chain_heads;
  e audit_events;
  n integer := 0;
BEGIN
  INSERT INTO audit_chain_heads (tenant_id) VALUES (p_tenant) ON CONFLICT DO NOTHING;
  SELECT * INTO head FROM audit_chain_heads WHERE tenant_id = p_tenant FOR UPDATE;
  FOR e IN SELECT * FROM audit_events WHERE tenant_id = p_tenant AND seq IS NULL ORDER BY id LIMIT p_limit LOOP
    head.seq := head.seq + 1;
    UPDATE audit_events SET seq = head.seq, prev_hash = head.hash,
           hash = audit_event_digest(e, head.seq, head.hash)
     WHERE id = e.id;
    head.hash := audit_event_digest(e, head.seq, head.hash);
    n := n + 1;
  END LOOP;
  UPDATE audit_chain_heads SET seq = head.seq, hash = head.hash WHERE tenant_id = p_tenant;
  RETURN n;
END $$;

-- Walks a tenant's chain; returns the first seq whose link does not verify (NULL when intact).
CREATE FUNCTION audit_verify(p_tenant uuid)
RETURNS TABLE (sealed bigint, first_bad_seq bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  prev bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
  expected bigint := 0;
  e audit_events;
BEGIN
  FOR e IN SELECT * FROM audit_events WHERE tenant_id = p_tenant AND seq IS NOT NULL ORDER BY seq LOOP
    expected := expected + 1;
    IF e.seq <> expected OR e.prev_hash IS DISTINCT FROM prev OR e.hash IS DISTINCT FROM audit_event_digest(e, e.seq, prev) THEN
      sealed := expected - 1; first_bad_seq := expected; RETURN NEXT; RETURN;
    END IF;
    prev := e.hash;
  END LOOP;
  IF expected <> coalesce((SELECT seq FROM audit_chain_heads h WHERE h.tenant_id = p_tenant), 0) THEN
    sealed := expected; first_bad_seq := expected + 1; RETURN NEXT; RETURN;
  END IF;
  sealed := expected; first_bad_seq := NULL; RETURN NEXT;
END $$;

REVOKE ALL ON FUNCTION scim_authenticate(bytea), outbox_claim(integer), outbox_mark_delivered(bigint[]),
  outbox_mark_failed(bigint[], text), audit_tenants_to_seal(), audit_seal(uuid, integer), audit_verify(uuid)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scim_authenticate(bytea), outbox_claim(integer), outbox_mark_delivered(bigint[]),
  outbox_mark_failed(bigint[], text), audit_tenants_to_seal(), audit_seal(uuid, integer), audit_verify(uuid)
  TO roster_app;

-- Down Migration
DROP SCHEMA public CASCADE;
CREATE SCHEMA public;
