import { describe, expect, it } from 'vitest';
import { CampaignDefinitionInput, type CampaignDefinitionView, type CampaignItemView, DecideItemsBody } from '../../core/campaigns/schema.js';
import { bodyFromForm, checkForm, emptyForm, fieldOfIssue, formFromDefinition, issuesByField } from '../../portal/src/features/campaigns/definition-form.js';
import { decisionBody, elapsedSince, headerState, MAX_ELAPSED_MS, planDecision, prune, summariseResult, toggle, toggleAll } from '../../portal/src/features/campaigns/selection.js';
import {
  definitionStatus,
  describeApplied,
  describeSchedule,
  describeScope,
  describeSources,
  formatDuration,
  hoursText,
  itemLabel,
  keepNeedsReason,
  lastUsedText,
  percent,
} from '../../portal/src/features/campaigns/words.js';

/** The access-review pages' pure parts: the definition form ↔ body, the wording, the worklist's selection and decisions. */

const FALLBACK = '3f1c2a8e-4b5d-4c6e-9f70-8a9b0c1d2e3f';
const NAMED = ['6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d', '7b8c9d0e-1f2a-4b3c-9d4e-5f6a7b8c9d0e'];
const GROUP = '8c9d0e1f-2a3b-4c4d-8e5f-6a7b8c9d0e1f';
const CAMPAIGN = '9d0e1f2a-3b4c-4d5e-9f6a-7b8c9d0e1f2a';

function view(input: CampaignDefinitionInput): CampaignDefinitionView {
  return { ...input, id: '0e1f2a3b-4c5d-4e6f-8a7b-8c9d0e1f2a3b', paused: false, revision: 3, createdAt: '2025-01-01T00:00:00Z', updatedAt: '2025-02-01T00:00:00Z', nextRunAt: null, openCampaignId: null };
}

function item(id: string, over: Partial<CampaignItemView> = {}): CampaignItemView {
  return {
    id,
    campaignId: CAMPAIGN,
    accessKind: 'role',
    access: 'admin',
    accessRef: 'admin',
    subject: { userId: NAMED[0]!, serviceAccountId: null, name: `user${id}@example.com`, displayName: `User ${id}` },
    sources: [{ kind: 'default' }],
    lastUsedAt: null,
    risk: 0,
    riskReasons: [],
    recommendation: 'keep',
    recommendationReason: 'Granted by a current source: keep it if it is still needed.',
    reviewerId: FALLBACK,
    reviewerName: 'Rita',
    assignedBy: 'named',
    escalated: false,
    drift: 'unchanged',
    decision: null,
    decisionReason: null,
    decidedAt: null,
    outcome: 'pending',
    applied: null,
    ...over,
  };
}

