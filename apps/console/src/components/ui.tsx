import type { ButtonHTMLAttributes, InputHTMLAttributes, ReactNode, TextareaHTMLAttributes } from 'react';
import { useId } from 'react';
import { describeError } from '../api/api-error';

/** The console's one button: `primary` for the main action of a form, `quiet` for the rest. */
export function Button({ variant = 'quiet', ...props }: ButtonHTMLAttributes<HTMLButtonElement> & { readonly variant?: 'primary' | 'quiet' | 'danger' }) {
  return <button type="button" {...props} className={`button button-${variant}`} />;
}

/** A labelled input; `error` (from the server's field paths) marks it invalid and says why. */
export function TextField({ label, error, hint, ...props }: InputHTMLAttributes<HTMLInputElement> & { readonly label: string; readonly error?: string | undefined; readonly hint?: string }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-invalid={error !== undefined} aria-describedby={error !== undefined ? `${id}-error` : undefined} {...props} />
      {hint !== undefined && <small className="hint">{hint}</small>}
      {error !== undefined && (
        <small id={`${id}-error`} className="field-error">
          {error}
        </small>
      )}
    </div>
  );
}

/** A labelled multi-line input. */
export function TextArea({ label, error, ...props }: TextareaHTMLAttributes<HTMLTextAreaElement> & { readonly label: string; readonly error?: string | undefined }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea id={id} aria-invalid={error !== undefined} aria-describedby={error !== undefined ? `${id}-error` : undefined} {...props} />
      {error !== undefined && (
        <small id={`${id}-error`} className="field-error">
          {error}
        </small>
      )}
    </div>
  );
}

/** An API failure in plain words, with its stable code. */
export function ErrorNotice({ error }: { readonly error: unknown }) {
  if (error === null || error === undefined) return null;
  const { title, code, message } = describeError(error);
  return (
    <div role="alert" className="notice notice-error">
      <strong>{title}.</strong> {message} <code>{code}</code>
    </div>
  );
}

/** A titled page section. */
export function Section({ title, actions, children }: { readonly title: string; readonly actions?: ReactNode; readonly children: ReactNode }) {
  return (
    <section className="section">
      <header className="section-header">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

/**
 * A status as a small coloured label. Every badge is as wide as the longest
 * status (styles.css), and a new status is a new label rather than the old one
 * rewritten, so a live change moves nothing on the page, not even its own text.
 */
export function StatusBadge({ status }: { readonly status: string }) {
  return (
    <span key={status} className={`badge badge-${status}`}>
      {status.replace(/_/g, ' ')}
    </span>
  );
}
