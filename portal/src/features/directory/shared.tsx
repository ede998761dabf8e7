import { NavLink } from 'react-router';
import { StatusBadge } from '../../components/index.js';
import type { LifecycleState } from '../../../../core/directory/schema.js';

export const PAGE_SIZE = 25;

const STATE_LABELS: Record<LifecycleState, string> = { provisioned: 'Provisioned', active: 'Active', suspended: 'Suspended', deleted: 'Deleted' };

export function StateBadge({ state }: { state: LifecycleState }) {
  return <StatusBadge status={state} tone={state === 'provisioned' ? 'info' : undefined}>{STATE_LABELS[state]}</StatusBadge>;
}

/** Users | Groups, as links (each list is its own URL). */
export function DirectoryTabs() {
  return (
    <nav className="subnav" aria-label="Directory">
      <NavLink to="/directory" end>
        Users
      </NavLink>
      <NavLink to="/directory/groups">Groups</NavLink>
    </nav>
  );
}
