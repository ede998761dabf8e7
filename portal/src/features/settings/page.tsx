import { useEffect, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { EVENT_TYPES, type EventType } from '../../../../core/events/schema.js';
import { UpdateTenantSettingsBody, type HeldLeaver, type TenantSettings } from '../../../../core/tenants/schema.js';
import type { WebhookEndpointView, WebhookWithSecret } from '../../../../core/webhooks/schema.js';
import type { ChangeRequestView } from '../../../../core/approvals/schema.js';
import type { ReleaseResult } from '../../../../core/tenants/schema.js';
import {
  Banner,
  Button,
  CheckboxGroup,
  ConfirmDialog,
  DataTable,
  Dialog,
  EmptyState,
  ErrorBanner,
  FormError,
  Page,
  Section,
  SecretReveal,
  SelectField,
  Spinner,
  TextField,
  useToast,
  type Column,
} from '../../components/index.js';
import { ChangeRequested, NeedsApproval } from '../../components/approval-notice.js';
import { useSession } from '../../app/session.js';
import { waitingRequest } from '../../lib/approvals.js';
import { formatDateTime, formatRelative } from '../../lib/format.js';
import './settings.css';
import { WebhookDeliveriesDialog } from './webhook-deliveries.js';
import { useCreateWebhook, useDeleteWebhook, useHeldLeavers, useReleaseHeld, useRotateWebhook, useTenantSettings, useUpdateSettings, useWebhooks } from './api.js';

const DAY = 86_400;

/** Settings: deletion grace period, the mass-deprovisioning guard, held leavers and webhook endpoints. */
export default function SettingsPage() {
  const { user } = useSession();
  const canChange = user.roles.includes('admin');
  const settings = useTenantSettings();
  return (
    <Page title="Settings" description="How Roster treats leavers in your organisation, and where it sends events.">
      <ErrorBanner error={settings.error} title="The settings could not be loaded" onRetry={() => void settings.refetch()} />
      {!settings.data && !settings.error && <Spinner label="Loading settings…" />}
      {settings.data && (
        <>
          <GraceSection settings={settings.data} canChange={canChange} />
          <GuardSection settings={settings.data} canChange={canChange} />
        </>
      )}
      <HeldLeaversSection canChange={canChange} />
      <WebhooksSection canChange={canChange} />
      <Section title="Members">
        <p>
          People who can sign in to this portal, and their roles, are managed on the {canChange ? <Link to="/members">Members page</Link> : 'Members page (admins only)'}.
        </p>
      </Section>
      <Section title="Approval policy">
        <p>
          Which changes need approval, by how many people and by whom: see the <Link to="/settings/approval-policy">approval policy</Link>.
        </p>
      </Section>
    </Page>
  );
}

/** Runs a settings change: field errors from the schema first, then from the API. */
function useSettingsForm<T extends Record<string, string>>(initial: T, toBody: (values: T) => unknown) {
  const update = useUpdateSettings();
  const toast = useToast();
  const [values, setValues] = useState(initial);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<unknown>(null);
  const key = JSON.stringify(initial);
  // Show the saved values again whenever the server's settings change (after a save or a refetch).
  useEffect(() => setValues(initial), [key]);
  const submit = (fields: Record<string, string>) => async (event: FormEvent) => {
    event.preventDefault();
    setFormError(null);
    const parsed = UpdateTenantSettingsBody.safeParse(toBody(values));
    if (!parsed.success) {
      const next: Record<string, string> = {};
      for (const issue of parsed.error.issues) {
        const field = fields[issue.path.join('.')];
        if (field) next[field] = issue.message;
        else setFormError(new Error(issue.message));
      }
      setErrors(next);
      return;
    }
    setErrors({});
    try {
      await update.mutateAsync(parsed.data);
      toast('Settings saved', 'success');
    } catch (err) {
      setFormError(err);
    }
  };
  const text = (name: keyof T & string) => ({ name, value: values[name], error: errors[name], onChange: (e: { target: { value: string } }) => setValues((v) => ({ ...v, [name]: e.target.value })) });
  return { text, submit, busy: update.isPending, formError };
}

const num = (text: string) => (text.trim() === '' ? Number.NaN : Number(text));

function GraceSection({ settings, canChange }: { settings: TenantSettings; canChange: boolean }) {
  const form = useSettingsForm({ graceDays: String(settings.deletionGraceSeconds / DAY) }, (v) => ({ deletionGraceSeconds: Math.round(num(v.graceDays) * DAY) }));
  return (
    <Section title="Deletion grace period">
      <p>
        When your identity provider deletes a person, Roster suspends them at once and removes their personal data after this period. Reactivating them inside it cancels the deletion. A change
        applies to deletions scheduled after it.
      </p>
      <form className="form" noValidate onSubmit={(e) => void form.submit({ deletionGraceSeconds: 'graceDays' })(e)}>
        <TextField label="Grace period (days)" type="number" min={0} max={365} step="any" inputMode="decimal" disabled={!canChange} {...form.text('graceDays')} />
        <FormError error={form.formError} />
        {canChange && (
          <div className="form-actions">
            <Button type="submit" variant="primary" busy={form.busy} busyLabel="Saving…">
              Save grace period
            </Button>
          </div>
        )}
      </form>
    </Section>
  );
}

function GuardSection({ settings, canChange }: { settings: TenantSettings; canChange: boolean }) {
  const g = settings.guard;
  const form = useSettingsForm(
    { maxSuspensions: String(g.maxSuspensions), maxSharePercent: String(Math.round(g.maxShare * 10_000) / 100), windowMinutes: String(g.windowSeconds / 60) },
    (v) => ({ guard: { maxSuspensions: num(v.maxSuspensions), maxShare: num(v.maxSharePercent) / 100, windowSeconds: Math.round(num(v.windowMinutes) * 60) } }),
  );
  return (
    <Section title="Mass-deprovisioning guard">
      <p>
        A misconfigured identity provider can deactivate everyone at once. When more leavers than these limits arrive within the window, Roster suspends them but holds back revoking their access until
        an admin releases them below.
      </p>
      <form className="form" noValidate onSubmit={(e) => void form.submit({ 'guard.maxSuspensions': 'maxSuspensions', 'guard.maxShare': 'maxSharePercent', 'guard.windowSeconds': 'windowMinutes' })(e)}>
        <div className="field-row">
          <TextField label="Leavers per window" hint="More than this many holds the rest." type="number" min={0} step={1} disabled={!canChange} {...form.text('maxSuspensions')} />
          <TextField label="Share of people per window (%)" hint="Counted once at least 10 people leave." type="number" min={0} max={100} step="any" disabled={!canChange} {...form.text('maxSharePercent')} />
          <TextField label="Window (minutes)" hint="How far back both limits count." type="number" min={1} step="any" disabled={!canChange} {...form.text('windowMinutes')} />
        </div>
        <FormError error={form.formError} />
        {canChange && (
          <div className="form-actions">
            <Button type="submit" variant="primary" busy={form.busy} busyLabel="Saving…">
              Save guard thresholds
            </Button>
          </div>
        )}
      </form>
    </Section>
  );
}

function HeldLeaversSection({ canChange }: { canChange: boolean }) {
  const held = useHeldLeavers();
  const release = useReleaseHeld();
  const toast = useToast();
  const [releasing, setReleasing] = useState<HeldLeaver | 'all' | null>(null);
  const [requested, setRequested] = useState<ChangeRequestView | null>(null);
  const rows = held.data?.data;
  const columns: Column<HeldLeaver>[] = [
    { key: 'userName', header: 'Person', render: (h) => (h.displayName ? `${h.displayName} (${h.userName})` : h.userName) },
    { key: 'heldAt', header: 'Held since', className: 'nowrap', render: (h) => <span title={formatDateTime(h.heldAt)}>{formatRelative(h.heldAt)}</span> },
    ...(canChange
      ? [{ key: 'actions', header: <span className="visually-hidden">Actions</span>, render: (h: HeldLeaver) => <Button size="small" onClick={() => setReleasing(h)} aria-label={`Release ${h.userName}`}>Release</Button> }]
      : []),
  ];
  return (
    <Section
      title="Held leavers"
      actions={canChange && rows && rows.length > 1 && <Button onClick={() => setReleasing('all')}>Release all ({rows.length})</Button>}
    >
      <ErrorBanner error={held.error} title="Held leavers could not be loaded" onRetry={() => void held.refetch()} />
      {requested && <ChangeRequested request={requested} />}
      <DataTable
        caption="Leavers held by the guard"
        columns={columns}
        rows={rows}
        rowKey={(h) => h.userId}
        empty={<EmptyState title="Nobody is held">When the guard trips, the leavers it holds appear here. Check with your identity provider before releasing them.</EmptyState>}
      />
      <ConfirmDialog
        open={releasing !== null}
        onClose={() => setReleasing(null)}
        title={releasing === 'all' ? `Release all ${rows?.length ?? ''} held leavers?` : `Release ${releasing?.userName ?? ''}?`}
        confirmLabel="Release"
        danger
        onConfirm={async () => {
          const answer = await release.mutateAsync(releasing === 'all' || releasing === null ? {} : { userId: releasing.userId });
          const request = waitingRequest(answer);
          if (request) {
            setRequested(request);
            toast('The release was sent for approval', 'success');
            return;
          }
          const r = answer as ReleaseResult;
          toast(`Released ${r.released.length} leaver${r.released.length === 1 ? '' : 's'}`, 'success');
        }}
      >
        <NeedsApproval kind="guard.release" action="Releasing held leavers" />
        <p>Their leaver workflows continue at once: sessions, tokens and grants are revoked and deletion is scheduled. Only release them if the deactivations were intended.</p>
      </ConfirmDialog>
    </Section>
  );
}

type Shown = { title: string; secret: string; detail?: string };

function WebhooksSection({ canChange }: { canChange: boolean }) {
  const hooks = useWebhooks();
  const rotate = useRotateWebhook();
  const remove = useDeleteWebhook();
  const toast = useToast();
  const [adding, setAdding] = useState(false);
  const [shown, setShown] = useState<Shown | null>(null);
  const [rotating, setRotating] = useState<WebhookEndpointView | null>(null);
  const [deleting, setDeleting] = useState<WebhookEndpointView | null>(null);
  const [viewing, setViewing] = useState<WebhookEndpointView | null>(null);
  const [requested, setRequested] = useState<ChangeRequestView | null>(null);
  const columns: Column<WebhookEndpointView>[] = [
    { key: 'url', header: 'URL', render: (w) => <code>{w.url}</code> },
    {
      key: 'deliveries',
      header: <span className="visually-hidden">Deliveries</span>,
      render: (w) => (
        <Button size="small" onClick={() => setViewing(w)} aria-label={`Deliveries to ${w.url}`}>
          Deliveries
        </Button>
      ),
    },
    { key: 'eventTypes', header: 'Events', render: (w) => w.eventTypes?.join(', ') ?? 'All events' },
    { key: 'secretPrefix', header: 'Secret', className: 'hide-narrow', render: (w) => <code>{w.secretPrefix}</code> },
    { key: 'createdAt', header: 'Created', className: 'nowrap hide-narrow', render: (w) => formatDateTime(w.createdAt) },
    ...(canChange
      ? [
          {
            key: 'actions',
            header: <span className="visually-hidden">Actions</span>,
            render: (w: WebhookEndpointView) => (
              <span className="row-actions">
                <Button size="small" onClick={() => setRotating(w)} aria-label={`Rotate the secret of ${w.url}`}>
                  Rotate secret
                </Button>
                <Button size="small" variant="danger" onClick={() => setDeleting(w)} aria-label={`Delete ${w.url}`}>
                  Delete
                </Button>
              </span>
            ),
          },
        ]
      : []),
  ];
  return (
    <Section title="Webhook endpoints" actions={canChange && <Button onClick={() => setAdding(true)}>Add endpoint</Button>}>
      <p>Roster POSTs signed events (<code>Roster-Signature</code>, HMAC-SHA256) to these URLs. Your application can also read the same events from the events feed.</p>
      <ErrorBanner error={hooks.error} title="Webhook endpoints could not be loaded" onRetry={() => void hooks.refetch()} />
      {requested && <ChangeRequested request={requested} />}
      <DataTable caption="Webhook endpoints" columns={columns} rows={hooks.data?.data} rowKey={(w) => w.id} empty={<EmptyState title="No webhook endpoints">Add one to have your application told about joiners, movers and leavers as they happen.</EmptyState>} />
      <WebhookDeliveriesDialog endpoint={viewing} canRedeliver={canChange} onClose={() => setViewing(null)} />
      <AddWebhookDialog
        open={adding}
        onClose={() => setAdding(false)}
        onCreated={(w) => {
          setAdding(false);
          setShown({ title: 'Signing secret', secret: w.secret });
        }}
        onRequested={(request) => {
          setAdding(false);
          setRequested(request);
        }}
      />
      <ConfirmDialog
        open={rotating !== null}
        onClose={() => setRotating(null)}
        title="Rotate the signing secret?"
        confirmLabel="Rotate secret"
        onConfirm={async () => {
          const answer = await rotate.mutateAsync({ id: rotating!.id, overlapSeconds: DAY });
          const request = waitingRequest(answer);
          if (request) return setRequested(request);
          const r = answer as WebhookWithSecret;
          setShown({ title: 'New signing secret', secret: r.secret, detail: `Deliveries carry signatures with both secrets until ${formatDateTime(r.previousSecretExpiresAt)}.` });
        }}
      >
        <p>A new secret is issued for <code>{rotating?.url}</code>. For 24 hours every delivery is signed with both the old and the new secret, so you can switch your receiver over without rejecting one.</p>
        <NeedsApproval kind="webhook.rotate" action="Rotating the secret">
          Once it is approved you collect the new secret from the request.
        </NeedsApproval>
      </ConfirmDialog>
      <ConfirmDialog
        open={deleting !== null}
        onClose={() => setDeleting(null)}
        title="Delete this endpoint?"
        confirmLabel="Delete endpoint"
        danger
        onConfirm={async () => {
          const request = waitingRequest(await remove.mutateAsync({ id: deleting!.id }));
          if (request) setRequested(request);
          toast(request ? 'Deleting the endpoint was sent for approval' : 'Webhook endpoint deleted', 'success');
        }}
      >
        <NeedsApproval kind="webhook.delete" action="Deleting an endpoint" />
        <p>No further events are sent to <code>{deleting?.url}</code>; deliveries in flight stop at their next attempt.</p>
      </ConfirmDialog>
      <Dialog open={shown !== null} onClose={() => setShown(null)} title={shown?.title ?? ''} wide>
        {shown && (
          <>
            <Banner tone="warning" title="Copy the secret now">It is shown only once. Your receiver verifies each delivery's signature with it.</Banner>
            <SecretReveal label="Signing secret" value={shown.secret} onDone={() => setShown(null)} note="This is shown only once: Roster cannot show it again." />
            {shown.detail && <p className="muted">{shown.detail}</p>}
          </>
        )}
      </Dialog>
    </Section>
  );
}

function AddWebhookDialog({ open, onClose, onCreated, onRequested }: { open: boolean; onClose: () => void; onCreated: (w: { secret: string }) => void; onRequested: (request: ChangeRequestView) => void }) {
  const create = useCreateWebhook();
  const [url, setUrl] = useState('');
  const [scope, setScope] = useState<'all' | 'some'>('all');
  const [types, setTypes] = useState<EventType[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [urlError, setUrlError] = useState<string | undefined>();
  const close = () => {
    setUrl('');
    setScope('all');
    setTypes([]);
    setError(null);
    setUrlError(undefined);
    onClose();
  };
  return (
    <Dialog open={open} onClose={close} title="Add a webhook endpoint">
      <form
        className="form"
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          setError(null);
          if (!url.trim()) return setUrlError('Enter the https URL of your receiver');
          if (scope === 'some' && types.length === 0) return setError(new Error('Choose at least one event type, or send all events.'));
          setUrlError(undefined);
          create.mutate(
            { url: url.trim(), ...(scope === 'some' ? { eventTypes: types } : {}) },
            {
              onSuccess: (answer) => {
                close();
                const request = waitingRequest(answer);
                if (request) onRequested(request);
                else onCreated(answer as WebhookWithSecret);
              },
              onError: setError,
            },
          );
        }}
      >
        <TextField label="URL" type="url" hint="https only; Roster POSTs JSON events to it." required autoFocus value={url} error={urlError} onChange={(e) => setUrl(e.target.value)} />
        <SelectField label="Events" value={scope} onChange={(e) => setScope(e.target.value as 'all' | 'some')} options={[{ value: 'all', label: 'All events' }, { value: 'some', label: 'Only some event types' }]} />
        {scope === 'some' && <CheckboxGroup legend="Event types" options={EVENT_TYPES.map((t) => ({ value: t, label: t }))} value={types} onChange={(v) => setTypes(v as EventType[])} />}
        <NeedsApproval kind="webhook.create" action="Adding an endpoint">
          Once it is approved you collect its signing secret from the request.
        </NeedsApproval>
        <FormError error={error} />
        <div className="form-actions">
          <Button type="submit" variant="primary" busy={create.isPending} busyLabel="Adding…">
            Add endpoint
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
