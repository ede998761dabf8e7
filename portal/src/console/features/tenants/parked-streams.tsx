import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { ParkedStreamAlert, StreamDecision } from '../../../../../core/fleet/schema.js';
import { Button, type Column, ConfirmDialog, DataTable, EmptyState, TextField, useToast } from '../../../components/index.js';
import { consoleApi, describeError } from '../../../lib/api.js';
import { formatDateTime } from '../../../lib/format.js';

function useStreamDecision(tenantId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ identityId, action, reason }: { identityId: string; action: 'retry' | 'skip'; reason?: string }) =>
      consoleApi.post<StreamDecision>(`/tenants/${encodeURIComponent(tenantId)}/streams/${encodeURIComponent(identityId)}/${action}`, reason ? { reason } : {}),
    onSettled: () => client.invalidateQueries({ queryKey: ['console'] }),
  });
}

const outcomeText = (d: StreamDecision) => (d.outcome === 'parked' ? `Still parked: ${d.failureType ?? 'it failed again'}` : `Event ${d.seq} ${d.outcome}`);

/**
 * Identity streams of a tenant parked on an event they could not apply: retry the event, or skip it
 * with a reason (audited). Only ids and types: the failure message stays with the tenant and the CLI.
 */
export function ParkedStreams({ tenantId, parks }: { tenantId: string; parks: ParkedStreamAlert[] }) {
  const decide = useStreamDecision(tenantId);
  const toast = useToast();
  const [skipping, setSkipping] = useState<ParkedStreamAlert | null>(null);
  const [reason, setReason] = useState('');
  const retry = (p: ParkedStreamAlert) =>
    decide.mutate(
      { identityId: p.identityId, action: 'retry' },
      { onSuccess: (d) => toast(outcomeText(d), d.outcome === 'parked' ? 'error' : 'success'), onError: (err) => toast(`Retry failed: ${describeError(err)}`, 'error') },
    );
  const columns: Column<ParkedStreamAlert>[] = [
    { key: 'identityId', header: 'Identity', render: (p) => <code>{p.identityId}</code> },
    { key: 'event', header: 'Event', className: 'nowrap', render: (p) => <>#{p.seq} <code>{p.eventType}</code></> },
    { key: 'failureType', header: 'Failure', className: 'nowrap', render: (p) => <code>{p.failureType}</code> },
    { key: 'attempts', header: 'Attempts', className: 'num', render: (p) => p.attempts },
    { key: 'since', header: 'Since', className: 'nowrap hide-narrow', render: (p) => formatDateTime(p.since) },
    {
      key: 'actions',
      header: <span className="visually-hidden">Actions</span>,
      render: (p) => (
        <span className="row-actions">
          <Button size="small" onClick={() => retry(p)} disabled={decide.isPending} aria-label={`Retry the parked event of ${p.identityId}`}>
            Retry
          </Button>
          <Button size="small" variant="danger" onClick={() => { setReason(''); setSkipping(p); }} aria-label={`Skip the parked event of ${p.identityId}`}>
            Skip
          </Button>
        </span>
      ),
    },
  ];
  return (
    <>
      <DataTable
        caption="Parked identity streams"
        columns={columns}
        rows={parks}
        rowKey={(p) => `${p.identityId}:${p.seq}`}
        empty={<EmptyState title="No parked streams">Every identity's lifecycle events are being applied.</EmptyState>}
      />
      <ConfirmDialog
        open={skipping !== null}
        onClose={() => setSkipping(null)}
        title="Skip the parked event?"
        confirmLabel="Skip event"
        danger
        onConfirm={async () => {
          if (!reason.trim()) throw new Error('Say why the event is skipped.');
          const d = await decide.mutateAsync({ identityId: skipping!.identityId, action: 'skip', reason: reason.trim() });
          toast(outcomeText(d), 'success');
        }}
      >
        <p>
          Event #{skipping?.seq} (<code>{skipping?.eventType}</code>) of identity <code>{skipping?.identityId}</code> is never applied; the stream moves on to the
          events behind it. The skip is recorded in the tenant's audit log with you as the actor.
        </p>
        <TextField label="Reason" value={reason} onChange={(e) => setReason(e.target.value)} required maxLength={500} />
      </ConfirmDialog>
    </>
  );
}
