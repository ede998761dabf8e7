-- Up Migration

-- Identity streams pull what waits for them instead of being signalled once per row.
--
-- A group push writes a membership row on the stream of every member, often several for one
-- member within seconds, while that member's workflow is still busy with (or queued behind) an
-- earlier event. Signalling each row costs a signal, history events and often a workflow task with
-- a full-history replay. Instead:
--
-- * The relay defers a row it would signal when the row is a membership or entitlement event and
--   its stream has an earlier event not applied yet (users.applied_seq < seq - 1): the step that
--   applies that earlier event will pull it. `defer_until` bounds the wait: after it the relay
--   signals the row like any other, so a stream that never runs a pulling step (a held leaver, a
--   parked stream, a worker on older code) loses nothing.
-- * The step (core/repositories/lifecycle.ts applyIdentityEvent) pulls the rows of its own stream
--   after the seq it applies, in the transaction that applies it: marked delivered there, handed
--   to the workflow in the step's stored outcome (so a retried step hands them over again).
--
-- Why nothing waits for its deadline in the common case: a SCIM write assigns a user stream's
-- seq under the user row's lock, and the step holds that row's lock from its start to its commit.
-- The relay defers a row only while holding the user row FOR SHARE (skipping a locked one), so no
-- step of that stream is running then; the next step starts after the row was deferred, and its
-- pull (a later statement than its lock) takes it. Rows of a locked user are signalled.
ALTER TABLE outbox ADD COLUMN defer_until timestamptz;

DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL AND defer_until IS NULL;
CREATE INDEX outbox_deferred ON outbox (defer_until) WHERE delivered_at IS NULL AND defer_until IS NOT NULL;

