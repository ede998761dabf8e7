-- Up Migration

-- Change requests (issue 8): a change to a connection, a mapping, a role grant, a webhook, a guard
-- hold or the approval policy itself is requested, approved by N distinct people and then applied
-- by its approval workflow (`approval/<tenantId>/<requestId>`). PostgreSQL is the record; the
-- workflow only orders the steps. Tenant data: RLS like every tenant table.

CREATE TABLE change_requests (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind ~ '^[a-z_]+\.[a-z_]+$'),
  -- The change as requested (parsed by the kind's handler); never a secret.
  payload jsonb NOT NULL,
  -- What approvers see: summary, before, after, subjects, effects (core/approvals/schema.ts).
  description jsonb NOT NULL,
  -- sha256 (hex) of the canonical JSON of kind, before and after: what an approval is bound to.
  change_hash text NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'cooling_off', 'approved', 'applying', 'applied', 'failed', 'rejected', 'withdrawn', 'expired', 'cancelled')),
  requested_by_type text NOT NULL,
  requested_by_id text,
  reason text CHECK (length(reason) <= 2000),
  approvals_needed integer NOT NULL CHECK (approvals_needed BETWEEN 0 AND 5),
  -- Who may approve, from the policy in force when it was requested (the inbox filters on these);
  -- once escalated, the tenant's admins too.
  eligible_roles text[] NOT NULL,
  eligible_user_ids uuid[] NOT NULL DEFAULT '{}',
  escalated_at timestamptz,
  expires_at timestamptz NOT NULL,
  applies_at timestamptz,
  decided_at timestamptz,
  applied_at timestamptz,
  -- Ids and facts of the applied change and its verification; never a secret.
  result jsonb,
  -- A secret the applied change produced (a SCIM token, a webhook signing secret), sealed with
  -- core/secret-box.ts (associated data `change_request:<tenant>:<id>`) until the requester
  -- collects it once; then wiped and `secret_collected` set.
  secret bytea,
  secret_collected boolean NOT NULL DEFAULT false,
  -- Set once the approval workflow was started; the reconciler starts the ones a crash left unset.
  workflow_started_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- Bumped by every edit: approvals of an older version are void.
  version integer NOT NULL DEFAULT 1,
  UNIQUE (tenant_id, id)
);

-- The inbox: open requests (waiting), mine (by requester), history (everything, newest first);
-- each keyset-paged on (created_at, id).
CREATE INDEX change_requests_open ON change_requests (tenant_id, created_at DESC, id DESC) WHERE state IN ('pending', 'cooling_off');
CREATE INDEX change_requests_requester ON change_requests (tenant_id, requested_by_id, created_at DESC, id DESC);
CREATE INDEX change_requests_history ON change_requests (tenant_id, created_at DESC, id DESC);
-- The reconciler's scan: open requests whose workflow was never started.
CREATE INDEX change_requests_unstarted ON change_requests (created_at) WHERE workflow_started_at IS NULL AND state IN ('pending', 'cooling_off', 'approved', 'applying');

CREATE TABLE change_request_decisions (
  tenant_id uuid NOT NULL,
  request_id uuid NOT NULL,
  user_id uuid NOT NULL,
  verdict text NOT NULL CHECK (verdict IN ('approve', 'reject')),
  comment text CHECK (length(comment) <= 2000),
  -- The change hash the decision was made on; an edit voids decisions on older hashes.
  change_hash text NOT NULL,
  valid boolean NOT NULL DEFAULT true,
  decided_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, request_id, user_id, change_hash),
  FOREIGN KEY (tenant_id, request_id) REFERENCES change_requests (tenant_id, id) ON DELETE CASCADE
);

-- The tenant's approval policy (core/approvals/schema.ts ApprovalPolicy); no row: the defaults.
CREATE TABLE approval_policies (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  policy jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['change_requests', 'change_request_decisions', 'approval_policies'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE ON change_requests, change_request_decisions, approval_policies TO roster_app;

-- The reconciler (worker loop): open requests of any tenant whose workflow was never started
-- (the process died between commit and start). Ids only; it starts each under its tenant.
CREATE FUNCTION change_requests_unstarted(p_older_than_seconds integer, p_limit integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT r.tenant_id, r.id FROM change_requests r
   WHERE r.workflow_started_at IS NULL AND r.state IN ('pending', 'cooling_off', 'approved', 'applying')
     AND r.created_at < now() - make_interval(secs => p_older_than_seconds)
   ORDER BY r.created_at LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION change_requests_unstarted(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION change_requests_unstarted(integer, integer) TO roster_app;

-- Down Migration
DROP FUNCTION IF EXISTS change_requests_unstarted(integer, integer);
DROP TABLE IF EXISTS approval_policies;
DROP TABLE IF EXISTS change_request_decisions;
DROP TABLE IF EXISTS change_requests;
