import type {
  AccessKind,
  ApplyRecord,
  CampaignDefinitionView,
  CampaignItemView,
  CampaignSchedule,
  CampaignState,
  ItemOutcome,
  RiskReason,
  ScopePart,
} from '../../../../core/campaigns/schema.js';
import { keepNeedsReason as keepNeedsReasonFor } from '../../../../core/campaigns/schema.js';
import type { StatusTone } from '../../components/index.js';
import { formatDateTime } from '../../lib/format.js';

/**
 * How the access-review pages name things. Pure (no React): the unit tests read the same words
 * reviewers do.
 */

export const stateLabels: Record<CampaignState, { label: string; tone: StatusTone }> = {
  generating: { label: 'Preparing items', tone: 'info' },
  open: { label: 'Open', tone: 'ok' },
  closed: { label: 'Closed', tone: 'neutral' },
  cancelled: { label: 'Cancelled', tone: 'neutral' },
};

export const triggerLabels: Record<'manual' | 'schedule' | 'event', string> = {
  manual: 'Launched on demand',
  schedule: 'Scheduled',
  event: 'Mover event',
};

export const outcomeLabels: Record<ItemOutcome, { label: string; tone: StatusTone }> = {
  pending: { label: 'Pending', tone: 'info' },
  kept: { label: 'Kept', tone: 'ok' },
  revoked: { label: 'Revoked', tone: 'error' },
  gone: { label: 'Access gone', tone: 'neutral' },
  no_response_kept: { label: 'No response: kept and flagged', tone: 'warning' },
  no_response_revoked: { label: 'No response: revoked', tone: 'error' },
  awaiting_confirmation: { label: 'No response: revoke waits for confirmation', tone: 'warning' },
};

export const accessKindLabels: Record<AccessKind, string> = {
  role: 'Role',
  service_account: 'Service account',
  token: 'API token',
  oauth_grant: 'OAuth grant',
};

export const riskLabels: Record<RiskReason, string> = {
  privileged_role: 'Privileged role',
  unused_90_days: 'Unused for 90 days',
  source_gone: 'Nothing grants it any more',
  orphaned_owner: 'No active owner',
  inactive_person: 'Person suspended or leaving',
};

export const scopeLabels: Record<ScopePart['kind'], { label: string; description: string }> = {
  all_roles: { label: 'All role grants', description: 'Every role every live person holds.' },
  privileged_roles: { label: 'Privileged roles only', description: 'Roles your application marks privileged.' },
  groups: { label: 'Members of chosen groups', description: 'Every role the members of these groups hold, whatever gives it to them.' },
  service_accounts: { label: 'Service accounts and their tokens', description: 'One item per account and per live token; revoking an account disables it and its tokens.' },
  oauth_grants: { label: 'OAuth grants and integrations', description: 'Integrations people authorised to act for them.' },
};

export const assignedByLabels: Record<string, string> = {
  manager: 'their manager',
  owner: 'the owner',
  named: 'a named reviewer',
  fallback: 'the fallback reviewer',
  admin: 'an admin (nobody else could review it)',
  reassigned: 'reassigned',
  escalated: 'escalated',
};

/** "Default role", "Group mapping: Payroll", "Direct grant by ana@example.com"; non-role items: their scopes. */
export function describeSources(item: Pick<CampaignItemView, 'accessKind' | 'sources'>): string[] {
  const raw: unknown = item.sources;
  const list = Array.isArray(raw) ? raw : raw && typeof raw === 'object' ? [raw] : [];
  const lines: string[] = [];
  for (const source of list) {
    if (!source || typeof source !== 'object') continue;
    const s = source as Record<string, unknown>;
    if (s.kind === 'default') lines.push('Default role of every person');
    else if (s.kind === 'group') lines.push(`Group mapping: ${typeof s.groupName === 'string' && s.groupName ? s.groupName : 'a group'}`);
    else if (s.kind === 'direct') lines.push(`Direct grant by ${typeof s.grantedBy === 'string' && s.grantedBy ? s.grantedBy : 'someone'}`);
    else {
      const scopes = Array.isArray(s.scopes) ? s.scopes.filter((x): x is string => typeof x === 'string') : null;
      if (scopes) lines.push(scopes.length ? `Scopes: ${scopes.join(' ')}` : 'No scopes');
      if (typeof s.clientId === 'string') lines.push(`Client: ${s.clientId}`);
      if (typeof s.createdAt === 'string') lines.push(`${item.accessKind === 'oauth_grant' ? 'Granted' : 'Created'} ${formatDateTime(s.createdAt)}`);
    }
  }
  if (lines.length === 0 && item.accessKind === 'role') return ['Nothing grants it any more'];
  return lines;
}

