// What a reviewer can do with a suggestion, and how the list filters and orders them.
import type { Suggestion } from "./types";

export type Action = "BENCHMARK" | "APPLY" | "ROLLBACK";
export const ACTION_WORDS: Record<Action, [string, string]> = {
  BENCHMARK: ["Benchmark", "benchmarking"],
  APPLY: ["Apply", "applying"],
  ROLLBACK: ["Roll back", "rolling back"],
};

/** The statement an action runs on the target: the reviewer's edit when there is one. */
export function statementOf(action: Action, s: Suggestion): string {
  if (action === "ROLLBACK") return (s.editedSql ? s.editedRollbackSql || s.rollbackSql : s.rollbackSql) ?? "";
  return s.editedSql || s.sql || "";
}

/** A drop with no affected query has nothing a benchmark could time. */
export function measurable(s: Suggestion): boolean {
  return s.kind === "CREATE_INDEX" || (s.queryImpacts?.length ?? 0) > 0;
}

/** What can be done next with a suggestion, as its state in the lifecycle allows. */
export function actionsFor(s: Suggestion): Action[] {
  const benchmark: Action[] = measurable(s) ? ["BENCHMARK"] : [];
  switch (s.state) {
    case "PENDING":
      return benchmark;
    case "APPROVED":
      return [...benchmark, "APPLY"];
    case "APPLY_FAILED":
    case "ROLLED_BACK":
      return ["APPLY"];
    case "APPLIED":
    case "ROLLBACK_FAILED":
      return ["ROLLBACK"];
    default:
      return [];
  }
}

export const FILTERS: Array<{ key: string; text: string; filter: string; match: (s: Suggestion) => boolean }> = [
  { key: "all", text: "All", filter: "", match: () => true },
  { key: "pending", text: "Pending", filter: "state = PENDING", match: (s) => s.state === "PENDING" },
  { key: "approved", text: "Approved", filter: "state = APPROVED", match: (s) => s.state === "APPROVED" },
  { key: "benchmarked", text: "Benchmarked", filter: "benchmarked = true", match: (s) => (s.benchmarks?.length ?? 0) > 0 },
  { key: "applied", text: "Applied", filter: "state = APPLIED", match: (s) => s.state === "APPLIED" },
  { key: "rolled_back", text: "Rolled back", filter: "state = ROLLED_BACK", match: (s) => s.state === "ROLLED_BACK" },
  { key: "dismissed", text: "Dismissed", filter: "state = DISMISSED", match: (s) => s.state === "DISMISSED" },
];

/** New indexes first, biggest gain first; then drops, biggest first. Superseded ones hidden. */
export function ordered(list?: Suggestion[]): Suggestion[] {
  const rank = (s: Suggestion) => (s.kind === "CREATE_INDEX" ? 0 : 1);
  return (list ?? [])
    .filter((s) => !s.superseded)
    .sort(
      (a, b) =>
        rank(a) - rank(b) ||
        (b.workloadImprovementPercent ?? 0) - (a.workloadImprovementPercent ?? 0) ||
        Number(b.estimatedSizeBytes ?? 0) - Number(a.estimatedSizeBytes ?? 0) ||
        a.name.localeCompare(b.name),
    );
}

