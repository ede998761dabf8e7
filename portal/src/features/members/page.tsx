import { useState } from 'react';
import { InviteBody, UpdateMemberBody, type Member, type SetupLinkResponse } from '../../../../core/portal-auth/schema.js';
import { portalRoles, roleLabels, useSession, type PortalRole } from '../../app/session.js';
import {
  Button,
  CheckboxGroup,
  ConfirmDialog,
  DataTable,
  Dialog,
  EmptyState,
  ErrorBanner,
  FormError,
  Page,
  SecretReveal,
  StatusBadge,
  TextField,
  useToast,
  useZodForm,
  type Column,
} from '../../components/index.js';
import { formatDateTime, formatRelative } from '../../lib/format.js';
import type { ChangeRequestView } from '../../../../core/approvals/schema.js';
import { ChangeRequested, NeedsApproval } from '../../components/approval-notice.js';
import { waitingRequest } from '../../lib/approvals.js';
import { useInviteMember, useMembers, useRemoveMember, useUpdateMemberRoles } from './api.js';

const roleOptions = portalRoles.map((role) => ({ value: role, label: roleLabels[role].label, description: roleLabels[role].description }));

function RoleList({ roles }: { roles: readonly PortalRole[] }) {
  const ordered = [...roles].sort((a, b) => portalRoles.indexOf(a) - portalRoles.indexOf(b));
  return <span className="role-list">{ordered.map((r) => roleLabels[r]?.label ?? r).join(', ')}</span>;
}

