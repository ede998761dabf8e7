-- Up Migration
-- Portal sessions are cached per API process (core/portal-auth/session-cache.ts), so a signed-in
-- request costs no round trip for its session: the request's own first statement re-checks it
-- (portal_session_current below). What can end a session or change what it may do NOTIFYs every
-- listening API process at commit, and each evicts what the payload names, so the check rarely fails:
--   `s:<session id>`  a session revoked, shortened or deleted;
--   `u:<portal user id>` the person's status, e-mail or roles changed, or the person was deleted.
-- last_seen_at-only updates do not notify (they would evict the entries whose use was just flushed).
CREATE FUNCTION portal_sessions_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  IF TG_OP = 'INSERT' THEN r := NEW; ELSE r := OLD; END IF;
  IF TG_TABLE_NAME = 'portal_sessions' THEN
    PERFORM pg_notify('roster_portal_sessions', 's:' || r.id::text);
  ELSIF TG_TABLE_NAME = 'portal_users' THEN
    PERFORM pg_notify('roster_portal_sessions', 'u:' || r.id::text);
  ELSE
    PERFORM pg_notify('roster_portal_sessions', 'u:' || r.user_id::text);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER portal_sessions_notify AFTER UPDATE ON portal_sessions FOR EACH ROW
  WHEN ((OLD.tenant_id, OLD.user_id, OLD.token_hash, OLD.expires_at, OLD.revoked_at)
        IS DISTINCT FROM (NEW.tenant_id, NEW.user_id, NEW.token_hash, NEW.expires_at, NEW.revoked_at))
  EXECUTE FUNCTION portal_sessions_notify();
CREATE TRIGGER portal_sessions_notify_delete AFTER DELETE ON portal_sessions FOR EACH ROW
  EXECUTE FUNCTION portal_sessions_notify();
CREATE TRIGGER portal_users_notify AFTER UPDATE ON portal_users FOR EACH ROW
  WHEN ((OLD.tenant_id, OLD.status, OLD.email) IS DISTINCT FROM (NEW.tenant_id, NEW.status, NEW.email))
  EXECUTE FUNCTION portal_sessions_notify();
CREATE TRIGGER portal_users_notify_delete AFTER DELETE ON portal_users FOR EACH ROW
  EXECUTE FUNCTION portal_sessions_notify();
CREATE TRIGGER portal_user_roles_notify AFTER INSERT OR UPDATE OR DELETE ON portal_user_roles FOR EACH ROW
  EXECUTE FUNCTION portal_sessions_notify();

-- The same lookup plus the session's absolute expiry (a cached session must end at it too).
DROP FUNCTION portal_session_resolve(bytea, integer, integer);
CREATE FUNCTION portal_session_resolve(p_hash bytea, p_idle_seconds integer, p_touch_seconds integer)
RETURNS TABLE (session_id uuid, tenant_id uuid, user_id uuid, email text, roles text[], expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  RETURN QUERY
    SELECT s.id, s.tenant_id, s.user_id, u.email,
           coalesce((SELECT array_agg(r.role ORDER BY r.role) FROM portal_user_roles r
                      WHERE r.tenant_id = s.tenant_id AND r.user_id = s.user_id), '{}'),
           s.expires_at
      FROM portal_sessions s JOIN portal_users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
     WHERE s.token_hash = p_hash AND s.revoked_at IS NULL AND s.expires_at > now()
       AND s.last_seen_at > now() - make_interval(secs => p_idle_seconds)
       AND u.status = 'active';
  IF FOUND THEN
    UPDATE portal_sessions SET last_seen_at = now()
     WHERE token_hash = p_hash AND last_seen_at < now() - make_interval(secs => p_touch_seconds);
  END IF;
END $$;

-- Batched last_seen_at for the sessions an API process served from its cache: each to the time it
-- was last used there (never backwards), and only when that moves it by p_touch_seconds or more.
CREATE FUNCTION portal_sessions_touch(p_ids uuid[], p_seen timestamptz[], p_touch_seconds integer) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  UPDATE portal_sessions s SET last_seen_at = least(u.seen, now())
    FROM unnest(p_ids, p_seen) AS u(id, seen)
   WHERE s.id = u.id AND s.revoked_at IS NULL
     AND s.last_seen_at < least(u.seen, now()) - make_interval(secs => p_touch_seconds)
$$;

-- Is a session served from memory still what it was when it was read? Evaluated in the statement
-- that opens the request's tenant transaction (withTenantChecked), so a revocation, removal or
-- role change committed on any API process stops the next request at once, NOTIFY or not.
CREATE FUNCTION portal_session_current(p_session_id uuid, p_user_id uuid, p_roles text[]) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT EXISTS (
    SELECT 1 FROM portal_sessions s JOIN portal_users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
     WHERE s.id = p_session_id AND s.user_id = p_user_id AND s.revoked_at IS NULL AND s.expires_at > now()
       AND u.status = 'active'
       AND coalesce((SELECT array_agg(r.role ORDER BY r.role) FROM portal_user_roles r
                      WHERE r.tenant_id = s.tenant_id AND r.user_id = s.user_id), '{}') = p_roles)
$$;

REVOKE ALL ON FUNCTION portal_session_resolve(bytea, integer, integer), portal_sessions_touch(uuid[], timestamptz[], integer),
  portal_session_current(uuid, uuid, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION portal_session_resolve(bytea, integer, integer), portal_sessions_touch(uuid[], timestamptz[], integer),
  portal_session_current(uuid, uuid, text[]) TO roster_app;

-- Down Migration
DROP FUNCTION IF EXISTS portal_session_current(uuid, uuid, text[]);
DROP FUNCTION IF EXISTS portal_sessions_touch(uuid[], timestamptz[], integer);
DROP FUNCTION portal_session_resolve(bytea, integer, integer);
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
REVOKE ALL ON FUNCTION portal_session_resolve(bytea, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION portal_session_resolve(bytea, integer, integer) TO roster_app;
DROP TRIGGER portal_user_roles_notify ON portal_user_roles;
DROP TRIGGER portal_users_notify_delete ON portal_users;
DROP TRIGGER portal_users_notify ON portal_users;
DROP TRIGGER portal_sessions_notify_delete ON portal_sessions;
DROP TRIGGER portal_sessions_notify ON portal_sessions;
DROP FUNCTION portal_sessions_notify();
