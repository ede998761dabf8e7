import { CampaignDefinitionInput, type CampaignDefinitionBody, type CampaignDefinitionView, type ScopePart } from '../../../../core/campaigns/schema.js';

/**
 * The definition form's state (what the inputs hold: numbers as typed text) and its two mappings:
 * a stored definition → the form, the form → the request body. The body is checked with the API's
 * own schema before it is sent; an issue's path (from zod here, or from the API's 400) names the
 * form field that shows it.
 */

export type ScopeKind = ScopePart['kind'];
export type ScheduleKind = 'none' | 'monthly' | 'quarterly' | 'cron' | 'interval';

export interface DefinitionForm {
  name: string;
  description: string;
  scope: ScopeKind[];
  groupIds: string[];
  people: 'manager' | 'named';
  nonHuman: 'owner' | 'named';
  reviewerIds: string[];
  fallbackReviewerId: string;
  durationHours: string;
  remindEveryHours: string;
  escalateAfterHours: string;
  noResponseAction: 'keep_and_flag' | 'revoke';
  escalate: boolean;
  revokeCapPercent: string;
  rubberStampSeconds: string;
  scheduleKind: ScheduleKind;
  cron: string;
  timezone: string;
  everyHours: string;
}

/** The form's fields (the keys issues are shown at). */
export type FormField = keyof DefinitionForm;

export const SCOPE_KINDS: readonly ScopeKind[] = ['all_roles', 'privileged_roles', 'groups', 'service_accounts', 'oauth_grants'];

/** A new definition: the schema's defaults (quarterly, privileged roles, managers review). */
export function emptyForm(): DefinitionForm {
  return {
    name: '',
    description: '',
    scope: ['privileged_roles'],
    groupIds: [],
    people: 'manager',
    nonHuman: 'owner',
    reviewerIds: [],
    fallbackReviewerId: '',
    durationHours: String(24 * 14),
    remindEveryHours: String(24 * 3),
    escalateAfterHours: String(24 * 7),
    noResponseAction: 'keep_and_flag',
    escalate: true,
    revokeCapPercent: '10',
    rubberStampSeconds: '5',
    scheduleKind: 'quarterly',
    cron: '',
    timezone: '',
    everyHours: '24',
  };
}

export function formFromDefinition(d: CampaignDefinitionView): DefinitionForm {
  const groups = d.scope.find((p): p is Extract<ScopePart, { kind: 'groups' }> => p.kind === 'groups');
  const schedule = d.schedule;
  return {
    name: d.name,
    description: d.description ?? '',
    scope: SCOPE_KINDS.filter((kind) => d.scope.some((p) => p.kind === kind)),
    groupIds: groups ? [...groups.groupIds] : [],
    people: d.reviewers.people,
    nonHuman: d.reviewers.nonHuman,
    reviewerIds: [...d.reviewers.reviewerIds],
    fallbackReviewerId: d.reviewers.fallbackReviewerId,
    durationHours: String(d.durationHours),
    remindEveryHours: String(d.remindEveryHours),
    escalateAfterHours: String(d.escalateAfterHours),
    noResponseAction: d.noResponse.action,
    escalate: d.noResponse.escalate,
    revokeCapPercent: String(d.noResponse.revokeCapPercent),
    rubberStampSeconds: String(d.rubberStampSeconds),
    scheduleKind: schedule ? schedule.kind : 'none',
    cron: schedule?.kind === 'cron' ? schedule.cron : '',
    timezone: schedule?.kind === 'cron' ? (schedule.timezone ?? '') : '',
    everyHours: schedule?.kind === 'interval' ? String(schedule.everyHours) : '24',
  };
}

/** A typed number, or NaN when the field is empty or not a number (the schema then says so). */
const num = (text: string): number => (text.trim() === '' ? Number.NaN : Number(text));

/**
 * The cap field shows only under "revoke"; otherwise its stored value is kept as it is (a later
 * switch to revoke finds it again), and a hidden unreadable value falls back to the default.
 */
function capOf(f: DefinitionForm): number {
  const cap = num(f.revokeCapPercent);
  if (f.noResponseAction === 'revoke') return cap;
  return Number.isInteger(cap) && cap >= 0 && cap <= 100 ? cap : 10;
}

