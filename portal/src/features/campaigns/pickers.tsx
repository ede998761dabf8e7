import { useEffect, useId, useRef, useState } from 'react';
import { ErrorBanner, Spinner } from '../../components/index.js';
import { type GroupOption, type ReviewerOption, useGroupOptions, useReviewerOptions } from './api.js';

/**
 * The definition form's pickers: people (portal users who may review) and groups, searched on the
 * server and shown by name. The names of what is already chosen are remembered from every answer
 * seen, so a chosen person stays listed (by name) whatever the search.
 */

/**
 * A search field that reports after a pause or on Enter. Not the shared SearchBox: that one is a
 * form of its own, and these fields sit inside the definition form (Enter must not submit it).
 */
function PickerSearch({ label, value, onSearch, placeholder }: { label: string; value: string; onSearch: (v: string) => void; placeholder?: string }) {
  const id = useId();
  const [text, setText] = useState(value);
  const latest = useRef(onSearch);
  latest.current = onSearch;
  useEffect(() => {
    if (text === value) return undefined;
    const timer = setTimeout(() => latest.current(text), 300);
    return () => clearTimeout(timer);
  }, [text, value]);
  return (
    <div className="search-box picker-search">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="search"
        value={text}
        placeholder={placeholder}
        autoComplete="off"
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key !== 'Enter') return;
          e.preventDefault();
          latest.current(text);
        }}
      />
    </div>
  );
}

function useRemembered<T extends { id: string }>(rows: T[] | undefined): Map<string, T> {
  const seen = useRef(new Map<string, T>());
  for (const row of rows ?? []) seen.current.set(row.id, row);
  return seen.current;
}

export const reviewerName = (r: Pick<ReviewerOption, 'displayName' | 'email'>): string => (r.displayName ? `${r.displayName} (${r.email})` : r.email);

/** One search over the tenant's portal users, shared by the named-reviewer and fallback pickers. */
export function useReviewerDirectory() {
  const [search, setSearch] = useState('');
  const options = useReviewerOptions(search.trim());
  const known = useRemembered(options.data?.data);
  const name = (id: string): string => {
    const r = known.get(id);
    if (r) return reviewerName(r);
    // Not among the people found so far: the answer holds at most one page of them.
    return options.data ? 'a portal user not found: inactive, or search for them' : 'loading…';
  };
  return { search, setSearch, options, name, rows: options.data?.data };
}

export type ReviewerDirectory = ReturnType<typeof useReviewerDirectory>;

/** Checkboxes over the people found, the chosen ones first. */
export function ReviewerChecklist({ directory, value, onChange, error, legend, hint }: { directory: ReviewerDirectory; value: string[]; onChange: (ids: string[]) => void; error?: string | undefined; legend: string; hint?: string }) {
  const id = useId();
  const found = (directory.rows ?? []).filter((r) => !value.includes(r.id));
  return (
    <fieldset className={error ? 'field fieldset field-invalid' : 'field fieldset'} aria-describedby={error ? `${id}-error` : undefined} data-testid="named-reviewers">
      <legend className="field-label">{legend}</legend>
      {hint && <div className="field-hint">{hint}</div>}
      {value.map((rid) => (
        <label key={rid} className="checkbox">
          <input type="checkbox" checked onChange={() => onChange(value.filter((v) => v !== rid))} />
          <span>{directory.name(rid)}</span>
        </label>
      ))}
      {found.map((r) => (
        <label key={r.id} className="checkbox">
          <input type="checkbox" checked={false} onChange={() => onChange([...value, r.id])} />
          <span>{reviewerName(r)}</span>
        </label>
      ))}
      {directory.rows && directory.rows.length === 0 && <p className="muted small">Nobody matches “{directory.search}”.</p>}
      {error && (
        <div id={`${id}-error`} className="field-error">
          {error}
        </div>
      )}
    </fieldset>
  );
}

/** A select of the people found (the chosen one always among them). */
export function ReviewerSelect({ directory, value, onChange, error, label, hint }: { directory: ReviewerDirectory; value: string; onChange: (id: string) => void; error?: string | undefined; label: string; hint?: string }) {
  const id = useId();
  const rows = directory.rows ?? [];
  const describedBy = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={error ? 'field field-invalid' : 'field'}>
      <label htmlFor={id} className="field-label">
        {label}
      </label>
      {hint && (
        <div id={`${id}-hint`} className="field-hint">
          {hint}
        </div>
      )}
      <select id={id} className="input" value={value} aria-invalid={error ? true : undefined} aria-describedby={describedBy} onChange={(e) => onChange(e.target.value)}>
        <option value="">Choose a person…</option>
        {value && !rows.some((r) => r.id === value) && <option value={value}>{directory.name(value)}</option>}
        {rows.map((r) => (
          <option key={r.id} value={r.id}>
            {reviewerName(r)}
          </option>
        ))}
      </select>
      {error && (
        <div id={`${id}-error`} className="field-error">
          {error}
        </div>
      )}
    </div>
  );
}

export function ReviewerSearch({ directory }: { directory: ReviewerDirectory }) {
  return (
    <>
      <PickerSearch label="Find reviewers" value={directory.search} placeholder="Name or e-mail" onSearch={directory.setSearch} />
      <ErrorBanner error={directory.options.error} title="Portal users could not be searched" onRetry={() => void directory.options.refetch()} />
    </>
  );
}

const groupText = (g: GroupOption): string => `${g.displayName} (${g.members} ${g.members === 1 ? 'member' : 'members'})`;

/** The groups scope: search the tenant's groups, tick the ones whose members are reviewed. */
export function GroupPicker({ value, onChange, error }: { value: string[]; onChange: (ids: string[]) => void; error?: string | undefined }) {
  const id = useId();
  const [search, setSearch] = useState('');
  const options = useGroupOptions(search.trim());
  const known = useRemembered(options.data?.data);
  const found = (options.data?.data ?? []).filter((g) => !value.includes(g.id));
  return (
    <div className="group-picker">
      <PickerSearch label="Find groups" value={search} placeholder="Group name" onSearch={setSearch} />
      <ErrorBanner error={options.error} title="Groups could not be searched" onRetry={() => void options.refetch()} />
      <fieldset className={error ? 'field fieldset field-invalid' : 'field fieldset'} aria-describedby={error ? `${id}-error` : undefined} data-testid="group-picker">
        <legend className="field-label">Groups whose members are reviewed</legend>
        {value.map((gid) => {
          const g = known.get(gid);
          return (
            <label key={gid} className="checkbox">
              <input type="checkbox" checked onChange={() => onChange(value.filter((v) => v !== gid))} />
              <span>{g ? groupText(g) : options.data ? 'a group not found: deleted, or search for it' : 'loading…'}</span>
            </label>
          );
        })}
        {!options.data && !options.error && <Spinner inline label="Loading groups…" />}
        {found.map((g) => (
          <label key={g.id} className="checkbox">
            <input type="checkbox" checked={false} onChange={() => onChange([...value, g.id])} />
            <span>{groupText(g)}</span>
          </label>
        ))}
        {options.data && options.data.data.length === 0 && <p className="muted small">{search ? `No group matches “${search}”.` : 'Your directory has no groups yet.'}</p>}
        {error && (
          <div id={`${id}-error`} className="field-error">
            {error}
          </div>
        )}
      </fieldset>
    </div>
  );
}
