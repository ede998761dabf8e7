import { useState } from 'react';
import { Link } from 'react-router';
import { ApprovalPolicy, CHANGE_KINDS, type ChangeKind, type ChangeRequestView, kindPolicy, type KindPolicy, PRIVILEGED_CHANGE_KINDS } from '../../../../core/approvals/schema.js';
import type { PortalRole } from '../../../../core/portal-auth/schema.js';
import { Banner, Button, CheckboxGroup, DataTable, Dialog, ErrorBanner, FormError, Page, Spinner, StatusBadge, TextField, type Column } from '../../components/index.js';
import { ChangeRequested, NeedsApproval } from '../../components/approval-notice.js';
import { portalRoles, roleLabels, useSession } from '../../app/session.js';
import { useApprovalPolicy } from '../../lib/approvals.js';
import { useSubmitPolicy } from './api.js';
import { kindLabels } from './words.js';
import './approvals.css';

interface Row {
  kind: ChangeKind;
  rule: KindPolicy;
  custom: boolean;
}

const hours = (h: number): string => (h % 24 === 0 ? `${h / 24} ${h === 24 ? 'day' : 'days'}` : `${h} h`);

/**
 * Settings › Approval policy: per change kind, how many approvers, who is eligible, deadlines and
 * the cooling-off period. Saving submits an `approval_policy.set` request, decided under the
 * policy in force (it needs approvers itself).
 */
export default function ApprovalPolicyPage() {
  const { user } = useSession();
  const canChange = user.roles.includes('admin');
  const policy = useApprovalPolicy();
  const [editing, setEditing] = useState<Row | null>(null);
  const [submitted, setSubmitted] = useState<ChangeRequestView | null>(null);
  const [applied, setApplied] = useState(false);
  const rows: Row[] | undefined = policy.data && CHANGE_KINDS.map((kind) => ({ kind, rule: policy.data.effective[kind] ?? kindPolicy(policy.data.policy, kind), custom: kind in policy.data.policy.kinds }));

  const columns: Column<Row>[] = [
    {
      key: 'kind',
      header: 'Change',
      render: (r) => (
        <>
          {kindLabels[r.kind]}
          {PRIVILEGED_CHANGE_KINDS.includes(r.kind) && (
            <>
              {' '}
              <StatusBadge status="privileged" tone="warning" />
            </>
          )}
          <div className="muted small">
            <code>{r.kind}</code>
            {r.custom ? '' : ' · default'}
          </div>
        </>
      ),
    },
    { key: 'approvals', header: 'Approvers', className: 'num', render: (r) => (r.rule.approvals === 0 ? 'none: applies at once' : r.rule.approvals) },
    { key: 'eligible', header: 'Who may approve', render: (r) => [...r.rule.eligibleRoles.map((role) => roleLabels[role].label), ...(r.rule.eligibleUserIds.length ? [`${r.rule.eligibleUserIds.length} named`] : [])].join(', ') },
    { key: 'expires', header: 'Expires after', className: 'nowrap hide-narrow', render: (r) => hours(r.rule.expiresAfterHours) },
    { key: 'escalate', header: 'Escalates after', className: 'nowrap hide-narrow', render: (r) => hours(r.rule.escalateAfterHours) },
    { key: 'cooling', header: 'Cooling-off', className: 'nowrap', render: (r) => (r.rule.coolingOffHours === null ? 'none: waits for approvers' : hours(r.rule.coolingOffHours)) },
    ...(canChange
      ? [
          {
            key: 'edit',
            header: <span className="visually-hidden">Actions</span>,
            render: (r: Row) => (
              <Button size="small" onClick={() => setEditing(r)} aria-label={`Edit the rule for ${kindLabels[r.kind]}`}>
                Edit
              </Button>
            ),
          },
        ]
      : []),
  ];

  return (
    <Page
      title="Approval policy"
      breadcrumb={<Link to="/settings">Settings</Link>}
      description="Which changes need approval, by how many people and by whom. The requester and the person a change is about never approve it. Where too few approvers exist, a cooling-off period applies the change later unless someone cancels it."
    >
      <ErrorBanner error={policy.error} title="The approval policy could not be loaded" onRetry={() => void policy.refetch()} />
      {!rows && !policy.error && <Spinner label="Loading the approval policy…" />}
      {submitted && <ChangeRequested request={submitted} title="Policy change sent for approval" />}
      {applied && <Banner tone="success" title="Policy changed">The new rule applies to requests made from now on.</Banner>}
      {canChange ? (
        <p className="muted">Changing the policy is itself a change that needs approval under the rule for “{kindLabels['approval_policy.set']}”.</p>
      ) : (
        <Banner title="Read only">Only admins can request a change to the approval policy.</Banner>
      )}
      {rows && <DataTable caption="Approval rule per kind of change" columns={columns} rows={rows} rowKey={(r) => r.kind} />}
      {editing && policy.data && (
        <EditRuleDialog
          row={editing}
          policy={policy.data.policy}
          onClose={() => setEditing(null)}
          onSubmitted={(request) => {
            setEditing(null);
            setSubmitted(request);
            setApplied(request === null);
          }}
        />
      )}
    </Page>
  );
}