/** Invite: email + roles → the setup link, shown once with a copy button. */
function InviteDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const invite = useInviteMember();
  const form = useZodForm(InviteBody, { email: '', roles: ['approver'] as PortalRole[] });
  const [link, setLink] = useState<(SetupLinkResponse & { email: string }) | null>(null);
  const close = () => {
    setLink(null);
    form.reset();
    onClose();
  };
  return (
    <Dialog open={open} onClose={close} title={link ? 'Invitation link' : 'Invite a person'}>
      {link ? (
        <>
          <p>
            Send this link to <strong>{link.email}</strong>. It works once, until {formatDateTime(link.expiresAt)}; opening it lets them choose a password.
          </p>
          <SecretReveal label="Setup link" value={link.url} note="This link is shown only once. Copy it now: Roster keeps only a hash of it." onDone={close} doneLabel="Done" />
        </>
      ) : (
        <form
          className="form"
          noValidate
          onSubmit={(e) =>
            void form.submit(async (body) => {
              const result = await invite.mutateAsync(body);
              setLink({ ...result, email: body.email });
            })(e)
          }
        >
          <TextField label="Email" type="email" autoComplete="off" required {...form.text('email')} />
          <CheckboxGroup
            legend="Roles"
            hint="What they may do in this portal. You can change it later."
            options={roleOptions}
            value={form.values.roles}
            onChange={(roles) => form.set('roles', roles as PortalRole[])}
            error={form.errors.roles}
          />
          <FormError error={form.formError} />
          <div className="form-actions">
            <Button type="submit" variant="primary" busy={form.busy} busyLabel="Creating the link…">
              Create invitation link
            </Button>
            <Button onClick={close}>Cancel</Button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

function RolesDialog({ member, onClose, onRequested }: { member: Member; onClose: () => void; onRequested: (request: ChangeRequestView) => void }) {
  const update = useUpdateMemberRoles();
  const toast = useToast();
  const form = useZodForm(UpdateMemberBody, { roles: member.roles });
  return (
    <Dialog open onClose={onClose} title={`Roles of ${member.displayName ?? member.email}`}>
      <form
        className="form"
        noValidate
        onSubmit={(e) =>
          void form.submit(async (body) => {
            const request = waitingRequest(await update.mutateAsync({ id: member.id, body }));
            if (request) onRequested(request);
            toast(request ? `Changing the roles of ${member.email} was sent for approval` : `Roles of ${member.email} changed`);
            onClose();
          })(e)
        }
      >
        <CheckboxGroup legend="Roles" options={roleOptions} value={form.values.roles} onChange={(roles) => form.set('roles', roles as PortalRole[])} error={form.errors.roles} />
        <NeedsApproval kind="portal_roles.set" action="Changing portal roles">
          {member.email} cannot approve a change about themselves.
        </NeedsApproval>
        <FormError error={form.formError} />
        <div className="form-actions">
          <Button type="submit" variant="primary" busy={form.busy} busyLabel="Saving…">
            Save roles
          </Button>
          <Button onClick={onClose}>Cancel</Button>
        </div>
      </form>
    </Dialog>
  );
}

/** Members (admins): who can sign in to this tenant's portal, with which roles. */
export default function MembersPage() {
  const { user } = useSession();
  const members = useMembers();
  const remove = useRemoveMember();
  const toast = useToast();
  const [inviting, setInviting] = useState(false);
  const [editing, setEditing] = useState<Member | null>(null);
  const [removing, setRemoving] = useState<Member | null>(null);
  const [requested, setRequested] = useState<ChangeRequestView | null>(null);

  const columns: Column<Member>[] = [
    {
      key: 'person',
      header: 'Person',
      render: (m) => (
        <div>
          <div className="cell-strong">{m.displayName ?? m.email}</div>
          {m.displayName && <div className="muted">{m.email}</div>}
          {m.id === user.id && <div className="muted">(you)</div>}
        </div>
      ),
    },
    { key: 'roles', header: 'Roles', render: (m) => <RoleList roles={m.roles} /> },
    { key: 'status', header: 'Status', render: (m) => <StatusBadge status={m.status} /> },
    { key: 'totp', header: 'Two-step', className: 'hide-narrow', render: (m) => (m.totpEnabled ? 'On' : 'Off') },
    { key: 'lastSignInAt', header: 'Last sign-in', className: 'nowrap', render: (m) => (m.status === 'invited' ? 'Not yet' : formatRelative(m.lastSignInAt)) },
    {
      key: 'actions',
      header: <span className="visually-hidden">Actions</span>,
      className: 'nowrap',
      render: (m) =>
        m.status === 'disabled' ? null : (
          <span className="row-actions">
            <Button size="small" onClick={() => setEditing(m)} aria-label={`Change roles of ${m.email}`}>
              Change roles
            </Button>
            <Button size="small" variant="ghost" onClick={() => setRemoving(m)} aria-label={`Remove ${m.email}`}>
              Remove
            </Button>
          </span>
        ),
    },
  ];

  return (
    <Page
      title="Members"
      description="People who can sign in to this portal, and what their roles let them do. Invitations are one-time setup links."
      actions={
        <Button variant="primary" onClick={() => setInviting(true)}>
          Invite a person
        </Button>
      }
    >
      <ErrorBanner error={members.error} title="Members could not be loaded" onRetry={() => void members.refetch()} />
      {requested && <ChangeRequested request={requested} />}
      {!members.isError && (
        <DataTable
          caption="Portal members"
          columns={columns}
          rows={members.data?.members}
          rowKey={(m) => m.id}
          loading={members.isFetching}
          empty={<EmptyState title="No members yet" action={<Button onClick={() => setInviting(true)}>Invite a person</Button>} />}
        />
      )}
      <InviteDialog open={inviting} onClose={() => setInviting(false)} />
      {editing && <RolesDialog member={editing} onClose={() => setEditing(null)} onRequested={setRequested} />}
      <ConfirmDialog
        open={removing !== null}
        onClose={() => setRemoving(null)}
        title="Remove this member?"
        confirmLabel="Remove"
        danger
        onConfirm={async () => {
          if (!removing) return;
          await remove.mutateAsync(removing.id);
          toast(`${removing.email} removed`);
        }}
      >
        <p>
          <strong>{removing?.email}</strong> will no longer be able to sign in, and their open sessions end now. Their past actions stay in the audit log.
        </p>
      </ConfirmDialog>
    </Page>
  );
}
