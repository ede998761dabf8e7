import { useState } from 'react';
import { IssueSetupLinkBody, type SetupLink } from '../../../../../core/fleet/schema.js';
import { Button, CheckboxGroup, FormError, SecretReveal, TextField, useZodForm } from '../../../components/index.js';
import { formatDateTime } from '../../../lib/format.js';
import { useIssueSetupLink } from './api.js';

const ROLE_OPTIONS = [
  { value: 'admin', label: 'Admin', description: 'Sets up connections, settings and members' },
  { value: 'approver', label: 'Approver', description: 'Decides on connection change requests' },
  { value: 'reviewer', label: 'Reviewer', description: 'Reviews access in recertification campaigns' },
  { value: 'auditor', label: 'Auditor', description: 'Reads and exports the audit log' },
];

/**
 * Issues a one-time setup link for a person of the tenant (by default its first admin). The link
 * is shown once, with a copy button; it lives only in this component's state.
 */
export function SetupLinkForm({ tenantId, tenantName }: { tenantId: string; tenantName: string }) {
  const issue = useIssueSetupLink(tenantId);
  const form = useZodForm(IssueSetupLinkBody, { email: '', roles: ['admin'] as string[] });
  const [link, setLink] = useState<(SetupLink & { email: string }) | null>(null);

  if (link) {
    return (
      <div className="form" data-testid="setup-link-issued">
        <SecretReveal
          label={`Setup link for ${link.email}`}
          value={link.url}
          note={`Send it to ${link.email} over a channel you trust. It works once, until ${formatDateTime(link.expiresAt)}. It is shown only now: Roster keeps only a hash of it.`}
          onDone={() => {
            setLink(null);
            form.reset();
          }}
          doneLabel="Done: issue another link"
        />
      </div>
    );
  }

  return (
    <form
      className="form"
      noValidate
      data-testid="setup-link-form"
      onSubmit={(e) =>
        void form.submit(async (body) => {
          const issued = await issue.mutateAsync(body);
          setLink({ ...issued, email: body.email });
        })(e)
      }
    >
      <TextField label="E-mail of the person" type="email" required autoComplete="off" hint={`They choose a password through the link and then sign in to ${tenantName}'s portal.`} {...form.text('email')} />
      <CheckboxGroup legend="Roles" options={ROLE_OPTIONS} value={form.values.roles} onChange={(roles) => form.set('roles', roles)} error={form.errors.roles} />
      <FormError error={form.formError} />
      <div className="form-actions">
        <Button type="submit" variant="primary" busy={form.busy} busyLabel="Issuing the link…">
          Issue setup link
        </Button>
      </div>
    </form>
  );
}