type RuleForm = { approvals: string; eligibleRoles: PortalRole[]; expiresAfterHours: string; remindEveryHours: string; escalateAfterHours: string; coolingOffHours: string; reason: string };

function EditRuleDialog({ row, policy, onClose, onSubmitted }: { row: Row; policy: ApprovalPolicy; onClose: () => void; onSubmitted: (request: ChangeRequestView | null) => void }) {
  const submit = useSubmitPolicy();
  const [form, setForm] = useState<RuleForm>({
    approvals: String(row.rule.approvals),
    eligibleRoles: row.rule.eligibleRoles,
    expiresAfterHours: String(row.rule.expiresAfterHours),
    remindEveryHours: String(row.rule.remindEveryHours),
    escalateAfterHours: String(row.rule.escalateAfterHours),
    coolingOffHours: row.rule.coolingOffHours === null ? '' : String(row.rule.coolingOffHours),
    reason: '',
  });
  const [errors, setErrors] = useState<Partial<Record<keyof RuleForm, string>>>({});
  const [error, setError] = useState<unknown>(null);
  const set = <K extends keyof RuleForm>(key: K, value: RuleForm[K]) => setForm((f) => ({ ...f, [key]: value }));
  const num = (v: string): number => (v.trim() === '' ? Number.NaN : Number(v));

  const save = async () => {
    setError(null);
    const rule = {
      approvals: num(form.approvals),
      eligibleRoles: form.eligibleRoles,
      eligibleUserIds: row.rule.eligibleUserIds,
      expiresAfterHours: num(form.expiresAfterHours),
      remindEveryHours: num(form.remindEveryHours),
      escalateAfterHours: num(form.escalateAfterHours),
      coolingOffHours: form.coolingOffHours.trim() === '' ? null : num(form.coolingOffHours),
    };
    const parsed = ApprovalPolicy.safeParse({ kinds: { ...policy.kinds, [row.kind]: rule } });
    if (!parsed.success) {
      const next: Partial<Record<keyof RuleForm, string>> = {};
      for (const issue of parsed.error.issues) {
        const field = issue.path[2] as keyof RuleForm | undefined;
        const message = issue.code === 'invalid_type' && issue.received === 'nan' ? 'Enter a whole number.' : issue.message;
        if (field && !next[field]) next[field] = message;
      }
      setErrors(next);
      return;
    }
    setErrors({});
    try {
      const answer = await submit.mutateAsync({ policy: parsed.data, reason: form.reason.trim() });
      onSubmitted(answer.request.state === 'applied' ? null : answer.request);
    } catch (err) {
      setError(err);
    }
  };

  const privileged = PRIVILEGED_CHANGE_KINDS.includes(row.kind);
  return (
    <Dialog
      open
      onClose={onClose}
      title={`Rule for “${kindLabels[row.kind]}”`}
      wide
      footer={
        <>
          <Button onClick={onClose} disabled={submit.isPending}>
            Cancel
          </Button>
          <Button variant="primary" busy={submit.isPending} busyLabel="Submitting…" onClick={() => void save()}>
            Submit for approval
          </Button>
        </>
      }
    >
      <NeedsApproval kind="approval_policy.set" action="Changing the policy" />
      <form className="form" noValidate onSubmit={(e) => e.preventDefault()}>
        <TextField
          label="Approvers needed"
          type="number"
          min={privileged ? 1 : 0}
          max={5}
          hint={privileged ? 'A privileged change needs at least one approver.' : '0 applies the change at once (it is still recorded and audited).'}
          value={form.approvals}
          error={errors.approvals}
          onChange={(e) => set('approvals', e.target.value)}
        />
        <CheckboxGroup
          legend="Who may approve"
          options={portalRoles.map((role) => ({ value: role, label: roleLabels[role].label }))}
          value={form.eligibleRoles}
          onChange={(v) => set('eligibleRoles', v as PortalRole[])}
          error={errors.eligibleRoles}
        />
        <TextField label="Expires after (hours)" type="number" min={1} value={form.expiresAfterHours} error={errors.expiresAfterHours} onChange={(e) => set('expiresAfterHours', e.target.value)} />
        <TextField label="Remind every (hours)" type="number" min={1} value={form.remindEveryHours} error={errors.remindEveryHours} onChange={(e) => set('remindEveryHours', e.target.value)} />
        <TextField label="Escalate to admins after (hours)" type="number" min={1} value={form.escalateAfterHours} error={errors.escalateAfterHours} onChange={(e) => set('escalateAfterHours', e.target.value)} />
        <TextField
          label="Cooling-off (hours)"
          type="number"
          min={1}
          hint="When fewer people can approve than needed: the change applies after this long unless someone cancels it. Leave empty to make such requests wait for approvers instead."
          value={form.coolingOffHours}
          error={errors.coolingOffHours}
          onChange={(e) => set('coolingOffHours', e.target.value)}
        />
        <TextField label="Reason (shown to approvers)" value={form.reason} onChange={(e) => set('reason', e.target.value)} maxLength={500} />
        <FormError error={error} />
      </form>
    </Dialog>
  );
}
