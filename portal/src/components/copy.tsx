import { useEffect, useId, useState } from 'react';
import { Button } from './button.js';

async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Fall through to the selection-based copy (permissions, non-secure origins).
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

/** Copies `text` to the clipboard and says so (visibly and to screen readers). */
export function CopyButton({ text, label = 'Copy', size = 'normal' }: { text: string; label?: string; size?: 'small' | 'normal' }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const timer = setTimeout(() => setState('idle'), 2500);
    return () => clearTimeout(timer);
  }, [state]);
  return (
    <span className="copy">
      <Button size={size} onClick={() => void copyText(text).then((ok) => setState(ok ? 'copied' : 'failed'))}>
        {state === 'copied' ? 'Copied' : label}
      </Button>
      <span className="visually-hidden" aria-live="polite">
        {state === 'copied' ? 'Copied to the clipboard' : state === 'failed' ? 'Copy failed: select the text and copy it yourself' : ''}
      </span>
    </span>
  );
}

/**
 * A secret shown exactly once (tokens, setup links, signing secrets, recovery codes): the value in
 * a selectable box, a copy button, and a plain warning that it cannot be shown again.
 */
export function SecretReveal({ label, value, note, onDone, doneLabel = 'I have saved it' }: { label: string; value: string; note?: string; onDone?: () => void; doneLabel?: string }) {
  const id = useId();
  return (
    <div className="secret" data-testid="secret-reveal">
      <label htmlFor={id} className="secret-label">
        {label}
      </label>
      <div className="secret-row">
        <input id={id} className="secret-value" readOnly value={value} onFocus={(e) => e.currentTarget.select()} spellCheck={false} data-testid="secret-value" />
        <CopyButton text={value} />
      </div>
      <p className="secret-note">{note ?? 'This is shown only once. Copy it now: Roster stores only a hash and cannot show it again.'}</p>
      {onDone && (
        <div>
          <Button variant="primary" onClick={onDone}>
            {doneLabel}
          </Button>
        </div>
      )}
    </div>
  );
}
