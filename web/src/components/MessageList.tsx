import { useLayoutEffect, useRef } from "react";
import type { DeliveryStatus, TimelineItem } from "../chat/selectors";
import { dayKey, dayLabel, timeLabel } from "./format";

export interface MessageListProps {
  items: TimelineItem[];
  /** Display name for a user id (defaults to the id). */
  nameOf?: (userId: string) => string;
  hasOlder?: boolean;
  loadingOlder?: boolean;
  onLoadOlder?: () => void;
  onRetry?: (clientMessageId: string) => void;
  onDiscard?: (clientMessageId: string) => void;
}

const STATUS_TEXT: Record<DeliveryStatus, string> = {
  pending: "Sending",
  failed: "Not sent",
  sent: "Sent",
  read: "Read",
};

const STATUS_MARK: Record<DeliveryStatus, string> = {
  pending: "\u{1F552}",
  failed: "!",
  sent: "\u2713",
  read: "\u2713\u2713",
};

export function ReadTicks({ status }: { status: DeliveryStatus }) {
  return (
    <span className={`chat-ticks chat-ticks--${status}`} data-status={status} title={STATUS_TEXT[status]}>
      <span aria-hidden="true">{STATUS_MARK[status]}</span>
      <span className="chat-visually-hidden">{STATUS_TEXT[status]}</span>
    </span>
  );
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
export function MessageList({ items, nameOf = (u) => u, hasOlder, loadingOlder, onLoadOlder, onRetry, onDiscard }: MessageListProps) {
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
              <li
                key={item.key}
                className={`chat-message ${item.mine ? "chat-message--mine" : "chat-message--theirs"}`}
                data-seq={item.message?.seq}
                data-status={item.status ?? undefined}
              >
                <span className="chat-visually-hidden">{item.mine ? "You" : nameOf(item.senderId)}: </span>
                <div className="chat-bubble">
                  <p className="chat-message__content">{item.content}</p>
                  <span className="chat-message__meta">
                    <time dateTime={item.createdAt}>{timeLabel(item.createdAt)}</time>
                    {item.status && <ReadTicks status={item.status} />}
                  </span>
                </div>
                {item.pending?.status === "failed" && (
                  <div className="chat-message__actions">
                    <span className="chat-message__error">{item.pending.error?.message ?? "Not sent"}</span>
                    <button type="button" className="chat-link-button" onClick={() => onRetry?.(item.pending!.clientMessageId)}>
                      Retry
                    </button>
                    <button type="button" className="chat-link-button" onClick={() => onDiscard?.(item.pending!.clientMessageId)}>
                      Delete
                    </button>
                  </div>
                )}
              </li>
            ))}
          </ol>
        </section>
      ))}
    </div>
  );
}