describe('the definition form', () => {
  it('round-trips every stored definition: definition → form → body parses to the same definition', () => {
    const definitions: CampaignDefinitionInput[] = [
      CampaignDefinitionInput.parse({ name: 'Quarterly privileged', scope: [{ kind: 'privileged_roles' }], reviewers: { fallbackReviewerId: FALLBACK }, schedule: { kind: 'quarterly' } }),
      CampaignDefinitionInput.parse({
        name: 'Payroll members',
        description: 'SOX scope',
        scope: [{ kind: 'groups', groupIds: [GROUP] }, { kind: 'service_accounts' }, { kind: 'oauth_grants' }],
        reviewers: { people: 'named', nonHuman: 'named', reviewerIds: NAMED, fallbackReviewerId: FALLBACK },
        durationHours: 48,
        remindEveryHours: 6,
        escalateAfterHours: 24,
        noResponse: { action: 'revoke', escalate: false, revokeCapPercent: 25 },
        rubberStampSeconds: 0,
        schedule: { kind: 'cron', cron: '0 6 1 * *', timezone: 'Europe/Berlin' },
      }),
      CampaignDefinitionInput.parse({ name: 'Every day', scope: [{ kind: 'all_roles' }], reviewers: { fallbackReviewerId: FALLBACK }, noResponse: { revokeCapPercent: 30 }, schedule: { kind: 'interval', everyHours: 24 } }),
      CampaignDefinitionInput.parse({ name: 'On demand', scope: [{ kind: 'all_roles' }], reviewers: { fallbackReviewerId: FALLBACK }, schedule: null }),
      CampaignDefinitionInput.parse({ name: 'Monthly UTC cron', scope: [{ kind: 'oauth_grants' }], reviewers: { fallbackReviewerId: FALLBACK }, schedule: { kind: 'cron', cron: '0 0 1 * *' } }),
    ];
    for (const d of definitions) {
      const body = bodyFromForm(formFromDefinition(view(d)));
      expect(CampaignDefinitionInput.parse(body)).toEqual(d);
    }
  });

  it('a new form holds the schema defaults and needs only a name and a fallback reviewer', () => {
    const form = emptyForm();
    const refused = checkForm(form);
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.issues.fields.name).toBe('Give the campaign a name.');
      expect(refused.issues.fields.fallbackReviewerId).toMatch(/^Choose a fallback reviewer/);
      expect(Object.keys(refused.issues.fields).sort()).toEqual(['fallbackReviewerId', 'name']);
    }
    const accepted = checkForm({ ...form, name: '  Quarterly  ', fallbackReviewerId: FALLBACK });
    expect(accepted.ok).toBe(true);
    if (accepted.ok) {
      const parsed = CampaignDefinitionInput.parse(accepted.body);
      const defaults = CampaignDefinitionInput.parse({ name: 'Quarterly', scope: [{ kind: 'privileged_roles' }], reviewers: { fallbackReviewerId: FALLBACK }, schedule: { kind: 'quarterly' } });
      expect(parsed).toEqual(defaults);
    }
  });

  it('sends only what the choices make meaningful: named reviewers only under a named rule, no empty timezone; a hidden cap is kept unless unreadable', () => {
    const base = { ...emptyForm(), name: 'x', fallbackReviewerId: FALLBACK, reviewerIds: NAMED, revokeCapPercent: '40', scheduleKind: 'cron' as const, cron: ' 0 6 * * 1 ', timezone: ' ' };
    const body = bodyFromForm(base);
    expect(body.reviewers.reviewerIds).toEqual([]);
    expect(body.noResponse?.revokeCapPercent).toBe(40);
    expect(bodyFromForm({ ...base, revokeCapPercent: 'abc' }).noResponse?.revokeCapPercent).toBe(10);
    expect(bodyFromForm({ ...base, noResponseAction: 'revoke', revokeCapPercent: 'abc' }).noResponse?.revokeCapPercent).toBeNaN();
    expect(body.schedule).toEqual({ kind: 'cron', cron: '0 6 * * 1' });
    const named = bodyFromForm({ ...base, nonHuman: 'named', noResponseAction: 'revoke', timezone: 'UTC' });
    expect(named.reviewers.reviewerIds).toEqual(NAMED);
    expect(named.noResponse).toEqual({ action: 'revoke', escalate: true, revokeCapPercent: 40 });
    expect(named.schedule).toEqual({ kind: 'cron', cron: '0 6 * * 1', timezone: 'UTC' });
    // The groups part carries the chosen groups, in the schema's order of parts.
    expect(bodyFromForm({ ...base, scope: ['oauth_grants', 'groups'], groupIds: [GROUP] }).scope).toEqual([{ kind: 'groups', groupIds: [GROUP] }, { kind: 'oauth_grants' }]);
  });

  it('shows each problem at its field: typed numbers, groups, cron; the same for the API’s dotted paths', () => {
    const form = { ...emptyForm(), name: 'x', fallbackReviewerId: FALLBACK, durationHours: '', escalateAfterHours: 'abc', scope: ['groups' as const], scheduleKind: 'cron' as const, cron: '' };
    const checked = checkForm(form);
    expect(checked.ok).toBe(false);
    if (!checked.ok) {
      expect(checked.issues.fields).toMatchObject({ durationHours: 'Enter a whole number.', escalateAfterHours: 'Enter a whole number.', groupIds: 'Choose at least one group.', cron: expect.stringMatching(/^Enter a five-field cron expression/) });
    }
    expect(checkForm({ ...emptyForm(), name: 'x', fallbackReviewerId: FALLBACK, scope: [] }).ok).toBe(false);
    // The API sends paths dotted; the client splits them into segments.
    const api = issuesByField([
      { path: ['schedule', 'cron'], message: 'not a valid cron expression' },
      { path: ['schedule', 'timezone'], message: 'unknown time zone' },
      { path: ['reviewers', 'reviewerIds', '1'], message: 'not an active portal user' },
      { path: ['scope', '0', 'groupIds', '0'], message: 'no such group' },
      { path: ['noResponse', 'revokeCapPercent'], message: 'too big' },
      { path: [], message: 'the definition was changed meanwhile' },
    ]);
    expect(api.fields).toEqual({ cron: 'not a valid cron expression', timezone: 'unknown time zone', reviewerIds: 'not an active portal user', groupIds: 'no such group', revokeCapPercent: 'too big' });
    expect(api.other).toEqual(['the definition was changed meanwhile']);
    expect([fieldOfIssue(['schedule']), fieldOfIssue(['scope']), fieldOfIssue(['rubberStampSeconds']), fieldOfIssue(['bogus'])]).toEqual(['scheduleKind', 'scope', 'rubberStampSeconds', null]);
  });
});

