import { useState } from 'react';
import { CreateTenantBody, type Tenant } from '../../../../../core/fleet/schema.js';
import { Button, FormError, TextField, useZodForm } from '../../../components/index.js';
import { useCreateTenant } from './api.js';

/** What a slug would be for this name: lower-case, dashes, at most 63 characters. */
export function suggestSlug(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
}

export function CreateTenantForm({ onCreated, onCancel }: { onCreated: (tenant: Tenant) => void; onCancel: () => void }) {
  const create = useCreateTenant();
  const form = useZodForm(CreateTenantBody, { name: '', slug: '' });
  // The slug follows the name until the operator edits it.
  const [slugEdited, setSlugEdited] = useState(false);
  const name = form.text('name');
  const slug = form.text('slug');
  return (
    <form className="form" noValidate onSubmit={(e) => void form.submit(async (body) => onCreated(await create.mutateAsync(body)))(e)} data-testid="create-tenant-form">
      <TextField
        label="Customer name"
        required
        autoComplete="off"
        {...name}
        onChange={(e) => {
          name.onChange(e);
          if (!slugEdited) form.set('slug', suggestSlug(e.target.value));
        }}
      />
      <TextField
        label="Slug"
        required
        autoComplete="off"
        spellCheck={false}
        hint="Identifies the tenant when its people sign in: 1–63 lower-case letters, digits and dashes. It cannot be changed later."
        {...slug}
        onChange={(e) => {
          setSlugEdited(true);
          slug.onChange(e);
        }}
      />
      <FormError error={form.formError} />
      <div className="form-actions">
        <Button type="submit" variant="primary" busy={form.busy} busyLabel="Creating the tenant…">
          Create tenant
        </Button>
        <Button onClick={onCancel} disabled={form.busy}>
          Cancel
        </Button>
      </div>
    </form>
  );
}
