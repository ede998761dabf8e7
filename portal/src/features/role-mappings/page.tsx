import { useEffect, useState } from 'react';
import type { ChangeRequestView } from '../../../../core/approvals/schema.js';
import type { RoleChangePreview, RoleChangeResult, RoleMapping, RoleMappingOverview } from '../../../../core/entitlements/schema.js';
import {
  Banner,
  Button,
  CheckboxGroup,
  DataTable,
  Dialog,
  EmptyState,
  ErrorBanner,
  Page,
  SearchBox,
  Section,
  SelectField,
  Spinner,
  StatusBadge,
  useToast,
  type Column,
} from '../../components/index.js';
import { ChangeRequested, NeedsApproval } from '../../components/approval-notice.js';
import { hasAnyRole, useSession } from '../../app/session.js';
import { useKindPolicy, waitingRequest } from '../../lib/approvals.js';
import { describeError, isApiError } from '../../lib/api.js';
import { formatNumber } from '../../lib/format.js';
import { type PendingChange, previewChange, useGroupSearch, useRoleMappings, useSaveChange } from './api.js';
import './role-mappings.css';

/**
 * Role mappings: which app roles each IdP group grants its members, and the role everyone gets.
 * Every change goes through a dry run first (who gains and who loses which role); saving applies
 * exactly that preview, or says the picture changed and asks for a fresh preview.
 */
export default function RoleMappingsPage() {
  const { user } = useSession();
  const canEdit = hasAnyRole(user, ['admin']);
  const overview = useRoleMappings();
  const [editing, setEditing] = useState<PendingChange | null>(null);
  const [choosing, setChoosing] = useState(false);
  const [requested, setRequested] = useState<ChangeRequestView | null>(null);

  const data = overview.data;
  const columns: Column<RoleMapping>[] = [
    { key: 'displayName', header: 'IdP group', render: (m) => <strong>{m.displayName}</strong> },
    { key: 'roles', header: 'Grants roles', render: (m) => <RoleList roles={m.roles} catalogue={data} /> },
    { key: 'memberCount', header: 'Members', className: 'num', render: (m) => formatNumber(m.memberCount) },
    ...(canEdit
      ? [{
          key: 'edit',
          header: <span className="visually-hidden">Actions</span>,
          className: 'nowrap',
          render: (m: RoleMapping) => (
            <Button size="small" onClick={() => setEditing({ kind: 'group', groupId: m.groupId, groupName: m.displayName, roles: m.roles })} aria-label={`Edit the roles of ${m.displayName}`}>
              Edit
            </Button>
          ),
        }]
      : []),
  ];

  return (
    <Page
      title="Role mappings"
      description="Members of an IdP group get the app roles mapped to it; everyone gets the default role. Changes are previewed before they are saved, then applied to each person by their lifecycle workflow."
      actions={canEdit ? <Button variant="primary" onClick={() => setChoosing(true)}>Map a group</Button> : undefined}
    >
      {overview.error ? <ErrorBanner error={overview.error} title="Role mappings could not be loaded" onRetry={() => void overview.refetch()} /> : null}
      {!canEdit && <Banner title="Read only">Only admins can change role mappings.</Banner>}
      {requested && <ChangeRequested request={requested} />}
      {!data && !overview.error && <Spinner label="Loading role mappings…" />}
      {data && (
        <>
          <Section title="Default role" actions={canEdit ? <Button size="small" onClick={() => setEditing({ kind: 'default', role: data.defaultRole })}>Change</Button> : undefined}>
            <p data-testid="default-role">
              {data.defaultRole ? (
                <>
                  Every person gets <StatusBadge status={data.defaultRole} tone="info" />.
                </>
              ) : (
                'No default role: people get only the roles their groups grant.'
              )}
            </p>
          </Section>
          <Section title="Group mappings">
            <DataTable
              caption="Groups and the roles they grant"
              columns={columns}
              rows={data.mappings}
              rowKey={(m) => m.groupId}
              empty={
                <EmptyState title="No group grants a role yet" action={canEdit ? <Button onClick={() => setChoosing(true)}>Map a group</Button> : undefined}>
                  Map an IdP group (pushed by your identity provider over SCIM) to the app roles its members should have.
                </EmptyState>
              }
            />
          </Section>
        </>
      )}
      {choosing && data && (
        <ChooseGroupDialog
          onClose={() => setChoosing(false)}
          onChoose={(g) => {
            setChoosing(false);
            setEditing({ kind: 'group', groupId: g.groupId, groupName: g.displayName, roles: g.roles });
          }}
        />
      )}
      {editing && data && <EditDialog initial={editing} overview={data} onClose={() => setEditing(null)} onRequested={setRequested} />}
    </Page>
  );
}

