// Dates for the message list: day separators and message times, in the viewer's locale.

export function dayKey(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

export function dayLabel(iso: string, now: Date = new Date()): string {
  const d = new Date(iso);
  const startOf = (x: Date) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const days = Math.round((startOf(now) - startOf(d)) / 86_400_000);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  const sameYear = d.getFullYear() === now.getFullYear();
  return d.toLocaleDateString(undefined, sameYear ? { weekday: "long", month: "long", day: "numeric" } : { dateStyle: "long" });
}

export function timeLabel(iso: string): string {
  return new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

export function lastSeenLabel(iso: string | null, now: Date = new Date()): string {
  if (!iso) return "Offline";
  const key = dayKey(iso);
  if (key === dayKey(now.toISOString())) return `Last seen at ${timeLabel(iso)}`;
  const label = dayLabel(iso, now);
  const when = label === "Yesterday" ? "yesterday" : `on ${new Date(iso).toLocaleDateString()}`;
  return `Last seen ${when} at ${timeLabel(iso)}`;
}

export function fileSizeLabel(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** An inbox row's time: the time today, "Yesterday", else the date (with the year when not this one). */
export function shortTimeLabel(iso: string, now: Date = new Date()): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  if (dayKey(iso) === dayKey(now.toISOString())) return timeLabel(iso);
  if (dayLabel(iso, now) === "Yesterday") return "Yesterday";
  const sameYear = d.getFullYear() === now.getFullYear();
  return d.toLocaleDateString(undefined, sameYear ? { month: "short", day: "numeric" } : { year: "numeric", month: "short", day: "numeric" });
}

/** Up to two initials for an avatar: "Maria Lopez" -> "ML", "bob-42" -> "B". */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.slice(0, 2).map((w) => [...w][0] ?? "");
  return letters.join("").toUpperCase() || "?";
}
