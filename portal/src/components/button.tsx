import type { ButtonHTMLAttributes, ReactNode } from 'react';
import { Spinner } from './feedback.js';

export type ButtonVariant = 'primary' | 'secondary' | 'danger' | 'ghost';

export interface ButtonProps extends ButtonHTMLAttributes<HTMLButtonElement> {
  variant?: ButtonVariant;
  /** Shows a spinner, sets aria-busy and disables the button while a request runs. */
  busy?: boolean;
  /** Text announced while busy (defaults to the children). */
  busyLabel?: string;
  size?: 'small' | 'normal';
  children: ReactNode;
}

export function Button({ variant = 'secondary', busy = false, busyLabel, size = 'normal', className, disabled, type = 'button', children, ...rest }: ButtonProps) {
  return (
    <button
      {...rest}
      type={type}
      className={['btn', `btn-${variant}`, size === 'small' ? 'btn-small' : '', className ?? ''].filter(Boolean).join(' ')}
      disabled={disabled || busy}
      aria-busy={busy || undefined}
    >
      {busy && <Spinner inline label={busyLabel ?? 'Working…'} />}
      <span>{children}</span>
    </button>
  );
}
