-- Up Migration

-- Access recertification campaigns (issue 9). A definition (the tenant owns it) says what is
-- reviewed, by whom, for how long and what happens to items nobody decided; its optional schedule
-- is reconciled into a Temporal Schedule by the worker (`campaign-schedule/<tenant>/<definition>`).
-- A campaign is one run: its workflow (`campaign/<tenant>/<campaign>`) snapshots the access in scope
-- into campaign_items in batches (the workflow holds counts, never items), assigns reviewers,
-- reminds, escalates and closes at its deadline. Revocations go through the identity's stream (a
-- role: a role_exclusions row + an `entitlements.changed` event the mover applies) or the
-- credentials service (tokens, service accounts, OAuth grants). Contract: core/campaigns/schema.ts.

CREATE TABLE campaign_definitions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- CampaignDefinitionInput minus name (scope, reviewers, durations, noResponse, schedule, ...).
  settings jsonb NOT NULL,
  -- Bumped on every change (settings, pause, delete); the schedule reconciler brings the Temporal
  -- Schedule to this revision and records it in schedule_synced_revision.
  revision integer NOT NULL DEFAULT 1,
  schedule_synced_revision integer NOT NULL DEFAULT 0,
  paused boolean NOT NULL DEFAULT false,
  created_by_type text NOT NULL,
  created_by_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  UNIQUE (tenant_id, id)
);
CREATE INDEX campaign_definitions_tenant ON campaign_definitions (tenant_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX campaign_definitions_unsynced ON campaign_definitions (updated_at) WHERE schedule_synced_revision < revision;

CREATE TABLE campaigns (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  -- NULL for an event-triggered review (a mover changed a person's manager or department).
  definition_id uuid,
  name text NOT NULL,
  trigger text NOT NULL CHECK (trigger IN ('manual', 'schedule', 'event')),
  -- What launched it, unique per tenant: the scheduled workflow's id, a manual launch's request
  -- id, `move:<userId>:<seq>` for an event. A retried launch finds the campaign it made.
  trigger_ref text NOT NULL,
  -- The definition's settings as they were at launch (later edits do not move a running campaign).
  settings jsonb NOT NULL,
  -- event-triggered reviews: the person whose move opened it.
  subject_user_id uuid,
  state text NOT NULL CHECK (state IN ('generating', 'open', 'closed', 'cancelled')),
  -- Generation progress: NULL before the first batch, then the keyset position of the last batch,
  -- 'done' once every item is written.
  generation_cursor text,
  items_total integer NOT NULL DEFAULT 0,
  launched_by_type text NOT NULL,
  launched_by_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  opened_at timestamptz,
  due_at timestamptz,
  escalated_at timestamptz,
  closed_at timestamptz,
  -- CampaignSummary (counts, no-response outcome, flagged reviewers, evidence digest, chain head).
  summary jsonb,
  workflow_id text,
  workflow_started_at timestamptz,
  UNIQUE (tenant_id, id),
  UNIQUE (tenant_id, trigger_ref),
  FOREIGN KEY (tenant_id, definition_id) REFERENCES campaign_definitions (tenant_id, id)
);
CREATE INDEX campaigns_tenant ON campaigns (tenant_id, created_at DESC, id DESC);
CREATE INDEX campaigns_definition_open ON campaigns (tenant_id, definition_id) WHERE state IN ('generating', 'open');
CREATE INDEX campaigns_unstarted ON campaigns (created_at) WHERE workflow_started_at IS NULL AND state IN ('generating', 'open');

CREATE TABLE campaign_items (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  campaign_id uuid NOT NULL,
  id bigserial,
  -- What is reviewed: a person's role, a service account (with its tokens), a token, an OAuth grant.
  access_kind text NOT NULL CHECK (access_kind IN ('role', 'service_account', 'token', 'oauth_grant')),
  -- role: the role name; otherwise the service account / credential / grant id.
  access_ref text NOT NULL,
  -- The person the access belongs to (role, personal token, OAuth grant) or the owner of the
  -- non-human identity (NULL for an ownerless one).
  user_id uuid,
  service_account_id uuid,
  -- Why the access exists at the snapshot: RoleSource[] for a role, { scopes, createdAt } otherwise.
  sources jsonb NOT NULL DEFAULT '[]',
  last_used_at timestamptz,
  -- Higher is riskier: the reviewer's list is ordered by it. risk_reasons: RiskReason[].
  risk integer NOT NULL DEFAULT 0,
  risk_reasons text[] NOT NULL DEFAULT '{}',
  recommendation text NOT NULL CHECK (recommendation IN ('keep', 'revoke')),
  recommendation_reason text NOT NULL,
  -- The portal user who reviews it (NULL: nobody could be found, not even a fallback).
  reviewer_id uuid,
  assigned_by text NOT NULL CHECK (assigned_by IN ('manager', 'owner', 'named', 'fallback', 'escalation', 'reassigned', 'admin')),
  escalated_at timestamptz,
  decision text CHECK (decision IN ('keep', 'revoke')),
  decision_reason text CHECK (length(decision_reason) <= 2000),
  decided_by uuid,
  decided_at timestamptz,
  -- Time the reviewer spent on this item (their share of a bulk decision), for rubber-stamp checks.
  decision_ms integer,
  -- pending until decided or closed; see ItemOutcome in core/campaigns/schema.ts.
  outcome text NOT NULL DEFAULT 'pending'
    CHECK (outcome IN ('pending', 'kept', 'revoked', 'gone', 'no_response_kept', 'no_response_revoked', 'awaiting_confirmation')),
  -- How the outcome was carried out (ApplyRecord: the stream event, the credential revoke, ...).
  applied jsonb,
  applied_at timestamptz,
  PRIMARY KEY (tenant_id, campaign_id, id),
  FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id) ON DELETE CASCADE
);
-- A reviewer's worklist: their undecided items, riskiest first.
CREATE INDEX campaign_items_reviewer ON campaign_items (tenant_id, campaign_id, reviewer_id, outcome, risk DESC, id);
CREATE INDEX campaign_items_user ON campaign_items (tenant_id, user_id) WHERE outcome = 'pending';

-- Roles a review took away from a person, whatever grants them (default role, a group mapping, a
-- direct grant): effectiveRoles() leaves them out until an admin grants the role directly again.
CREATE TABLE role_exclusions (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid NOT NULL,
  role text NOT NULL,
  campaign_id uuid,
  item_id bigint,
  reason text,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id, role),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['campaign_definitions', 'campaigns', 'campaign_items', 'role_exclusions'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE ON campaign_definitions, campaigns, campaign_items TO roster_app;
GRANT SELECT, INSERT, DELETE ON role_exclusions TO roster_app;
GRANT USAGE ON SEQUENCE campaign_items_id_seq TO roster_app;

-- The schedule reconciler (worker loop): definitions of any tenant whose Temporal Schedule is
-- behind their row (or, with p_all, every definition that has or had a schedule, to recreate a
-- lost one). Ids and schedule facts only; it reads each definition under its tenant.
CREATE FUNCTION campaign_definitions_to_sync(p_all boolean, p_limit integer)
RETURNS TABLE (tenant_id uuid, id uuid, revision integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT d.tenant_id, d.id, d.revision FROM campaign_definitions d
   WHERE (p_all AND d.deleted_at IS NULL AND d.settings->'schedule' IS NOT NULL AND d.settings->'schedule' <> 'null'::jsonb)
      OR d.schedule_synced_revision < d.revision
   ORDER BY d.updated_at LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION campaign_definitions_to_sync(boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION campaign_definitions_to_sync(boolean, integer) TO roster_app;

-- The campaign reconciler: campaigns whose workflow was never started (a crash between commit
-- and start, or an event-triggered review recorded by the mover's transaction).
CREATE FUNCTION campaigns_unstarted(p_older_than_seconds integer, p_limit integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT c.tenant_id, c.id FROM campaigns c
   WHERE c.workflow_started_at IS NULL AND c.state IN ('generating', 'open')
     AND c.created_at < now() - make_interval(secs => p_older_than_seconds)
   ORDER BY c.created_at LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION campaigns_unstarted(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION campaigns_unstarted(integer, integer) TO roster_app;

-- Down Migration
DROP FUNCTION IF EXISTS campaigns_unstarted(integer, integer);
DROP FUNCTION IF EXISTS campaign_definitions_to_sync(boolean, integer);
DROP TABLE IF EXISTS role_exclusions;
DROP TABLE IF EXISTS campaign_items;
DROP TABLE IF EXISTS campaigns;
DROP TABLE IF EXISTS campaign_definitions;