/** The body PUT/POST sends: only what the form's choices make meaningful. */
export function bodyFromForm(f: DefinitionForm): CampaignDefinitionBody {
  const scope: ScopePart[] = SCOPE_KINDS.filter((kind) => f.scope.includes(kind)).map((kind) =>
    kind === 'groups' ? { kind, groupIds: f.groupIds } : { kind },
  );
  const named = f.people === 'named' || f.nonHuman === 'named';
  const schedule =
    f.scheduleKind === 'none'
      ? null
      : f.scheduleKind === 'cron'
        ? { kind: 'cron' as const, cron: f.cron.trim(), ...(f.timezone.trim() ? { timezone: f.timezone.trim() } : {}) }
        : f.scheduleKind === 'interval'
          ? { kind: 'interval' as const, everyHours: num(f.everyHours) }
          : { kind: f.scheduleKind };
  return {
    name: f.name.trim(),
    ...(f.description.trim() ? { description: f.description.trim() } : {}),
    scope,
    reviewers: { people: f.people, nonHuman: f.nonHuman, reviewerIds: named ? f.reviewerIds : [], fallbackReviewerId: f.fallbackReviewerId },
    durationHours: num(f.durationHours),
    remindEveryHours: num(f.remindEveryHours),
    escalateAfterHours: num(f.escalateAfterHours),
    noResponse: { action: f.noResponseAction, escalate: f.escalate, revokeCapPercent: capOf(f) },
    rubberStampSeconds: num(f.rubberStampSeconds),
    schedule,
  };
}

/** The form field an issue's path names (zod's array or the API's dotted path), or null for the whole form. */
export function fieldOfIssue(path: readonly (string | number)[]): FormField | null {
  const [a, b, c] = path.map(String);
  switch (a) {
    case 'name':
    case 'description':
    case 'durationHours':
    case 'remindEveryHours':
    case 'escalateAfterHours':
    case 'rubberStampSeconds':
      return a;
    case 'scope':
      // scope.2.groupIds(.0) is about the chosen groups; anything else about the parts.
      return c === 'groupIds' ? 'groupIds' : 'scope';
    case 'reviewers':
      if (b === 'reviewerIds') return 'reviewerIds';
      if (b === 'fallbackReviewerId') return 'fallbackReviewerId';
      if (b === 'people' || b === 'nonHuman') return b;
      return 'reviewerIds';
    case 'noResponse':
      if (b === 'revokeCapPercent') return 'revokeCapPercent';
      if (b === 'escalate') return 'escalate';
      return 'noResponseAction';
    case 'schedule':
      if (b === 'cron') return 'cron';
      if (b === 'timezone') return 'timezone';
      if (b === 'everyHours') return 'everyHours';
      return 'scheduleKind';
    default:
      return null;
  }
}

/** zod's wording for the few issues a person meets, said for this form. */
function issueMessage(field: FormField | null, issue: { code?: string; message: string; received?: unknown; minimum?: unknown }): string {
  if (issue.code === 'invalid_type' && issue.received === 'nan') return 'Enter a whole number.';
  if (field === 'fallbackReviewerId' && (issue.code === 'invalid_string' || issue.code === 'invalid_type')) return 'Choose a fallback reviewer: they review what the rule finds nobody for.';
  if (field === 'groupIds' && issue.code === 'too_small') return 'Choose at least one group.';
  if (field === 'scope' && issue.code === 'too_small') return 'Choose at least one kind of access to review.';
  if (field === 'name' && issue.code === 'too_small') return 'Give the campaign a name.';
  if (field === 'cron' && issue.code === 'too_small') return 'Enter a five-field cron expression, e.g. 0 6 1 * *.';
  return issue.message;
}

export interface FormIssues {
  fields: Partial<Record<FormField, string>>;
  /** Issues no field shows. */
  other: string[];
}

/** Issues (zod's or the API's) keyed by the field that shows them; the first per field wins. */
export function issuesByField(issues: readonly { path?: readonly (string | number)[]; code?: string; message: string; received?: unknown }[]): FormIssues {
  const out: FormIssues = { fields: {}, other: [] };
  for (const issue of issues) {
    const field = fieldOfIssue(issue.path ?? []);
    const message = issueMessage(field, issue);
    if (field === null) out.other.push(message);
    else if (!out.fields[field]) out.fields[field] = message;
  }
  return out;
}

/** The form checked with the API's schema: the body to send, or the issues to show. */
export function checkForm(f: DefinitionForm): { ok: true; body: CampaignDefinitionBody } | { ok: false; issues: FormIssues } {
  const body = bodyFromForm(f);
  const parsed = CampaignDefinitionInput.safeParse(body);
  if (parsed.success) return { ok: true, body };
  return { ok: false, issues: issuesByField(parsed.error.issues.map((i) => ({ ...i, received: 'received' in i ? i.received : undefined }))) };
}
