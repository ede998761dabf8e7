-- Up Migration

-- totalResults of an unfiltered list without counting the tenant (issue 6, "Listing does not
-- scale"). Writers never update a shared counter row: that would serialise every create in a
-- tenant on one row lock and add a lock the SCIM write path could deadlock on. Instead each
-- statement that changes how many live resources a tenant has appends a delta row (+n / -n, no
-- row locks, concurrent writers never wait for each other); a read sums the tenant's rows through
-- an index-only scan, and the worker folds them into one row per tenant and resource from time
-- to time (`compact_resource_counts`), so a read sums a handful of rows.
-- No foreign key to tenants, on purpose: its check takes FOR KEY SHARE on the tenant row, which
-- would make a SCIM DELETE or restore (which otherwise do not touch that row) wait for the
-- deprovisioning guard's FOR UPDATE of the tenant while holding the user's row lock. Rows of a
-- deleted tenant go with it (tenants_drop_counts below).
-- No key either: rows are only ever summed and folded by (tenant, type), and every index costs
-- each SCIM create another insert.
CREATE TABLE resource_count_deltas (
  tenant_id uuid NOT NULL,
  resource_type text NOT NULL CHECK (resource_type IN ('User', 'Group')),
  delta bigint NOT NULL
);
CREATE INDEX resource_count_deltas_sum ON resource_count_deltas (tenant_id, resource_type) INCLUDE (delta);

ALTER TABLE resource_count_deltas ENABLE ROW LEVEL SECURITY;
ALTER TABLE resource_count_deltas FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON resource_count_deltas
  USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
-- Read by the list path; written only by the triggers and the compactor below (SECURITY DEFINER).
GRANT SELECT ON resource_count_deltas TO roster_app;

-- Seed: what every tenant has now.
INSERT INTO resource_count_deltas (tenant_id, resource_type, delta)
SELECT tenant_id, 'User', count(*) FROM users WHERE scim_deleted_at IS NULL GROUP BY tenant_id;
INSERT INTO resource_count_deltas (tenant_id, resource_type, delta)
SELECT tenant_id, 'Group', count(*) FROM groups GROUP BY tenant_id;

-- (A tenant's own deletion cascades to its users and groups: nothing to count then, hence the
-- EXISTS in the delete triggers.)
-- Statement-level with transition tables: a bulk insert of a million users appends one row per
-- tenant, not a million. SECURITY DEFINER so that every writer (the app role under RLS, the
-- owner from the CLI or a bulk load) counts the same way; it only ever writes the tenant of the
-- rows the caller itself changed.
CREATE FUNCTION count_users_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO resource_count_deltas (tenant_id, resource_type, delta)
  SELECT tenant_id, 'User', count(*) FROM new_rows WHERE scim_deleted_at IS NULL GROUP BY tenant_id;
  RETURN NULL;
END $$;
CREATE FUNCTION count_users_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO resource_count_deltas (tenant_id, resource_type, delta)
  SELECT tenant_id, 'User', -count(*) FROM old_rows
   WHERE scim_deleted_at IS NULL AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = old_rows.tenant_id)
   GROUP BY tenant_id;
  RETURN NULL;
END $$;
-- SCIM DELETE is a soft delete and a restore undoes it: a row-level trigger whose WHEN clause
-- (checked without calling the function) fires only when a row enters or leaves the live set,
-- so ordinary updates (PATCH, stream bumps) pay nothing.
CREATE FUNCTION count_users_liveness() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO resource_count_deltas (tenant_id, resource_type, delta)
  VALUES (NEW.tenant_id, 'User', CASE WHEN NEW.scim_deleted_at IS NULL THEN 1 ELSE -1 END);
  RETURN NULL;
END $$;
CREATE TRIGGER users_count_insert AFTER INSERT ON users REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_users_inserted();
CREATE TRIGGER users_count_delete AFTER DELETE ON users REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_users_deleted();
CREATE TRIGGER users_count_liveness AFTER UPDATE OF scim_deleted_at ON users FOR EACH ROW
  WHEN ((OLD.scim_deleted_at IS NULL) IS DISTINCT FROM (NEW.scim_deleted_at IS NULL))
  EXECUTE FUNCTION count_users_liveness();