describe('the words reviewers read', () => {
  it('says why a person has a role: default, group mapping by name, direct grant by whom; non-human items: scopes and dates', () => {
    expect(describeSources(item('1', { sources: [{ kind: 'default' }, { kind: 'group', groupId: GROUP, groupName: 'Payroll' }, { kind: 'direct', grantedBy: 'ana@example.com' }] }))).toEqual([
      'Default role of every person',
      'Group mapping: Payroll',
      'Direct grant by ana@example.com',
    ]);
    expect(describeSources(item('2', { sources: [] }))).toEqual(['Nothing grants it any more']);
    const token = describeSources(item('3', { accessKind: 'token', sources: [{ scopes: ['read', 'write'], createdAt: '2025-01-02T03:04:05Z', name: 'ci' }] }));
    expect(token[0]).toBe('Scopes: read write');
    expect(token[1]).toMatch(/^Created /);
    // The engine stores a non-role item's source as one object; read it the same way.
    expect(describeSources({ accessKind: 'oauth_grant', sources: { scopes: [], clientId: 'zapier' } as unknown as unknown[] })).toEqual(['No scopes', 'Client: zapier']);
  });

  it('names items, last use, risks and what a keep needs', () => {
    expect(itemLabel(item('7'))).toBe('User 7: admin');
    expect(itemLabel(item('8', { subject: { userId: null, serviceAccountId: GROUP, name: 'ci-bot', displayName: null }, access: 'ci-bot' }))).toBe('ci-bot: ci-bot');
    expect(lastUsedText(item('1'), () => 'x')).toBe('not tracked for roles');
    expect(lastUsedText(item('1', { accessKind: 'token' }), () => 'x')).toBe('never used');
    expect(lastUsedText(item('1', { accessKind: 'token', lastUsedAt: '2025-01-01T00:00:00Z' }), (at) => `at ${at}`)).toBe('at 2025-01-01T00:00:00Z');
    expect(keepNeedsReason(item('1', { riskReasons: ['privileged_role'] }))).toBe(false);
    expect(keepNeedsReason(item('1', { riskReasons: ['unused_90_days'] }))).toBe(false);
    expect(keepNeedsReason(item('1', { riskReasons: ['privileged_role', 'unused_90_days'] }))).toBe(true);
  });

  it('describes schedules, scopes, standing, applied outcomes and durations', () => {
    expect(describeSchedule(null)).toBe('On demand only');
    expect(describeSchedule({ kind: 'quarterly' })).toBe('Quarterly: 1 Jan, Apr, Jul and Oct, 00:00 UTC');
    expect(describeSchedule({ kind: 'cron', cron: '0 6 1 * *' })).toBe('Cron 0 6 1 * * (UTC)');
    expect(describeSchedule({ kind: 'cron', cron: '0 6 1 * *', timezone: 'Europe/Berlin' })).toBe('Cron 0 6 1 * * (Europe/Berlin)');
    expect(describeSchedule({ kind: 'interval', everyHours: 48 })).toBe('Every 2 days');
    const scope = [{ kind: 'privileged_roles' as const }, { kind: 'groups' as const, groupIds: [GROUP, NAMED[0]!] }];
    expect(describeScope(scope)).toBe('Privileged roles only · Members of 2 groups');
    expect(describeScope(scope, (id) => (id === GROUP ? 'Payroll' : undefined))).toBe('Privileged roles only · Members of Payroll, a group no longer in the directory');
    expect(definitionStatus({ paused: true, schedule: { kind: 'monthly' }, nextRunAt: null, openCampaignId: CAMPAIGN }).label).toBe('Paused');
    expect(definitionStatus({ paused: false, schedule: { kind: 'monthly' }, nextRunAt: null, openCampaignId: CAMPAIGN }).label).toBe('Running');
    expect(definitionStatus({ paused: false, schedule: null, nextRunAt: null, openCampaignId: null }).label).toBe('On demand');
    expect(definitionStatus({ paused: false, schedule: { kind: 'monthly' }, nextRunAt: '2030-01-01T00:00:00Z', openCampaignId: null }).label).toMatch(/^Next run /);
    expect(describeApplied(null)).toBeNull();
    expect(describeApplied({ via: 'identity_stream', userId: NAMED[0]!, seq: 12 })).toBe('Removed through the person\'s lifecycle (event #12)');
    expect(describeApplied({ via: 'service_account_disabled', serviceAccountId: GROUP, tokensRevoked: 1 })).toBe('Service account disabled, 1 token revoked');
    expect([hoursText(1), hoursText(36), hoursText(24), hoursText(336)]).toEqual(['1 hour', '36 hours', '1 day', '14 days']);
    expect([formatDuration(null), formatDuration(4_240), formatDuration(42_000), formatDuration(65_000), formatDuration(7_200_000)]).toEqual(['—', '4.2 s', '42 s', '1 min 5 s', '2 h']);
    expect([percent(1, 3), percent(0, 0), percent(5, 5)]).toEqual([33, 0, 100]);
  });
});

