// Who the browser's user is and what they may do, so that the UI offers only what the job
// service would allow. The server decides anyway: this only hides or disables, and says why.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api, ApiError, UNAUTHENTICATED_EVENT } from "./api";
import type { Caller, Role, Session, Suggestion } from "./types";

const RANK: Record<Role, number> = { ROLE_UNSPECIFIED: 0, VIEWER: 1, REVIEWER: 2, OPERATOR: 3, ADMIN: 4 };

export interface Access {
  /** "loading" until the caller is known; "signedOut" after a 401 (no or expired session). */
  state: "loading" | "ready" | "signedOut";
  caller: Caller | null;
  session: Session | null;
  /** Where to send the browser to sign in (the gateway's OIDC login). */
  loginUrl: string;
  reload: () => void;
}

const AccessContext = createContext<Access>({
  state: "loading",
  caller: null,
  session: null,
  loginUrl: "/auth/login",
  reload: () => {},
});

export function useAccess(): Access {
  return useContext(AccessContext);
}

/** The local OS user with every role: what a job service without authentication means. */
function localCaller(name?: string): Caller {
  return {
    subject: `local:${name ?? "local user"}`,
    displayName: name ?? "local user",
    authMethod: "LOCAL",
    localMode: true,
    roleBindings: [{ role: "ADMIN", targets: "*" }],
    twoPersonTargets: [],
  };
}

export function AccessProvider({ children }: { children: ReactNode }) {
  const [value, setValue] = useState<Omit<Access, "reload">>({
    state: "loading",
    caller: null,
    session: null,
    loginUrl: "/auth/login",
  });

  const load = useCallback(async () => {
    // A gateway without a session endpoint (404) has no sign-in: local mode.
    let session: Session | null = null;
    try {
      session = await api.session();
    } catch {
      session = null;
    }
    const loginUrl = session?.loginUrl || "/auth/login";
    try {
      const caller = await api.caller();
      setValue({ state: "ready", caller, session, loginUrl });
    } catch (e) {
      if (e instanceof ApiError && e.isUnauthenticated) {
        setValue({ state: "signedOut", caller: null, session, loginUrl });
      } else {
        // A job service that cannot tell (no GetCaller yet) runs without authentication.
        setValue({ state: "ready", caller: localCaller(session?.name ?? undefined), session, loginUrl });
      }
    }
  }, []);

  useEffect(() => {
    void load();
    const signedOut = () => setValue((old) => ({ ...old, state: "signedOut", caller: null }));
    window.addEventListener(UNAUTHENTICATED_EVENT, signedOut);
    return () => window.removeEventListener(UNAUTHENTICATED_EVENT, signedOut);
  }, [load]);

  return <AccessContext.Provider value={{ ...value, reload: () => void load() }}>{children}</AccessContext.Provider>;
}

/** Whether target name `target` matches `pattern` ("" and "*" match every target). */
export function matches(pattern: string | undefined, target: string): boolean {
  if (!pattern || pattern === "*") return true;
  const regex = pattern
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${regex}$`).test(target);
}

function everyTarget(pattern?: string): boolean {
  return !pattern || pattern === "*";
}

/** Whether `caller` holds `role` (or a higher one) on `target`; with no target, on every target. */
export function holds(caller: Caller | null, role: Role, target?: string): boolean {
  if (!caller) return false;
  return (caller.roleBindings ?? []).some(
    (b) => RANK[b.role ?? "ROLE_UNSPECIFIED"] >= RANK[role] && (target === undefined ? everyTarget(b.targets) : matches(b.targets, target)),
  );
}

export function roleWord(role?: Role): string {
  return (role ?? "ROLE_UNSPECIFIED").toLowerCase().replace("role_unspecified", "no role");
}

/** Why `access` does not allow an action needing `role` on `target`, or "" when it does. */
export function denial(access: Access, role: Role, target?: string): string {
  if (access.state === "loading") return "checking your roles…";
  if (access.state === "signedOut") return "sign in first";
  if (holds(access.caller, role, target)) return "";
  return `needs the ${roleWord(role)} role ${target === undefined ? "on every target" : `on ${target}`}`;
}

/** Whether APPLY on `target` must be created by someone other than the approver. */
export function twoPerson(caller: Caller | null, target?: string): boolean {
  return !!target && (caller?.twoPersonTargets ?? []).some((p) => matches(p, target));
}

/** "reviewer on every target, operator on staging-*". */
export function rolesText(caller: Caller | null): string {
  const bindings = caller?.roleBindings ?? [];
  if (!bindings.length) return "no role";
  return bindings.map((b) => `${roleWord(b.role)} on ${everyTarget(b.targets) ? "every target" : b.targets}`).join(", ");
}

/** Why `access` may not apply `s` on a two-person target: the caller approved it ("" if not).
 * The newest approval of the suggestion is in its audit trail; the server checks anyway. */
export function useTwoPersonBlock(access: Access, s: Suggestion, applicable: boolean): string {
  const [approver, setApprover] = useState<string | null>(null);
  const guarded = applicable && twoPerson(access.caller, s.target);
  useEffect(() => {
    if (!guarded) return;
    let stale = false;
    api.listAudit(`resource = "${s.name}" AND action = "suggestion.approve"`, "", 1).then(
      (page) => {
        if (!stale) setApprover(page.auditRecords?.[0]?.actorSubject ?? "");
      },
      () => {
        if (!stale) setApprover("");
      },
    );
    return () => {
      stale = true;
    };
  }, [guarded, s.name, s.etag, s.state]);
  if (!guarded || !approver || approver !== access.caller?.subject) return "";
  return `two-person rule on ${s.target}: you approved this suggestion, so someone else must apply it`;
}
