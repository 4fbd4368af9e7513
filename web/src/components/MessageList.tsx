import { useLayoutEffect, useRef } from "react";
import type { TimelineItem } from "../chat/selectors";
import type { LocalPreview } from "./Attachments";
import { dayKey, dayLabel } from "./format";
import { type MessageActions, MessageItem } from "./MessageItem";

export { ReadTicks } from "./MessageItem";

export interface MessageListProps {
  items: TimelineItem[];
  /** Display name for a user id (defaults to the id). */
  nameOf?: (userId: string) => string;
  hasOlder?: boolean;
  loadingOlder?: boolean;
  onLoadOlder?: () => void;
  onRetry?: (clientMessageId: string) => void;
  onDiscard?: (clientMessageId: string) => void;
  /** Edit, delete, react, reply: each offered on confirmed messages when given. */
  actions?: MessageActions;
  /** Makes an attachment's url absolute (it is relative to the chat server). */
  resolveUrl?: (url: string) => string;
  /** Local previews of images being sent. */
  localPreview?: (attachmentId: string) => LocalPreview | undefined;
}

interface DayGroup {
  key: string;
  label: string;
  items: TimelineItem[];
}

function groupByDay(items: TimelineItem[]): DayGroup[] {
  const groups: DayGroup[] = [];
  for (const item of items) {
    const key = dayKey(item.createdAt);
    const last = groups[groups.length - 1];
    if (last && last.key === key) last.items.push(item);
    else groups.push({ key, label: dayLabel(item.createdAt), items: [item] });
  }
  return groups;
}

/** The conversation: a live log, one list per day. Content is always rendered as text. */
export function MessageList({
  items,
  nameOf = (u) => u,
  hasOlder,
  loadingOlder,
  onLoadOlder,
  onRetry,
  onDiscard,
  actions,
  resolveUrl,
  localPreview,
}: MessageListProps) {
  const scroller = useRef<HTMLDivElement>(null);
  const stickToBottom = useRef(true);
  const last = items.length > 0 ? items[items.length - 1]! : null;
  const lastKey = last?.key ?? "";
  const mineLast = last?.mine ?? false;

  // Follow new messages when the reader is at the bottom (or just sent one).
  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && (stickToBottom.current || mineLast)) el.scrollTop = el.scrollHeight;
  }, [lastKey, mineLast]);

  // The list shrinks when a reply quote or a photo is added to the composer: stay at the bottom.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el || typeof ResizeObserver === "undefined") return undefined;
    const observer = new ResizeObserver(() => {
      if (stickToBottom.current) el.scrollTop = el.scrollHeight;
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  const onScroll = () => {
    const el = scroller.current;
    if (el) stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
  };

  return (
    <div className="chat-messages" ref={scroller} onScroll={onScroll} role="log" aria-label="Messages" aria-live="polite" tabIndex={0}>
      {hasOlder && (
        <div className="chat-older">
          <button type="button" className="chat-link-button" onClick={onLoadOlder} disabled={loadingOlder}>
            {loadingOlder ? "Loading…" : "Load earlier messages"}
          </button>
        </div>
      )}
      {items.length === 0 && <p className="chat-empty">No messages yet. Say hello!</p>}
      {groupByDay(items).map((group) => (
        <section key={group.key} className="chat-day" aria-label={group.label}>
          <h3 className="chat-day__label">
            <span>{group.label}</span>
          </h3>
          <ol className="chat-day__list">
            {group.items.map((item) => (
              <MessageItem
                key={item.key}
                item={item}
                nameOf={nameOf}
                actions={actions}
                resolveUrl={resolveUrl}
                localPreview={localPreview}
                onRetry={onRetry}
                onDiscard={onDiscard}
              />
            ))}
          </ol>
        </section>
      ))}
    </div>
  );
}
