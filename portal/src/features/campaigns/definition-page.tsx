import { type FormEvent, type ReactNode, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import type { CampaignDefinitionView } from '../../../../core/campaigns/schema.js';
import { Banner, Button, ErrorBanner, Field, FormError, Page, Section, Spinner, StatusBadge, TextField, useToast } from '../../components/index.js';
import { ApiError } from '../../lib/api.js';
import { formatDateTime } from '../../lib/format.js';
import { useDefinition, useSaveDefinition } from './api.js';
import { DefinitionActions } from './definition-actions.js';
import { checkForm, type DefinitionForm, emptyForm, type FormField, type FormIssues, formFromDefinition, issuesByField, SCOPE_KINDS, type ScheduleKind } from './definition-form.js';
import { GroupPicker, ReviewerChecklist, ReviewerSearch, ReviewerSelect, useReviewerDirectory } from './pickers.js';
import { campaignPath, homePath } from './paths.js';
import { useAccessRoles } from './roles.js';
import { definitionStatus, describeSchedule, describeScope, hoursText, scopeLabels } from './words.js';

/** /access-reviews/definitions/new and /:id: the form (admin, reviewer) or the definition read-only (auditor). */
export function DefinitionPage() {
  const { id } = useParams();
  const { manage } = useAccessRoles();
  const definition = useDefinition(id);
  const navigate = useNavigate();
  const breadcrumb = <Link to={homePath('definitions')}>Access reviews › Definitions</Link>;
  if (id && !definition.data) {
    return (
      <Page title="Campaign definition" breadcrumb={breadcrumb}>
        <ErrorBanner error={definition.error} title="The definition could not be loaded" onRetry={() => void definition.refetch()} />
        {!definition.error && <Spinner label="Loading the definition…" />}
      </Page>
    );
  }
  const d = definition.data;
  if (!manage) {
    if (!d) return <Page title="Campaign definition" breadcrumb={breadcrumb}><Banner title="Read only">Only admins and reviewers define campaigns.</Banner></Page>;
    return <ReadOnlyDefinition definition={d} breadcrumb={breadcrumb} />;
  }
  return (
    <Page
      title={d ? d.name : 'New campaign definition'}
      breadcrumb={breadcrumb}
      description={d ? `Revision ${d.revision}, changed ${formatDateTime(d.updatedAt)}. Changes apply to the next run; a running campaign keeps the settings it started with.` : 'What access is reviewed, who reviews it, for how long, what happens when nobody answers, and how often it runs.'}
      actions={d && <DefinitionActions definition={d} size="normal" onDeleted={() => void navigate(homePath('definitions'))} />}
    >
      {d?.openCampaignId && (
        <Banner title="A run is open">
          <Link to={campaignPath(d.openCampaignId, 'progress')}>Open the running campaign</Link>
        </Banner>
      )}
      <DefinitionEditor key={d ? `${d.id}:${d.revision}` : 'new'} definition={d} />
    </Page>
  );
}

function ReadOnlyDefinition({ definition: d, breadcrumb }: { definition: CampaignDefinitionView; breadcrumb: ReactNode }) {
  const status = definitionStatus(d);
  const r = d.reviewers;
  // The pickers (names of portal users and groups) are for those who define campaigns: an auditor
  // reads how many, not who (the campaigns themselves name every reviewer).
  const named = `${r.reviewerIds.length} named ${r.reviewerIds.length === 1 ? 'reviewer' : 'reviewers'}`;
  return (
    <Page title={d.name} breadcrumb={breadcrumb} description={d.description}>
      <Banner title="Read only">Only admins and reviewers change or launch campaigns.</Banner>
      <dl className="facts" data-testid="definition-facts">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={status.label} tone={status.tone} />
        </dd>
        <dt>Reviews</dt>
        <dd>{describeScope(d.scope)}</dd>
        {d.scope.some((p) => p.kind !== 'service_accounts') && (
          <>
            <dt>People’s access</dt>
            <dd>{r.people === 'manager' ? 'Reviewed by their manager' : `Reviewed by ${named}`}</dd>
          </>
        )}
        {d.scope.some((p) => p.kind === 'service_accounts') && (
          <>
            <dt>Non-human identities</dt>
            <dd>{r.nonHuman === 'owner' ? 'Reviewed by their owner' : `Reviewed by ${named}`}</dd>
          </>
        )}
        <dt>Fallback reviewer</dt>
        <dd>One chosen portal user</dd>
        <dt>Runs for</dt>
        <dd>{hoursText(d.durationHours)}, reminders every {hoursText(d.remindEveryHours)}</dd>
        <dt>No response</dt>
        <dd>
          {d.noResponse.escalate ? `Escalates to the fallback reviewer after ${hoursText(d.escalateAfterHours)}; then ` : ''}
          {d.noResponse.action === 'revoke' ? `revoked (at most ${d.noResponse.revokeCapPercent}% of items without an admin’s confirmation)` : 'kept and flagged'}
        </dd>
        <dt>Rubber-stamp threshold</dt>
        <dd>{d.rubberStampSeconds} s per decision</dd>
        <dt>Schedule</dt>
        <dd>{describeSchedule(d.schedule)}</dd>
      </dl>
    </Page>
  );
}

const SCHEDULE_OPTIONS: { value: ScheduleKind; label: string }[] = [
  { value: 'none', label: 'On demand only' },
  { value: 'monthly', label: 'Monthly (the 1st, 00:00 UTC)' },
  { value: 'quarterly', label: 'Quarterly (1 Jan, Apr, Jul, Oct, 00:00 UTC)' },
  { value: 'cron', label: 'Cron expression' },
  { value: 'interval', label: 'Every N hours' },
];

function Radios<T extends string>({ legend, name, value, options, onChange, error }: { legend: string; name: string; value: T; options: { value: T; label: string; description?: string }[]; onChange: (v: T) => void; error?: string | undefined }) {
  return (
    <fieldset className={error ? 'field fieldset field-invalid' : 'field fieldset'}>
      <legend className="field-label">{legend}</legend>
      {options.map((o) => (
        <label key={o.value} className="checkbox">
          <input type="radio" name={name} value={o.value} checked={value === o.value} onChange={() => onChange(o.value)} />
          <span>
            {o.label}
            {o.description && <span className="checkbox-description">{o.description}</span>}
          </span>
        </label>
      ))}
      {error && <div className="field-error">{error}</div>}
    </fieldset>
  );
}

const hoursHint = (text: string, extra: string): string => {
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? `${extra} (${hoursText(n)})` : extra;
};

function DefinitionEditor({ definition }: { definition: CampaignDefinitionView | undefined }) {
  const navigate = useNavigate();
  const toast = useToast();
  const save = useSaveDefinition();
  const directory = useReviewerDirectory();
  const [form, setForm] = useState<DefinitionForm>(() => (definition ? formFromDefinition(definition) : emptyForm()));
  const [issues, setIssues] = useState<FormIssues>({ fields: {}, other: [] });
  const [error, setError] = useState<unknown>(null);
  const set = <K extends FormField>(key: K, value: DefinitionForm[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    setIssues((i) => (i.fields[key] ? { ...i, fields: { ...i.fields, [key]: undefined } } : i));
  };
  const e = issues.fields;

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setError(null);
    const formEl = event.currentTarget;
    const checked = checkForm(form);
    if (!checked.ok) {
      setIssues(checked.issues);
      requestAnimationFrame(() => formEl.querySelector<HTMLElement>('[aria-invalid="true"], .field-invalid input')?.focus());
      return;
    }
    setIssues({ fields: {}, other: [] });
    try {
      const saved = await save.mutateAsync({ id: definition?.id, body: checked.body });
      toast(definition ? `“${saved.name}” saved` : `“${saved.name}” created`);
      void navigate(homePath('definitions'));
    } catch (err) {
      if (err instanceof ApiError && err.issues.length > 0) {
        const found = issuesByField(err.issues);
        setIssues(found);
        if (found.other.length > 0 || Object.keys(found.fields).length === 0) setError(err);
        requestAnimationFrame(() => formEl.querySelector<HTMLElement>('[aria-invalid="true"], .field-invalid input')?.focus());
      } else {
        setError(err);
      }
    }
  };

  const named = form.people === 'named' || form.nonHuman === 'named';
  const peopleInScope = form.scope.some((k) => k !== 'service_accounts');
  return (
    <form className="form definition-form" noValidate onSubmit={(ev) => void submit(ev)} aria-label="Campaign definition">
      <Section title="What is reviewed">
        <TextField label="Name" required value={form.name} error={e.name} maxLength={200} onChange={(ev) => set('name', ev.target.value)} />
        <Field label="Description" hint="Shown to reviewers with their items: why this review runs." error={e.description}>
          {(props) => <textarea className="input" rows={2} maxLength={2000} value={form.description} onChange={(ev) => set('description', ev.target.value)} {...props} />}
        </Field>
        <fieldset className={e.scope ? 'field fieldset field-invalid' : 'field fieldset'}>
          <legend className="field-label">Access in scope</legend>
          {SCOPE_KINDS.map((kind) => (
            <label key={kind} className="checkbox">
              <input type="checkbox" checked={form.scope.includes(kind)} onChange={(ev) => set('scope', ev.target.checked ? [...form.scope, kind] : form.scope.filter((k) => k !== kind))} />
              <span>
                {scopeLabels[kind].label}
                <span className="checkbox-description">{scopeLabels[kind].description}</span>
              </span>
            </label>
          ))}
          {e.scope && <div className="field-error">{e.scope}</div>}
        </fieldset>
        {form.scope.includes('groups') && <GroupPicker value={form.groupIds} onChange={(ids) => set('groupIds', ids)} error={e.groupIds} />}
      </Section>

      <Section title="Who reviews">
        <p className="muted">Nobody reviews their own access: such items go to the fallback reviewer.</p>
        {peopleInScope && (
          <Radios
            legend="People’s access"
            name="people"
            value={form.people}
            error={e.people}
            onChange={(v) => set('people', v)}
            options={[
              { value: 'manager', label: 'Their manager', description: 'The manager in your directory’s enterprise extension, signed in to the portal with that e-mail.' },
              { value: 'named', label: 'Named reviewers', description: 'Spread over the people you choose below.' },
            ]}
          />
        )}
        {form.scope.includes('service_accounts') && (
          <Radios
            legend="Non-human identities"
            name="nonHuman"
            value={form.nonHuman}
            error={e.nonHuman}
            onChange={(v) => set('nonHuman', v)}
            options={[
              { value: 'owner', label: 'Their owner', description: 'The person who owns the service account.' },
              { value: 'named', label: 'Named reviewers' },
            ]}
          />
        )}
        <ReviewerSearch directory={directory} />
        {named && <ReviewerChecklist directory={directory} legend="Named reviewers" hint="Each subject always goes to the same one of them." value={form.reviewerIds} onChange={(ids) => set('reviewerIds', ids)} error={e.reviewerIds} />}
        <ReviewerSelect
          directory={directory}
          label="Fallback reviewer"
          hint="Reviews what the rule finds nobody for, and what nobody answered once it escalates."
          value={form.fallbackReviewerId}
          onChange={(v) => set('fallbackReviewerId', v)}
          error={e.fallbackReviewerId}
        />
      </Section>

      <Section title="Timing">
        <div className="form-row">
          <TextField label="Duration (hours)" type="number" min={1} hint={hoursHint(form.durationHours, 'From launch to the deadline')} value={form.durationHours} error={e.durationHours} onChange={(ev) => set('durationHours', ev.target.value)} />
          <TextField label="Remind every (hours)" type="number" min={1} hint={hoursHint(form.remindEveryHours, 'Reviewers with items left')} value={form.remindEveryHours} error={e.remindEveryHours} onChange={(ev) => set('remindEveryHours', ev.target.value)} />
          <TextField label="Escalate after (hours)" type="number" min={1} hint={hoursHint(form.escalateAfterHours, 'Undecided items move to the fallback reviewer')} value={form.escalateAfterHours} error={e.escalateAfterHours} onChange={(ev) => set('escalateAfterHours', ev.target.value)} />
        </div>
      </Section>

      <Section title="When nobody answers">
        <label className="checkbox">
          <input type="checkbox" checked={form.escalate} onChange={(ev) => set('escalate', ev.target.checked)} />
          <span>
            Escalate undecided items to the fallback reviewer
            <span className="checkbox-description">After the escalation time above, before the deadline.</span>
          </span>
        </label>
        <Radios
          legend="At the deadline, access nobody decided is"
          name="noResponseAction"
          value={form.noResponseAction}
          error={e.noResponseAction}
          onChange={(v) => set('noResponseAction', v)}
          options={[
            { value: 'keep_and_flag', label: 'Kept and flagged (recommended)', description: 'Nobody loses access because a reviewer was away; the evidence lists every flagged item.' },
            { value: 'revoke', label: 'Revoked', description: 'Up to the cap below; past it, the revokes wait for an admin to confirm them.' },
          ]}
        />
        {form.noResponseAction === 'revoke' && (
          <TextField
            label="Revoke at most (% of all items) without confirmation"
            type="number"
            min={0}
            max={100}
            hint="Keeps “remove on no response” from wiping out everyone’s access."
            value={form.revokeCapPercent}
            error={e.revokeCapPercent}
            onChange={(ev) => set('revokeCapPercent', ev.target.value)}
          />
        )}
      </Section>

      <Section title="Against rubber-stamping">
        <TextField
          label="Flag reviewers faster than (seconds per decision)"
          type="number"
          min={0}
          max={600}
          hint="A reviewer who keeps everything with a median time per decision under this is flagged to the security team and in the evidence. 0 turns it off."
          value={form.rubberStampSeconds}
          error={e.rubberStampSeconds}
          onChange={(ev) => set('rubberStampSeconds', ev.target.value)}
        />
      </Section>

      <Section title="Schedule">
        <Field label="Runs" error={e.scheduleKind}>
          {(props) => (
            <select className="input" value={form.scheduleKind} onChange={(ev) => set('scheduleKind', ev.target.value as ScheduleKind)} {...props}>
              {SCHEDULE_OPTIONS.map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))}
            </select>
          )}
        </Field>
        {form.scheduleKind === 'cron' && (
          <div className="form-row">
            <TextField label="Cron expression" hint="Five fields: minute hour day-of-month month day-of-week, e.g. 0 6 1 * *" value={form.cron} error={e.cron} spellCheck={false} onChange={(ev) => set('cron', ev.target.value)} className="input code-input" />
            <TextField label="Time zone" hint="IANA name, e.g. Europe/Berlin. Empty: UTC." value={form.timezone} error={e.timezone} spellCheck={false} onChange={(ev) => set('timezone', ev.target.value)} />
          </div>
        )}
        {form.scheduleKind === 'interval' && (
          <TextField label="Every (hours)" type="number" min={1} hint={hoursHint(form.everyHours, 'Counted from 1 Jan 1970 00:00 UTC')} value={form.everyHours} error={e.everyHours} onChange={(ev) => set('everyHours', ev.target.value)} />
        )}
        {form.scheduleKind !== 'none' && <p className="muted small">A run is skipped while the previous one is still open. Pause the definition to stop its schedule for a while.</p>}
      </Section>

      {issues.other.length > 0 && (
        <div className="form-error" role="alert">
          {issues.other.join(' ')}
        </div>
      )}
      <FormError error={error} />
      <div className="form-actions">
        <Button type="submit" variant="primary" busy={save.isPending} busyLabel="Saving…">
          {definition ? 'Save changes' : 'Create definition'}
        </Button>
        <Link to={homePath('definitions')} className="btn btn-secondary">
          Cancel
        </Link>
      </div>
    </form>
  );
}
