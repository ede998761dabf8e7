-- Up Migration

-- The portal's directory (issue 7): search users and groups, count identities by lifecycle state
-- and show recent lifecycle activity, each without scanning a big tenant per request.

-- Search is a substring match (LIKE '%term%', terms of 3 or more characters) over one lower-cased
-- text per user: userName, displayName, externalId and every email value. It is computed once per
-- write into a stored generated column (so erasing personal data erases it too) and served by a
-- trigram index whatever the position of the term; computing it per row at read time made the
-- index's recheck of a common term cost ~25 µs a row.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE FUNCTION directory_user_search_text(p_user_name text, p_display_name text, p_external_id text, p_emails jsonb)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT lower(p_user_name || ' ' || coalesce(p_display_name, '') || ' ' || coalesce(p_external_id, '') || ' '
               || jsonb_path_query_array(p_emails, '$[*].value')::text)
$$;
GRANT EXECUTE ON FUNCTION directory_user_search_text(text, text, text, jsonb) TO roster_app;

ALTER TABLE users ADD COLUMN directory_search text
  GENERATED ALWAYS AS (directory_user_search_text(user_name, display_name, external_id, emails)) STORED;
CREATE INDEX users_directory_search ON users USING gin (directory_search gin_trgm_ops);
CREATE INDEX groups_directory_search ON groups USING gin (display_name_key gin_trgm_ops);

-- Identities by lifecycle state, kept like the live-resource counts of 1764600000000_list_counts
-- (and for the same reasons: no shared counter row to serialise writers on, no foreign key): an
-- append-only table of delta rows summed by an index-only scan, folded by the worker's compactor.
-- Creates and deletes count per statement; a row trigger whose WHEN clause is checked without
-- calling the function fires only when a user's state actually changes.
CREATE TABLE user_state_count_deltas (
  tenant_id uuid NOT NULL,
  state text NOT NULL CHECK (state IN ('provisioned', 'active', 'suspended', 'deleted')),
  delta bigint NOT NULL
);
CREATE INDEX user_state_count_deltas_sum ON user_state_count_deltas (tenant_id, state) INCLUDE (delta);
ALTER TABLE user_state_count_deltas ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_state_count_deltas FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_state_count_deltas
  USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
-- Read by the portal; written only by the triggers and the compactor below (SECURITY DEFINER).
GRANT SELECT ON user_state_count_deltas TO roster_app;

INSERT INTO user_state_count_deltas (tenant_id, state, delta)
SELECT tenant_id, lifecycle_state, count(*) FROM users GROUP BY tenant_id, lifecycle_state;

CREATE FUNCTION count_user_states_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO user_state_count_deltas (tenant_id, state, delta)
  SELECT tenant_id, lifecycle_state, count(*) FROM new_rows GROUP BY tenant_id, lifecycle_state;
  RETURN NULL;
END $$;
CREATE FUNCTION count_user_states_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO user_state_count_deltas (tenant_id, state, delta)
  SELECT tenant_id, lifecycle_state, -count(*) FROM old_rows
   WHERE EXISTS (SELECT 1 FROM tenants t WHERE t.id = old_rows.tenant_id)
   GROUP BY tenant_id, lifecycle_state;
  RETURN NULL;
END $$;
CREATE FUNCTION count_user_state_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO user_state_count_deltas (tenant_id, state, delta)
  VALUES (NEW.tenant_id, OLD.lifecycle_state, -1), (NEW.tenant_id, NEW.lifecycle_state, 1);
  RETURN NULL;
END $$;
CREATE TRIGGER users_count_states_insert AFTER INSERT ON users REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_user_states_inserted();
CREATE TRIGGER users_count_states_delete AFTER DELETE ON users REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_user_states_deleted();
CREATE TRIGGER users_count_state_change AFTER UPDATE OF lifecycle_state ON users FOR EACH ROW
  WHEN (OLD.lifecycle_state IS DISTINCT FROM NEW.lifecycle_state)
  EXECUTE FUNCTION count_user_state_change();

CREATE FUNCTION drop_tenant_state_counts() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  DELETE FROM user_state_count_deltas WHERE tenant_id = OLD.id;
  RETURN NULL;
END $$;
CREATE TRIGGER tenants_drop_state_counts AFTER DELETE ON tenants FOR EACH ROW EXECUTE FUNCTION drop_tenant_state_counts();

