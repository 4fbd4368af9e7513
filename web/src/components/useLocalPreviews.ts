import { useCallback, useEffect, useRef, useState } from "react";
import type { LocalPreview } from "./Attachments";

/**
 * Object URLs of images being sent, so the draft and the pending message show them before the
 * server has them. Keyed by upload id; an attachment id can be added as an alias once known.
 * `retain(ids)` revokes every preview no longer wanted; unmounting revokes them all.
 */
export function useLocalPreviews() {
  const [previews, setPreviews] = useState<Record<string, LocalPreview>>({});
  const aliases = useRef(new Map<string, string>());
  const live = useRef(previews);
  live.current = previews;

  const add = useCallback((key: string, file: Blob) => {
    if (!file.type.startsWith("image/") || typeof URL.createObjectURL !== "function") return;
    const url = URL.createObjectURL(file);
    setPreviews((p) => ({ ...p, [key]: { url, width: null, height: null } }));
    // Its size, so a pending image takes the place the sent one will.
    const img = new Image();
    img.onload = () =>
      setPreviews((p) => {
        const held = p[key];
        return held && held.url === url ? { ...p, [key]: { url, width: img.naturalWidth, height: img.naturalHeight } } : p;
      });
    img.src = url;
  }, []);

  const alias = useCallback((attachmentId: string, key: string) => {
    aliases.current.set(attachmentId, key);
  }, []);

  const get = useCallback((id: string): LocalPreview | undefined => previews[aliases.current.get(id) ?? id], [previews]);

  const retain = useCallback((ids: Set<string>) => {
    const keep = new Set<string>();
    for (const id of ids) keep.add(aliases.current.get(id) ?? id);
    const drop = Object.keys(live.current).filter((key) => !keep.has(key));
    if (drop.length === 0) return;
    for (const key of drop) URL.revokeObjectURL(live.current[key]!.url);
    for (const [attachmentId, key] of aliases.current) if (drop.includes(key)) aliases.current.delete(attachmentId);
    setPreviews((p) => Object.fromEntries(Object.entries(p).filter(([key]) => !drop.includes(key))));
  }, []);

  useEffect(
    () => () => {
      for (const p of Object.values(live.current)) URL.revokeObjectURL(p.url);
    },
    [],
  );

  return { previews, add, alias, get, retain };
}
