// Numbers and times as a DBA reads them.

export function bytes(value?: string | number): string {
  const n = Number(value ?? 0);
  if (!Number.isFinite(n) || n <= 0) return "—";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function percent(value?: number, digits = 1): string {
  if (value === undefined || value === null || !Number.isFinite(value)) return "—";
  return `${value.toFixed(digits)} %`;
}

export function shortId(name: string): string {
  const id = name.split("/").pop() ?? name;
  return id.slice(0, 8);
}

export function jobId(name: string): string {
  return name.split("/")[1] ?? name;
}

/** Local time to the second; with `millis`, to the millisecond (audit records, ordered
 * events that happen within one second). */
export function dateTime(value?: string, millis = false): string {
  if (!value) return "—";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  const pad = (n: number) => String(n).padStart(2, "0");
  const seconds = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const fraction = millis ? `.${String(d.getMilliseconds()).padStart(3, "0")}` : "";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${seconds}${fraction}`;
}

/** A whole number with thousands separators (1,234,567), "—" when unknown. */
export function count(value?: number | string): string {
  if (value === undefined || value === null || value === "") return "—";
  const n = Number(value);
  if (!Number.isFinite(n)) return "—";
  return Math.round(n).toLocaleString("en-US");
}

export function duration(start?: string, end?: string): string {
  if (!start) return "—";
  const from = new Date(start).getTime();
  const to = end ? new Date(end).getTime() : Date.now();
  const s = Math.max(0, Math.round((to - from) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export function label(enumName?: string): string {
  if (!enumName) return "—";
  return enumName.toLowerCase().replace(/_/g, " ");
}

export function analysisLabel(t: string): string {
  return { MISSING_INDEXES: "missing indexes", UNUSED_INDEXES: "unused indexes", DUPLICATE_INDEXES: "duplicate indexes" }[t] ?? label(t);
}
