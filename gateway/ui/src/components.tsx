// Small building blocks shared by the pages.
import { useEffect, type ReactNode } from "react";
import { createPortal } from "react-dom";
import { ApiError } from "./api";
import { onLink } from "./router";

export function Link(props: { href: string; children: ReactNode; className?: string; title?: string }) {
  return (
    <a href={props.href} onClick={onLink} className={props.className} title={props.title}>
      {props.children}
    </a>
  );
}

export function StateBadge({ state }: { state?: string }) {
  const value = state ?? "STATE_UNSPECIFIED";
  return <span className={`badge state-${value.toLowerCase()}`}>{value.toLowerCase().replace(/_/g, " ")}</span>;
}

export function ErrorNote({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (!error) return null;
  const message = error instanceof ApiError || error instanceof Error ? error.message : String(error);
  if (error instanceof ApiError && error.isUnauthenticated) {
    const next = window.location.pathname + window.location.search;
    return (
      <div className="note note-warn" role="alert" data-testid="sign-in-note">
        <span>You are not signed in, or your session expired.</span>
        <a className="button button-small" href={`/auth/login?next=${encodeURIComponent(next)}`}>
          Sign in
        </a>
      </div>
    );
  }
  return (
    <div className="note note-error" role="alert">
      <span>{message}</span>
      {onRetry && (
        <button type="button" className="link-button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function ProgressBar({ percent, active }: { percent: number; active: boolean }) {
  const clamped = Math.max(0, Math.min(100, percent));
  return (
    <div className={`progress${active ? " progress-active" : ""}`} role="progressbar" aria-valuenow={clamped} aria-valuemin={0} aria-valuemax={100}>
      <div className="progress-fill" style={{ width: `${clamped}%` }} />
    </div>
  );
}

export function Sql({ text, className }: { text?: string; className?: string }) {
  return <pre className={`sql ${className ?? ""}`}>{text?.trim() || "—"}</pre>;
}

/** An in-page confirmation: says exactly what will run where before anything does. */
export function ConfirmDialog(props: {
  title: string;
  children: ReactNode;
  confirmText: string;
  danger?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") props.onCancel();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [props]);
  // In a portal: the dialog must not inherit the layout of the table cell it is opened from.
  return createPortal(
    <div className="overlay" onClick={props.onCancel}>
      <div className="dialog" role="dialog" aria-modal="true" aria-label={props.title} onClick={(e) => e.stopPropagation()} data-testid="confirm-dialog">
        <h2>{props.title}</h2>
        <div className="dialog-body">{props.children}</div>
        <div className="actions dialog-actions">
          <button type="button" className="button" onClick={props.onCancel}>
            Cancel
          </button>
          <button type="button" autoFocus className={`button ${props.danger ? "button-danger-solid" : "button-primary"}`} onClick={props.onConfirm}>
            {props.confirmText}
          </button>
        </div>
      </div>
    </div>,
    document.body,
  );
}