describe('the worklist: selection and decisions', () => {
  const rows = [item('1'), item('2'), item('3', { outcome: 'kept', decision: 'keep' }), item('4')];

  it('selects pending rows only; select-all is checked, mixed or empty over the rows shown', () => {
    let sel: ReadonlySet<string> = new Set();
    expect(headerState(sel, rows)).toBe('none');
    sel = toggle(sel, '1');
    expect(headerState(sel, rows)).toBe('some');
    sel = toggleAll(sel, rows);
    expect([...sel].sort()).toEqual(['1', '2', '4']);
    expect(headerState(sel, rows)).toBe('all');
    sel = toggleAll(sel, rows);
    expect([...sel]).toEqual([]);
    // A refresh drops what is no longer shown or no longer pending.
    expect([...prune(new Set(['1', '3', '9']), rows)]).toEqual(['1']);
    expect(headerState(new Set(), [item('5', { outcome: 'revoked' })])).toBe('none');
  });

  it('a revoke always needs a reason; a keep only for unused privileged access; changed access must be acknowledged first', () => {
    const plain = item('1');
    const unused = item('2', { riskReasons: ['privileged_role', 'unused_90_days'] });
    const changed = item('4', { drift: 'changed' });
    expect(planDecision('keep', [plain], new Set())).toEqual({ reasonRequired: false, unusedPrivileged: [], unacknowledged: [] });
    expect(planDecision('revoke', [plain], new Set())).toEqual({ reasonRequired: true, unusedPrivileged: [], unacknowledged: [] });
    expect(planDecision('keep', [plain, unused], new Set())).toEqual({ reasonRequired: true, unusedPrivileged: ['User 2: admin'], unacknowledged: [] });
    expect(planDecision('keep', [plain, changed], new Set()).unacknowledged).toEqual(['User 4: admin']);
    expect(planDecision('keep', [plain, changed], new Set(['4'])).unacknowledged).toEqual([]);
  });

  it('builds the body the API accepts: trimmed reason, acknowledgement only when every changed item was seen, time on the page', () => {
    const changed = item('4', { drift: 'changed' });
    const body = decisionBody('revoke', [item('1'), changed], '  left the team ', new Set(['4']), 12_345);
    expect(body).toEqual({ itemIds: ['1', '4'], decision: 'revoke', reason: 'left the team', acknowledgeChanges: true, elapsedMs: 12_345 });
    expect(DecideItemsBody.safeParse(body).success).toBe(true);
    expect(decisionBody('keep', [item('1'), changed], '', new Set(), 0).acknowledgeChanges).toBe(false);
    expect(decisionBody('keep', [item('1')], '', new Set(), 0)).toEqual({ itemIds: ['1'], decision: 'keep', acknowledgeChanges: false, elapsedMs: 0 });
    expect(DecideItemsBody.safeParse(decisionBody('revoke', [item('1')], '   ', new Set(), 0)).success).toBe(false);
    expect([elapsedSince(1_000, 4_500), elapsedSince(5_000, 4_000), elapsedSince(0, 10 * MAX_ELAPSED_MS)]).toEqual([3_500, 0, MAX_ELAPSED_MS]);
  });

  it('reads a bulk answer: how many were decided, which item was refused and why', () => {
    const items = [item('1'), item('2'), item('3'), item('4')];
    const all = summariseResult('keep', { decided: 4, refused: 0, results: items.map((i) => ({ itemId: i.id, result: 'decided' as const, outcome: 'kept' as const })) }, items);
    expect(all).toEqual({ tone: 'success', headline: 'Kept 4 items.', refusals: [], gone: 0 });
    const mixed = summariseResult(
      'revoke',
      {
        decided: 1,
        refused: 2,
        results: [
          { itemId: '1', result: 'decided', outcome: 'revoked' },
          { itemId: '2', result: 'refused', code: 'not_your_item' },
          { itemId: '3', result: 'refused', code: 'access_changed' },
          { itemId: '4', result: 'gone', outcome: 'gone' },
        ],
      },
      items,
    );
    expect(mixed.tone).toBe('warning');
    expect(mixed.headline).toBe('Revoked 1 item. 1 item had already lost the access and closed itself. 2 items were not decided:');
    expect(mixed.refusals).toEqual([
      { itemId: '2', code: 'not_your_item', text: 'User 2: admin: not decided, it is assigned to someone else now.' },
      { itemId: '3', code: 'access_changed', text: 'User 3: admin: not decided, the access changed since the snapshot: look at it again and acknowledge the change.' },
    ]);
    expect(summariseResult('keep', { decided: 0, refused: 0, results: [] }, []).headline).toBe('Nothing was decided.');
  });
});
