// Telling the person when a job they watch finishes: the jobs this tab started, and the job
// whose page is open. An in-page toast says how it ended (and a browser notification too,
// when the person allowed them). Watched jobs are kept per tab (sessionStorage), so a reload
// keeps watching; a job is announced once.
import { useEffect, useState } from "react";
import { api } from "./api";
import { Link } from "./components";
import { jobId } from "./format";
import type { Job } from "./types";

const WATCHED = "pgsage.watched";
const ANNOUNCED = "pgsage.announced";
const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);
const POLL_MS = 2000;
const KINDS: Record<string, string> = {
  ANALYZE: "Analysis",
  BENCHMARK: "Benchmark",
  APPLY: "Apply",
  ROLLBACK: "Rollback",
};

export interface Toast {
  id: string;
  job: string;
  state: string;
  title: string;
  body: string;
}

function read(key: string): string[] {
  try {
    const value = JSON.parse(window.sessionStorage.getItem(key) ?? "[]");
    return Array.isArray(value) ? value.filter((v) => typeof v === "string") : [];
  } catch {
    return [];
  }
}

function write(key: string, values: Iterable<string>): void {
  try {
    window.sessionStorage.setItem(key, JSON.stringify([...values].slice(-200)));
  } catch {
    // Storage full or disabled: watching still works until the page reloads.
  }
}

const watched = new Set(read(WATCHED));
const announced = new Set(read(ANNOUNCED));
const listeners = new Set<(toasts: Toast[]) => void>();
let toasts: Toast[] = [];

function publish(next: Toast[]): void {
  toasts = next;
  for (const listener of listeners) listener(toasts);
}

/** Starts watching a job (a job this tab started, or the one whose page is open). */
export function watchJob(name: string | undefined): void {
  if (!name || announced.has(name) || watched.has(name)) return;
  watched.add(name);
  write(WATCHED, watched);
}

/** What a finished job says in a toast. */
function describe(job: Job): { title: string; body: string } {
  const kind = KINDS[job.kind ?? ""] ?? "Job";
  const where = `${kind} of ${job.target ?? "?"}`;
  if (job.state === "SUCCEEDED") {
    const n = Number(job.counts?.suggestions ?? 0);
    const more = job.kind === "ANALYZE" ? ` with ${n} suggestion${n === 1 ? "" : "s"}` : "";
    return { title: `${where} succeeded`, body: `Finished${more}.` };
  }
  if (job.state === "FAILED") return { title: `${where} failed`, body: job.error?.message || "No reason was recorded." };
  return { title: `${where} was cancelled`, body: "It stopped before the end." };
}

/** Announces a watched job that has finished (once); pages that see the end first call it. */
export function jobFinished(job: Job | null | undefined): void {
  if (!job?.name || !TERMINAL.has(job.state ?? "") || !watched.has(job.name) || announced.has(job.name)) return;
  watched.delete(job.name);
  announced.add(job.name);
  write(WATCHED, watched);
  write(ANNOUNCED, announced);
  const { title, body } = describe(job);
  publish([...toasts, { id: `${job.name}-${Date.now()}`, job: job.name, state: job.state ?? "", title, body }]);
  if ("Notification" in window && Notification.permission === "granted") {
    try {
      const note = new Notification(`pgsage: ${title}`, { body, tag: job.name });
      note.onclick = () => {
        window.focus();
        window.location.assign(`/jobs/${jobId(job.name)}`);
      };
    } catch {
      // Some browsers allow notifications only from a service worker: the toast is enough.
    }
  }
}

function dismiss(id: string): void {
  publish(toasts.filter((t) => t.id !== id));
}

/** Polls the watched jobs no open page is following, until each finishes. */
async function poll(): Promise<void> {
  for (const name of [...watched]) {
    try {
      jobFinished(await api.getJob(name));
    } catch {
      // Deleted, or not ours to see any more: stop watching it.
      watched.delete(name);
      write(WATCHED, watched);
    }
  }
}

/** Offers browser notifications while the person has not decided. */
export function DesktopNotificationsButton() {
  const supported = typeof window !== "undefined" && "Notification" in window;
  const [permission, setPermission] = useState(supported ? Notification.permission : "denied");
  if (!supported || permission !== "default") return null;
  const ask = async () => setPermission(await Notification.requestPermission());
  return (
    <button type="button" className="link-button" onClick={() => void ask()} title="Also tell me on the desktop when a job I watch finishes" data-testid="desktop-notifications">
      notify me
    </button>
  );
}

/** The toasts, bottom right; and the polling of watched jobs while the app runs. */
export function Notifications() {
  const [shown, setShown] = useState<Toast[]>(toasts);
  useEffect(() => {
    listeners.add(setShown);
    const timer = window.setInterval(() => void poll(), POLL_MS);
    return () => {
      listeners.delete(setShown);
      window.clearInterval(timer);
    };
  }, []);
  if (!shown.length) return null;
  return (
    <div className="toasts" aria-live="polite">
      {shown.map((t) => (
        <div key={t.id} className={`toast toast-${t.state.toLowerCase()}`} role="status" data-testid="toast" data-job={t.job}>
          <div className="toast-text">
            <strong>{t.title}</strong>
            <span>{t.body}</span>
          </div>
          <Link href={`/jobs/${jobId(t.job)}`} className="button button-small">
            Open
          </Link>
          <button type="button" className="link-button" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
