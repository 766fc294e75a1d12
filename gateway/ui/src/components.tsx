// Small building blocks shared by the pages.
import type { ReactNode } from "react";
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