function RoleList({ roles, catalogue }: { roles: string[]; catalogue: RoleMappingOverview | undefined }) {
  if (roles.length === 0) return <span className="muted">none</span>;
  return (
    <span className="role-list">
      {roles.map((r) => (
        <StatusBadge key={r} status={r} tone={catalogue?.roles.find((c) => c.name === r)?.privileged ? 'warning' : 'info'} />
      ))}
    </span>
  );
}

function ChooseGroupDialog({ onClose, onChoose }: { onClose: () => void; onChoose: (g: { groupId: string; displayName: string; roles: string[] }) => void }) {
  const [search, setSearch] = useState('');
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const groups = useGroupSearch(search, cursor, true);
  return (
    <Dialog open onClose={onClose} title="Map a group" wide>
      <SearchBox
        label="Find a group by name"
        value={search}
        onSearch={(v: string) => {
          setSearch(v);
          setCursors([null]);
        }}
      />
      {groups.error ? <ErrorBanner error={groups.error} /> : null}
      {!groups.data && !groups.error && <Spinner label="Loading groups…" />}
      {groups.data && groups.data.data.length === 0 && (
        <EmptyState title={search ? `No group starts with “${search}”` : 'No groups yet'}>Groups arrive from your identity provider over SCIM; push the group there first.</EmptyState>
      )}
      {groups.data && groups.data.data.length > 0 && (
        <ul className="plain-list group-choices">
          {groups.data.data.map((g) => (
            <li key={g.groupId}>
              <button type="button" className="btn btn-ghost group-choice" onClick={() => onChoose(g)}>
                <strong>{g.displayName}</strong>
                <span className="muted">
                  {' '}· {formatNumber(g.memberCount)} members{g.roles.length ? ` · grants ${g.roles.join(', ')}` : ''}
                </span>
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="form-actions">
        <Button size="small" disabled={cursors.length < 2} onClick={() => setCursors((c) => c.slice(0, -1))}>
          ← Previous
        </Button>
        <Button size="small" disabled={!groups.data?.next} onClick={() => groups.data?.next && setCursors((c) => [...c, groups.data.next])}>
          Next →
        </Button>
      </div>
    </Dialog>
  );
}

/** Edit → preview (dry run) → save: the save button works only on a preview of exactly this change. */
function EditDialog({ initial, overview, onClose, onRequested }: { initial: PendingChange; overview: RoleMappingOverview; onClose: () => void; onRequested: (request: ChangeRequestView) => void }) {
  const toast = useToast();
  const [change, setChange] = useState<PendingChange>(initial);
  const [preview, setPreview] = useState<{ of: string; result: RoleChangePreview } | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const save = useSaveChange();
  const rule = useKindPolicy(change.kind === 'group' ? 'role_mapping.set' : 'default_role.set');
  const needsApproval = (rule?.approvals ?? 0) > 0;
  const changeKey = JSON.stringify(change);
  const current = preview && preview.of === changeKey ? preview.result : null;

  useEffect(() => setError(null), [changeKey]);

  const runPreview = async () => {
    setPreviewing(true);
    setError(null);
    try {
      setPreview({ of: changeKey, result: await previewChange(change) });
    } catch (err) {
      setError(err);
    } finally {
      setPreviewing(false);
    }
  };

  const runSave = async () => {
    if (!current) return;
    setError(null);
    try {
      const answer = await save.mutateAsync({ change, fingerprint: current.fingerprint });
      const request = waitingRequest(answer);
      if (request) {
        onRequested(request);
        toast('Sent for approval: the roles change once it is approved.', 'success');
        onClose();
        return;
      }
      const result = answer as RoleChangeResult;
      toast(result.affectedUsers === 0 ? 'Saved. Nobody’s roles change.' : `Saved. ${formatNumber(result.affectedUsers)} ${result.affectedUsers === 1 ? 'person’s' : 'people’s'} roles are being updated.`);
      onClose();
    } catch (err) {
      if (isApiError(err, 'preview_stale')) setPreview(null);
      setError(err);
    }
  };

  const title = change.kind === 'group' ? `Roles granted by ${change.groupName}` : 'Default role';
  const roleOptions = overview.roles.map((r) => ({ value: r.name, label: r.name, ...(r.description ? { description: `${r.description}${r.privileged ? ' (privileged)' : ''}` } : {}) }));
  return (
    <Dialog
      open
      onClose={onClose}
      title={title}
      wide
      footer={
        <>
          <Button onClick={onClose} disabled={save.isPending}>
            Cancel
          </Button>
          <Button onClick={() => void runPreview()} busy={previewing} busyLabel="Computing the dry run…">
            {current ? 'Preview again' : 'Preview changes'}
          </Button>
          <Button variant="primary" disabled={!current} busy={save.isPending} busyLabel={needsApproval ? 'Submitting…' : 'Saving…'} onClick={() => void runSave()}>
            {needsApproval ? 'Submit for approval' : 'Save'}
          </Button>
        </>
      }
    >
      {change.kind === 'group' ? (
        <CheckboxGroup
          legend="Members of this group get"
          hint="Clear every role to remove the mapping."
          options={roleOptions}
          value={change.roles}
          onChange={(roles) => setChange({ ...change, roles: [...roles].sort() })}
        />
      ) : (
        <SelectField
          label="Every person gets"
          options={[{ value: '', label: 'No default role' }, ...overview.roles.map((r) => ({ value: r.name, label: r.name }))]}
          value={change.role ?? ''}
          onChange={(e) => setChange({ kind: 'default', role: e.target.value || null })}
        />
      )}
      {error !== null && (
        <div className="banner banner-error" role="alert">
          <div>
            <strong>{isApiError(error, 'preview_stale') ? 'The preview is out of date' : 'That did not work'}</strong>
            <p>{describeError(error)}</p>
          </div>
        </div>
      )}
      {!current && !previewing && error === null && <p className="muted">Preview the change to see who gains and who loses which role before you save it.</p>}
      <NeedsApproval kind={change.kind === 'group' ? 'role_mapping.set' : 'default_role.set'} action="Saving this change">
        Approvers see the same dry run, and applying it makes exactly the previewed change.
      </NeedsApproval>
      {current && <PreviewTable preview={current} />}
    </Dialog>
  );
}

const SHOWN = 200;

function PreviewTable({ preview }: { preview: RoleChangePreview }) {
  if (preview.affectedUsers === 0) {
    return (
      <div data-testid="preview">
        <Banner title="Nobody’s roles change">Everyone affected already has these roles from another source (the default role, another group or a direct grant).</Banner>
      </div>
    );
  }
  return (
    <div data-testid="preview" className="preview">
      <p role="status">
        <strong>{formatNumber(preview.affectedUsers)}</strong> {preview.affectedUsers === 1 ? 'person' : 'people'} will change when you save:
      </p>
      <div className="table-wrap">
        <table className="table">
          <caption className="visually-hidden">Dry run: roles each person gains and loses</caption>
          <thead>
            <tr>
              <th scope="col">Person</th>
              <th scope="col">Gains</th>
              <th scope="col">Loses</th>
            </tr>
          </thead>
          <tbody>
            {preview.changes.slice(0, SHOWN).map((c) => (
              <tr key={c.userId} data-testid="preview-row">
                <td>
                  {c.displayName ?? c.userName ?? c.userId}
                  {c.displayName && c.userName ? <span className="muted"> {c.userName}</span> : null}
                </td>
                <td>{c.gains.length ? c.gains.map((r) => <StatusBadge key={r} status={r} tone="ok">+ {r}</StatusBadge>) : <span className="muted">—</span>}</td>
                <td>{c.losses.length ? c.losses.map((r) => <StatusBadge key={r} status={r} tone="error">− {r}</StatusBadge>) : <span className="muted">—</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {preview.affectedUsers > Math.min(SHOWN, preview.changes.length) && (
        <p className="muted">…and {formatNumber(preview.affectedUsers - Math.min(SHOWN, preview.changes.length))} more. Saving applies the change to all of them.</p>
      )}
    </div>
  );
}