-- The worker's compactor (compact_resource_counts, called by its background loop) now folds the
-- state counts too, the same way: per (tenant, state) past p_min_rows rows, under an advisory
-- lock, deleting only rows committed before it started.
CREATE OR REPLACE FUNCTION compact_resource_counts(p_min_rows integer DEFAULT 16) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  k record;
  n integer := 0;
BEGIN
  FOR k IN SELECT tenant_id, resource_type FROM resource_count_deltas
            GROUP BY tenant_id, resource_type HAVING count(*) > p_min_rows LIMIT 1000 LOOP
    IF pg_try_advisory_xact_lock(hashtextextended('resource_count_deltas:' || k.tenant_id || ':' || k.resource_type, 0)) THEN
      WITH gone AS (
        DELETE FROM resource_count_deltas
         WHERE tenant_id = k.tenant_id AND resource_type = k.resource_type RETURNING delta)
      INSERT INTO resource_count_deltas (tenant_id, resource_type, delta)
      SELECT k.tenant_id, k.resource_type, sum(delta) FROM gone HAVING count(*) > 0;
      n := n + 1;
    END IF;
  END LOOP;
  FOR k IN SELECT tenant_id, state FROM user_state_count_deltas
            GROUP BY tenant_id, state HAVING count(*) > p_min_rows LIMIT 1000 LOOP
    IF pg_try_advisory_xact_lock(hashtextextended('user_state_count_deltas:' || k.tenant_id || ':' || k.state, 0)) THEN
      WITH gone AS (
        DELETE FROM user_state_count_deltas
         WHERE tenant_id = k.tenant_id AND state = k.state RETURNING delta)
      INSERT INTO user_state_count_deltas (tenant_id, state, delta)
      SELECT k.tenant_id, k.state, sum(delta) FROM gone HAVING count(*) > 0;
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END $$;

-- The overview's recent lifecycle activity: the newest lifecycle events of one tenant, read
-- backwards from this partial index instead of filtering the whole audit trail.
CREATE INDEX audit_events_lifecycle_recent ON audit_events (tenant_id, id)
  WHERE action LIKE 'lifecycle.%' OR action LIKE 'leaver.%' OR action LIKE 'user.%';

-- Non-human identity lists page newest first; sessions share the credentials table and may be
-- many, so the token list has its own (partial) index.
CREATE INDEX credentials_tokens_page ON credentials (tenant_id, created_at, id) WHERE kind <> 'session';
CREATE INDEX oauth_grants_page ON oauth_grants (tenant_id, created_at, id);
CREATE INDEX service_accounts_page ON service_accounts (tenant_id, created_at, id);

-- Down Migration
DROP INDEX service_accounts_page;
DROP INDEX oauth_grants_page;
DROP INDEX credentials_tokens_page;
DROP INDEX audit_events_lifecycle_recent;
DROP TRIGGER tenants_drop_state_counts ON tenants;
DROP FUNCTION drop_tenant_state_counts();
DROP TRIGGER users_count_state_change ON users;
DROP TRIGGER users_count_states_delete ON users;
DROP TRIGGER users_count_states_insert ON users;
DROP FUNCTION count_user_state_change();
DROP FUNCTION count_user_states_deleted();
DROP FUNCTION count_user_states_inserted();
DROP TABLE user_state_count_deltas;
CREATE OR REPLACE FUNCTION compact_resource_counts(p_min_rows integer DEFAULT 16) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  k record;
  n integer := 0;
BEGIN
  FOR k IN SELECT tenant_id, resource_type FROM resource_count_deltas
            GROUP BY tenant_id, resource_type HAVING count(*) > p_min_rows LIMIT 1000 LOOP
    IF pg_try_advisory_xact_lock(hashtextextended('resource_count_deltas:' || k.tenant_id || ':' || k.resource_type, 0)) THEN
      WITH gone AS (
        DELETE FROM resource_count_deltas
         WHERE tenant_id = k.tenant_id AND resource_type = k.resource_type RETURNING delta)
      INSERT INTO resource_count_deltas (tenant_id, resource_type, delta)
      SELECT k.tenant_id, k.resource_type, sum(delta) FROM gone HAVING count(*) > 0;
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END $$;
DROP INDEX groups_directory_search;
DROP INDEX users_directory_search;
ALTER TABLE users DROP COLUMN directory_search;
DROP FUNCTION directory_user_search_text(text, text, text, jsonb);
