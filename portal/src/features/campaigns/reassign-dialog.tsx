import { useState } from 'react';
import { Button, Dialog, FormError, useToast } from '../../components/index.js';
import { useReassignItems } from './api.js';
import { ReviewerSearch, ReviewerSelect, useReviewerDirectory } from './pickers.js';

/**
 * Moves items to another reviewer (admin, reviewer): the selected ones, or every pending item of
 * one reviewer. The API refuses a move to the subject themself and says so here.
 */
export function ReassignDialog({ campaignId, what, body, onClose, onDone }: { campaignId: string; what: string; body: { itemIds: string[] } | { fromReviewerId: string }; onClose: () => void; onDone?: (moved: number) => void }) {
  const directory = useReviewerDirectory();
  const reassign = useReassignItems(campaignId);
  const toast = useToast();
  const [to, setTo] = useState('');
  const [error, setError] = useState<string | undefined>();
  const submit = async () => {
    if (!to) {
      setError('Choose who reviews them now.');
      return;
    }
    if ('fromReviewerId' in body && body.fromReviewerId === to) {
      setError('They are already this person’s items: choose someone else.');
      return;
    }
    setError(undefined);
    const answer = await reassign.mutateAsync({ ...body, toReviewerId: to });
    toast(`${answer.reassigned} ${answer.reassigned === 1 ? 'item' : 'items'} moved to ${directory.name(to)}`);
    onDone?.(answer.reassigned);
    onClose();
  };
  return (
    <Dialog
      open
      onClose={onClose}
      title={`Reassign ${what}`}
      wide
      footer={
        <>
          <Button onClick={onClose} disabled={reassign.isPending}>
            Cancel
          </Button>
          <Button variant="primary" busy={reassign.isPending} busyLabel="Reassigning…" onClick={() => void submit().catch(() => {})}>
            Reassign
          </Button>
        </>
      }
    >
      <p>The new reviewer sees them in their worklist at once. Decisions already made stay as they are.</p>
      <ReviewerSearch directory={directory} />
      <ReviewerSelect directory={directory} label="New reviewer" value={to} onChange={setTo} error={error} />
      <FormError error={reassign.error} />
    </Dialog>
  );
}
