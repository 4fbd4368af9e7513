import { type RefObject, useEffect, useRef } from "react";

/**
 * While `onEscape` is given, Escape pressed inside `ref`'s element calls it and goes no further:
 * the dialog's focus trap (which closes the dialog on Escape) listens on an ancestor, so a
 * native listener here runs first. Enable it together with mounting the element.
 */
export function useEscapeKey(ref: RefObject<HTMLElement | null>, onEscape: (() => void) | null | undefined): void {
  const handler = useRef(onEscape);
  handler.current = onEscape;
  const enabled = Boolean(onEscape);
  useEffect(() => {
    const el = ref.current;
    if (!el || !enabled) return undefined;
    const onKeyDown = (event: KeyboardEvent) => {
      if (event.key !== "Escape" || !handler.current) return;
      event.stopPropagation();
      event.preventDefault();
      handler.current();
    };
    el.addEventListener("keydown", onKeyDown);
    return () => el.removeEventListener("keydown", onKeyDown);
  }, [ref, enabled]);
}
