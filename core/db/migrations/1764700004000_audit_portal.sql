-- Up Migration

-- The portal's audit log (issue 7): filtered, keyset-paged reads newest first, streamed exports,
-- and a chain verification that says what the first broken link expected and found.

-- Pages and exports walk one tenant's events by id; the action filter (exact or prefix) has its
-- own index. Actor, target and time filters ride on these (target already has audit_events_target).
-- Kept to two: every index costs each SCIM write another insert.
CREATE INDEX audit_events_tenant_id ON audit_events (tenant_id, id);
CREATE INDEX audit_events_tenant_action ON audit_events (tenant_id, action text_pattern_ops, id);

-- audit_verify (foundation migration) with the evidence: which link broke, why, and the seq and
-- hashes the chain expected there against the ones stored. SECURITY INVOKER: it sees what the
-- caller's row-level security lets it see, so it runs inside the caller's tenant transaction.
-- A cursor loop: memory stays flat however long the chain is.
CREATE FUNCTION audit_verify_detail(p_tenant uuid)
RETURNS TABLE (sealed bigint, pending bigint, verified bigint, first_bad_seq bigint, reason text, event_id bigint,
               expected_seq bigint, found_seq bigint, expected_prev_hash bytea, found_prev_hash bytea,
               expected_hash bytea, found_hash bytea)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
#variable_conflict use_column
DECLARE
  prev bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
  expected bigint := 0;
  head_seq bigint;
  digest bytea;
  e audit_events;
BEGIN
  SELECT count(*) INTO pending FROM audit_events a WHERE a.tenant_id = p_tenant AND a.seq IS NULL;
  SELECT count(*) INTO sealed FROM audit_events a WHERE a.tenant_id = p_tenant AND a.seq IS NOT NULL;
  head_seq := coalesce((SELECT h.seq FROM audit_chain_heads h WHERE h.tenant_id = p_tenant), 0);
  FOR e IN SELECT * FROM audit_events a WHERE a.tenant_id = p_tenant AND a.seq IS NOT NULL ORDER BY a.seq LOOP
    expected := expected + 1;
    verified := expected - 1;
    IF e.seq <> expected THEN
      -- A gap: the event that held `expected` is gone (or seqs were rewritten).
      first_bad_seq := expected; reason := 'missing_event'; event_id := e.id;
      expected_seq := expected; found_seq := e.seq; expected_prev_hash := prev; found_prev_hash := e.prev_hash;
      RETURN NEXT; RETURN;
    END IF;
    IF e.prev_hash IS DISTINCT FROM prev THEN
      first_bad_seq := expected; reason := 'prev_hash_mismatch'; event_id := e.id;
      expected_seq := expected; found_seq := e.seq; expected_prev_hash := prev; found_prev_hash := e.prev_hash;
      expected_hash := audit_event_digest(e, e.seq, prev); found_hash := e.hash;
      RETURN NEXT; RETURN;
    END IF;
    digest := audit_event_digest(e, e.seq, prev);
    IF e.hash IS DISTINCT FROM digest THEN
      -- The stored link no longer matches the event's content: the event was altered.
      first_bad_seq := expected; reason := 'hash_mismatch'; event_id := e.id;
      expected_seq := expected; found_seq := e.seq; expected_prev_hash := prev; found_prev_hash := e.prev_hash;
      expected_hash := digest; found_hash := e.hash;
      RETURN NEXT; RETURN;
    END IF;
    prev := e.hash;
  END LOOP;
  verified := expected;
  IF expected <> head_seq THEN
    -- The chain head remembers more (or fewer) events than the table holds: the newest were removed.
    first_bad_seq := expected + 1; reason := 'chain_head_mismatch'; event_id := NULL;
    expected_seq := head_seq; found_seq := expected; expected_prev_hash := NULL; found_prev_hash := NULL;
    expected_hash := (SELECT h.hash FROM audit_chain_heads h WHERE h.tenant_id = p_tenant); found_hash := prev;
    RETURN NEXT; RETURN;
  END IF;
  first_bad_seq := NULL; reason := NULL; event_id := NULL;
  RETURN NEXT;
END $$;

REVOKE ALL ON FUNCTION audit_verify_detail(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_verify_detail(uuid) TO roster_app;

-- Down Migration
DROP FUNCTION IF EXISTS audit_verify_detail(uuid);
DROP INDEX IF EXISTS audit_events_tenant_action;
DROP INDEX IF EXISTS audit_events_tenant_id;