CREATE FUNCTION count_groups_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO resource_count_deltas (tenant_id, resource_type, delta)
  SELECT tenant_id, 'Group', count(*) FROM new_rows GROUP BY tenant_id;
  RETURN NULL;
END $$;
CREATE FUNCTION count_groups_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO resource_count_deltas (tenant_id, resource_type, delta)
  SELECT tenant_id, 'Group', -count(*) FROM old_rows
   WHERE EXISTS (SELECT 1 FROM tenants t WHERE t.id = old_rows.tenant_id)
   GROUP BY tenant_id;
  RETURN NULL;
END $$;
CREATE TRIGGER groups_count_insert AFTER INSERT ON groups REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_groups_inserted();
CREATE TRIGGER groups_count_delete AFTER DELETE ON groups REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_groups_deleted();

CREATE FUNCTION drop_tenant_counts() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  DELETE FROM resource_count_deltas WHERE tenant_id = OLD.id;
  RETURN NULL;
END $$;
CREATE TRIGGER tenants_drop_counts AFTER DELETE ON tenants FOR EACH ROW EXECUTE FUNCTION drop_tenant_counts();

-- Folds each (tenant, resource type) with more than p_min_rows delta rows into one row. The
-- DELETE sees only rows committed before it started and RETURNING sums exactly the rows it
-- removed, so writers committing meanwhile keep their rows and a reader sees either the old rows
-- or the folded one (one transaction). The advisory lock keeps two compactors off the same pair
-- (they would otherwise wait on each other's deleted rows); writers never take it.
CREATE FUNCTION compact_resource_counts(p_min_rows integer DEFAULT 16) RETURNS integer
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
REVOKE ALL ON FUNCTION compact_resource_counts(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION compact_resource_counts(integer) TO roster_app;

-- Where each served startIndex page ended, shared by every API process: `startIndex = k`
-- continues from the position of the page that ended at k-1 (a keyset range) whichever replica
-- served that page; only a position nobody recorded (or older than 10 minutes) costs an OFFSET.
-- A cache, so UNLOGGED (a crash empties it; the next page falls back to OFFSET once). The upsert
-- is the only lock a list transaction takes (one row, of this table), so it cannot be part of a
-- deadlock with the SCIM write path's group and user locks.
CREATE UNLOGGED TABLE list_positions (
  tenant_id uuid NOT NULL,
  query text NOT NULL,
  end_index bigint NOT NULL,
  sort_key text,
  created_at text NOT NULL,
  id uuid NOT NULL,
  saved_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, query, end_index)
);
ALTER TABLE list_positions ENABLE ROW LEVEL SECURITY;
ALTER TABLE list_positions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON list_positions
  USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON list_positions TO roster_app;

-- The worker drops positions nobody may use any more (cross-tenant, hence SECURITY DEFINER).
CREATE FUNCTION purge_list_positions(p_max_age_seconds integer) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  WITH gone AS (DELETE FROM list_positions WHERE saved_at < now() - make_interval(secs => p_max_age_seconds) RETURNING 1)
  SELECT count(*)::integer FROM gone
$$;
REVOKE ALL ON FUNCTION purge_list_positions(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_list_positions(integer) TO roster_app;

-- Down Migration
DROP FUNCTION purge_list_positions(integer);
DROP TABLE list_positions;
DROP FUNCTION compact_resource_counts(integer);
DROP TRIGGER tenants_drop_counts ON tenants;
DROP FUNCTION drop_tenant_counts();
DROP TRIGGER groups_count_delete ON groups;
DROP TRIGGER groups_count_insert ON groups;
DROP TRIGGER users_count_liveness ON users;
DROP TRIGGER users_count_delete ON users;
DROP TRIGGER users_count_insert ON users;
DROP FUNCTION count_groups_deleted();
DROP FUNCTION count_groups_inserted();
DROP FUNCTION count_users_liveness();
DROP FUNCTION count_users_deleted();
DROP FUNCTION count_users_inserted();
DROP TABLE resource_count_deltas;