-- Defers, in its own short transaction, the deferrable rows among the next p_limit undelivered
-- ones: membership and entitlement rows of identities whose stream has an earlier event not
-- applied yet. The user row is read FOR SHARE SKIP LOCKED: a step holds it (FOR NO KEY UPDATE)
-- from its start to its commit, so a row is deferred only while no step of its stream is running;
-- a step that starts afterwards waits for this statement's commit and then pulls the row. A user
-- row that is locked (a step or a SCIM write at work) leaves its rows to be signalled.
--
-- A deferred row whose time is up is deferred again (for as long again as it has waited, at most
-- ten times p_defer_ms, so a long backlog costs few re-checks) while its stream is still busy, the
-- event at its head has reached the workflow (signalled or pulled) and is not a leaver waiting to
-- be completed, and the row is younger than p_max_ms: a backlog of workflow tasks longer than
-- p_defer_ms still ends in a pull. Otherwise it is signalled: a stream whose next step will not
-- pull (a held leaver, a parked event skipped, a worker on older code) has what it waits for soon
-- after it can apply it.
--
-- Answers how many rows it deferred, the last fresh id it looked at (null: none waited), up to
-- which the claim that follows takes undelivered rows, so that it never signals a row this pass
-- did not consider, and whether deferred rows are due for that claim (with neither, an idle relay
-- skips the claim's transaction).
CREATE FUNCTION outbox_defer(p_limit integer, p_defer_ms integer, p_max_ms integer)
RETURNS TABLE (deferred integer, window_end bigint, due boolean)
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  WITH fresh AS (
    SELECT id, tenant_id, stream_type, stream_id, seq, event_type, created_at, false AS again FROM outbox
     WHERE delivered_at IS NULL AND defer_until IS NULL ORDER BY id LIMIT p_limit FOR UPDATE SKIP LOCKED),
  due AS (
    SELECT id, tenant_id, stream_type, stream_id, seq, event_type, created_at, true AS again FROM outbox
     WHERE delivered_at IS NULL AND defer_until IS NOT NULL AND defer_until <= now()
       AND created_at > now() - make_interval(secs => p_max_ms / 1000.0)
     ORDER BY defer_until LIMIT p_limit FOR UPDATE SKIP LOCKED),
  busy AS (
    SELECT c.id, c.created_at FROM (SELECT * FROM fresh UNION ALL SELECT * FROM due) c
      JOIN users u ON u.tenant_id = c.tenant_id AND u.id = c.stream_id
     WHERE c.stream_type = 'user' AND c.event_type IN ('membership.added', 'membership.removed', 'entitlements.changed')
       AND u.applied_seq < c.seq - 1
       AND (NOT c.again OR (
         -- not behind a leaver that waits to be completed (a held one can wait for days, and its
         -- comeback must not wait on these rows once it is released)
         u.leaver_seq IS DISTINCT FROM u.applied_seq + 1
         AND EXISTS (
           SELECT 1 FROM outbox h
            WHERE h.tenant_id = c.tenant_id AND h.stream_type = 'user' AND h.stream_id = c.stream_id
              AND h.seq = u.applied_seq + 1 AND h.delivered_at IS NOT NULL)))
       FOR SHARE OF u SKIP LOCKED),
  d AS (
    UPDATE outbox o SET defer_until = now() + least(
        greatest(make_interval(secs => p_defer_ms / 1000.0), now() - busy.created_at),
        make_interval(secs => p_defer_ms / 100.0))
      FROM busy WHERE o.id = busy.id
    RETURNING o.id)
  SELECT (SELECT count(*)::int FROM d), (SELECT max(id) FROM fresh),
         EXISTS (SELECT 1 FROM outbox x WHERE x.delivered_at IS NULL AND x.defer_until <= now()
                    AND NOT EXISTS (SELECT 1 FROM d WHERE d.id = x.id))
$$;

-- Claims rows to signal, locked until the caller's transaction ends: deferred rows whose time is
-- up first, then undelivered rows not deferred with ids up to p_window_end (null: any), in id
-- order. Returned in id order.
CREATE FUNCTION outbox_claim_ready(p_limit integer, p_window_end bigint)
RETURNS SETOF outbox
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  due bigint[];
  fresh bigint[];
BEGIN
  SELECT coalesce(array_agg(id), '{}') INTO due FROM (
    SELECT id FROM outbox WHERE delivered_at IS NULL AND defer_until IS NOT NULL AND defer_until <= now()
     ORDER BY defer_until LIMIT p_limit FOR UPDATE SKIP LOCKED) d;
  SELECT coalesce(array_agg(id), '{}') INTO fresh FROM (
    SELECT id FROM outbox WHERE delivered_at IS NULL AND defer_until IS NULL AND (p_window_end IS NULL OR id <= p_window_end)
     ORDER BY id LIMIT greatest(p_limit - cardinality(due), 0) FOR UPDATE SKIP LOCKED) f;
  RETURN QUERY SELECT * FROM outbox WHERE id = ANY (due || fresh) ORDER BY id;
END
$$;

-- A step pulls its stream's waiting rows after p_after (at most p_limit, in seq order), marking
-- them delivered. Only the tenant the caller's transaction is scoped to (app.tenant_id); rows a
-- relay holds are skipped (it signals them).
CREATE FUNCTION outbox_pull(p_stream uuid, p_after bigint, p_limit integer)
RETURNS TABLE (id bigint, seq bigint, event_type text, payload jsonb)
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  WITH w AS (
    SELECT o.id FROM outbox o
     WHERE o.tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
       AND o.stream_type = 'user' AND o.stream_id = p_stream AND o.seq > p_after AND o.delivered_at IS NULL
     ORDER BY o.seq LIMIT p_limit FOR UPDATE SKIP LOCKED),
  m AS (
    UPDATE outbox o SET delivered_at = now(), attempts = o.attempts + 1, last_error = NULL
      FROM w WHERE o.id = w.id
    RETURNING o.id, o.seq, o.event_type, o.payload)
  SELECT id, seq, event_type, payload FROM m ORDER BY seq
$$;

-- The relay's health counts from when a row is owed to it: a deferred row only from its
-- defer_until (until then it waits for its stream's step, by design), so a push's deferred rows
-- do not read as a lagging relay. The backlog still counts every undelivered row.
CREATE OR REPLACE FUNCTION console_outbox_health()
RETURNS TABLE (backlog bigint, oldest_undelivered_at timestamptz, failing bigint, last_error text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT count(*)::bigint,
         min(coalesce(defer_until, created_at)) FILTER (WHERE defer_until IS NULL OR defer_until <= now()),
         count(*) FILTER (WHERE attempts > 0)::bigint,
         (SELECT left(o.last_error, 300) FROM outbox o WHERE o.delivered_at IS NULL AND o.last_error IS NOT NULL ORDER BY o.id LIMIT 1)
    FROM outbox WHERE delivered_at IS NULL
$$;

CREATE OR REPLACE FUNCTION metrics_snapshot()
RETURNS TABLE (
  outbox_backlog bigint,
  outbox_oldest_seconds double precision,
  audit_unsealed bigint,
  audit_oldest_unsealed_seconds double precision,
  feed_unsealed bigint,
  feed_oldest_unsealed_seconds double precision,
  guard_holds bigint,
  webhook_pending bigint
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT
    (SELECT count(*) FROM outbox WHERE delivered_at IS NULL),
    (SELECT coalesce(extract(epoch FROM now() - min(coalesce(defer_until, created_at))), 0)::float8 FROM outbox
      WHERE delivered_at IS NULL AND (defer_until IS NULL OR defer_until <= now())),
    (SELECT count(*) FROM audit_events WHERE seq IS NULL),
    (SELECT coalesce(extract(epoch FROM now() - min(occurred_at)), 0)::float8 FROM audit_events WHERE seq IS NULL),
    (SELECT count(*) FROM events WHERE position IS NULL),
    (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM events WHERE position IS NULL),
    (SELECT count(*) FROM deprovision_holds WHERE released_at IS NULL),
    (SELECT count(*) FROM webhook_deliveries WHERE delivered_at IS NULL)
$$;

REVOKE ALL ON FUNCTION outbox_defer(integer, integer, integer), outbox_claim_ready(integer, bigint), outbox_pull(uuid, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_defer(integer, integer, integer), outbox_claim_ready(integer, bigint), outbox_pull(uuid, bigint, integer) TO roster_app;

-- Down Migration
CREATE OR REPLACE FUNCTION console_outbox_health()
RETURNS TABLE (backlog bigint, oldest_undelivered_at timestamptz, failing bigint, last_error text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT count(*)::bigint, min(created_at), count(*) FILTER (WHERE attempts > 0)::bigint,
         (SELECT left(o.last_error, 300) FROM outbox o WHERE o.delivered_at IS NULL AND o.last_error IS NOT NULL ORDER BY o.id LIMIT 1)
    FROM outbox WHERE delivered_at IS NULL
$$;
CREATE OR REPLACE FUNCTION metrics_snapshot()
RETURNS TABLE (
  outbox_backlog bigint,
  outbox_oldest_seconds double precision,
  audit_unsealed bigint,
  audit_oldest_unsealed_seconds double precision,
  feed_unsealed bigint,
  feed_oldest_unsealed_seconds double precision,
  guard_holds bigint,
  webhook_pending bigint
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT
    (SELECT count(*) FROM outbox WHERE delivered_at IS NULL),
    (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM outbox WHERE delivered_at IS NULL),
    (SELECT count(*) FROM audit_events WHERE seq IS NULL),
    (SELECT coalesce(extract(epoch FROM now() - min(occurred_at)), 0)::float8 FROM audit_events WHERE seq IS NULL),
    (SELECT count(*) FROM events WHERE position IS NULL),
    (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM events WHERE position IS NULL),
    (SELECT count(*) FROM deprovision_holds WHERE released_at IS NULL),
    (SELECT count(*) FROM webhook_deliveries WHERE delivered_at IS NULL)
$$;
DROP FUNCTION outbox_pull(uuid, bigint, integer);
DROP FUNCTION outbox_claim_ready(integer, bigint);
DROP FUNCTION outbox_defer(integer, integer, integer);
DROP INDEX outbox_deferred;
DROP INDEX outbox_pending;
UPDATE outbox SET defer_until = NULL;
CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL;
ALTER TABLE outbox DROP COLUMN defer_until;