/** Who or what the access belongs to. */
export function subjectName(item: Pick<CampaignItemView, 'subject'>): string {
  const s = item.subject;
  return s.displayName ?? s.name ?? (s.serviceAccountId ? 'a service account' : 'someone no longer in the directory');
}

/** "Jane Doe: admin": names a row for checkboxes and buttons, so every control says which item it acts on. */
export function itemLabel(item: Pick<CampaignItemView, 'subject' | 'access'>): string {
  return `${subjectName(item)}: ${item.access}`;
}

/** Keeping this item needs a reason (the service's rule): privileged access nobody used for 90 days. */
export const keepNeedsReason = (item: Pick<CampaignItemView, 'riskReasons'>): boolean => keepNeedsReasonFor(item.riskReasons);

/** Last use, where Roster knows it: roles have no usage record. */
export function lastUsedText(item: Pick<CampaignItemView, 'accessKind' | 'lastUsedAt'>, relative: (at: string) => string): string {
  if (item.lastUsedAt) return relative(item.lastUsedAt);
  return item.accessKind === 'role' ? 'not tracked for roles' : 'never used';
}

/** How an outcome was carried out (the evidence's "applied" column, readable). */
export function describeApplied(applied: ApplyRecord | null): string | null {
  if (!applied) return null;
  switch (applied.via) {
    case 'identity_stream':
      return `Removed through the person's lifecycle (event #${applied.seq})`;
    case 'credential_revoked':
      return 'Token revoked';
    case 'service_account_disabled':
      return `Service account disabled, ${applied.tokensRevoked} ${applied.tokensRevoked === 1 ? 'token' : 'tokens'} revoked`;
    case 'oauth_grant_revoked':
      return 'OAuth grant revoked';
    case 'already_gone':
      return 'Nothing to do: the access was already gone';
  }
  return null;
}

/** The refusal codes of a decision, as the reviewer reads them. */
export const refusalMessages: Record<string, string> = {
  not_your_item: 'it is assigned to someone else now',
  already_decided: 'it was already decided',
  reason_required: 'it needs a reason',
  access_changed: 'the access changed since the snapshot: look at it again and acknowledge the change',
  campaign_not_open: 'the campaign is no longer open',
  not_found: 'it is not in this campaign',
};

/** "14 days", "36 hours", "1 hour". */
export function hoursText(hours: number): string {
  if (hours >= 24 && hours % 24 === 0) return `${hours / 24} ${hours === 24 ? 'day' : 'days'}`;
  return `${hours} ${hours === 1 ? 'hour' : 'hours'}`;
}

/** The schedule in a sentence ("Every quarter, 1 Jan/Apr/Jul/Oct 00:00 UTC"). */
export function describeSchedule(schedule: CampaignSchedule | null): string {
  if (!schedule) return 'On demand only';
  switch (schedule.kind) {
    case 'monthly':
      return 'Monthly: the 1st, 00:00 UTC';
    case 'quarterly':
      return 'Quarterly: 1 Jan, Apr, Jul and Oct, 00:00 UTC';
    case 'cron':
      return `Cron ${schedule.cron} (${schedule.timezone ?? 'UTC'})`;
    case 'interval':
      return `Every ${hoursText(schedule.everyHours)}`;
  }
  return 'On demand only';
}

/** The scope in words: with group names where the caller knows them, else how many groups. */
export function describeScope(scope: ScopePart[], groupName?: (id: string) => string | undefined): string {
  return scope
    .map((part) => {
      if (part.kind !== 'groups') return scopeLabels[part.kind].label;
      const n = part.groupIds.length;
      if (!groupName) return `Members of ${n} ${n === 1 ? 'group' : 'groups'}`;
      return `Members of ${part.groupIds.map((id) => groupName(id) ?? 'a group no longer in the directory').join(', ')}`;
    })
    .join(' · ');
}

/** A definition's standing: paused, running, or when it fires next. */
export function definitionStatus(d: Pick<CampaignDefinitionView, 'paused' | 'schedule' | 'nextRunAt' | 'openCampaignId'>): { label: string; tone: StatusTone } {
  if (d.paused) return { label: 'Paused', tone: 'warning' };
  if (d.openCampaignId) return { label: 'Running', tone: 'ok' };
  if (!d.schedule) return { label: 'On demand', tone: 'neutral' };
  return d.nextRunAt ? { label: `Next run ${formatDateTime(d.nextRunAt)}`, tone: 'info' } : { label: 'Scheduled', tone: 'info' };
}

/** Median time per decision, readable ("4.2 s", "1 min 5 s"). */
export function formatDuration(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const s = Math.round(ms / 1000);
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

/** Share as a whole percent of `total` (0 when there is nothing). */
export const percent = (part: number, total: number): number => (total > 0 ? Math.round((part / total) * 100) : 0);
