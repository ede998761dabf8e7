import { useState } from 'react';
import { Link, useNavigate } from 'react-router';
import type { CampaignDefinitionView } from '../../../../core/campaigns/schema.js';
import { Banner, Button, ConfirmDialog, useToast } from '../../components/index.js';
import { describeError } from '../../lib/api.js';
import { type LaunchAnswer, useDeleteDefinition, useLaunch, usePauseDefinition } from './api.js';
import { campaignPath } from './paths.js';

/**
 * Launch now, pause / resume and delete a definition (admin and reviewer), with their answers:
 * a launch opens the new campaign; "a run is still open" links to that run.
 */
export function DefinitionActions({ definition: d, size = 'small', onDeleted }: { definition: CampaignDefinitionView; size?: 'small' | 'normal'; onDeleted?: () => void }) {
  const navigate = useNavigate();
  const toast = useToast();
  const launch = useLaunch();
  const pause = usePauseDefinition();
  const remove = useDeleteDefinition();
  const [running, setRunning] = useState<Extract<LaunchAnswer, { launched: false }> | null>(null);
  const [deleting, setDeleting] = useState(false);

  const launchNow = async () => {
    setRunning(null);
    try {
      const answer = await launch.mutateAsync({ id: d.id });
      if (answer.launched) {
        toast(`“${d.name}” launched`);
        void navigate(campaignPath(answer.campaignId, 'progress'));
      } else {
        setRunning(answer);
      }
    } catch (err) {
      toast(`“${d.name}” could not be launched: ${describeError(err)}`, 'error');
    }
  };

  const togglePause = async () => {
    try {
      await pause.mutateAsync({ id: d.id, paused: !d.paused });
      toast(d.paused ? `“${d.name}” resumed: its schedule runs again` : `“${d.name}” paused: its schedule does not fire`);
    } catch (err) {
      toast(describeError(err), 'error');
    }
  };

  return (
    <>
      <span className="row-actions">
        <Button size={size} variant="primary" busy={launch.isPending} busyLabel="Launching…" onClick={() => void launchNow()} aria-label={`Launch now: ${d.name}`}>
          Launch now
        </Button>
        {d.schedule && (
          <Button size={size} busy={pause.isPending} onClick={() => void togglePause()} aria-label={`${d.paused ? 'Resume' : 'Pause'} ${d.name}`}>
            {d.paused ? 'Resume' : 'Pause'}
          </Button>
        )}
        <Button size={size} variant="danger" onClick={() => setDeleting(true)} aria-label={`Delete ${d.name}`}>
          Delete
        </Button>
      </span>
      {running && (
        <div className="launch-refused" role="status">
          <Banner tone="warning" title="Not launched">
            {running.message || 'A run of this definition is still open.'}{' '}
            {running.campaignId && <Link to={campaignPath(running.campaignId, 'progress')}>Open the running campaign</Link>}
          </Banner>
        </div>
      )}
      <ConfirmDialog
        open={deleting}
        onClose={() => setDeleting(false)}
        title={`Delete “${d.name}”?`}
        confirmLabel="Delete"
        danger
        onConfirm={async () => {
          await remove.mutateAsync({ id: d.id });
          toast(`“${d.name}” deleted`);
          onDeleted?.();
        }}
      >
        <p>Its schedule stops. Campaigns it already started keep running and keep their evidence.</p>
      </ConfirmDialog>
    </>
  );
}
