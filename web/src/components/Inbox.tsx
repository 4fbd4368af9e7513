import { useEffect, useId } from "react";
import type { ProtocolError } from "../chat/protocol";
import type { InboxStatus } from "../chat/reducer";
import type { InboxEntry } from "../chat/selectors";
import type { SocketChat } from "../chat/useSocketChat";
import { problemText } from "./errors";
import { initials, lastSeenLabel, shortTimeLabel } from "./format";
import "./chat.css";

export interface InboxProps {
  /** The connection (useSocketChat); its `inbox` is drawn, and loaded if nothing loaded it yet. */
  client: SocketChat;
  /** A conversation was picked (click, Enter or Space). */
  onOpen: (chatId: string, entry: InboxEntry) => void;
  /** The conversation shown now: marked `aria-current`. */
  selectedChatId?: string | null;
  /** Display names by user id (default: the id). */
  nameOf?: (userId: string) => string;
  /** The heading (and the list's name). Default "Conversations". */
  title?: string;
  className?: string;
}

/**
 * The user's conversations, newest activity first: avatar (with the other person's presence in
 * direct chats), name, topic, last message, time and unread count; "Load more" while the
 * server has older ones. Live: it follows `client.inbox`.
 */
export function Inbox({ client, onOpen, selectedChatId, nameOf, title, className }: InboxProps) {
  const { inboxStatus, connection, loadChats } = client;
  // With `loadInbox: false` nothing has asked for it yet: the inbox being shown asks.
  useEffect(() => {
    if (inboxStatus === "idle" && connection === "connected") void loadChats();
  }, [inboxStatus, connection, loadChats]);
  return (
    <InboxView
      entries={client.inbox}
      status={inboxStatus}
      error={client.state.inbox.error}
      hasMore={client.hasMoreChats}
      loadingMore={client.loadingMoreChats}
      onLoadMore={() => void client.loadMoreChats()}
      onRetry={() => void client.loadChats()}
      onOpen={onOpen}
      me={client.me}
      selectedChatId={selectedChatId}
      nameOf={nameOf}
      title={title}
      className={className}
    />
  );
}

export interface InboxViewProps {
  entries: InboxEntry[];
  status: InboxStatus;
  error?: ProtocolError | null;
  hasMore?: boolean;
  loadingMore?: boolean;
  onLoadMore?: () => void;
  onRetry?: () => void;
  onOpen: (chatId: string, entry: InboxEntry) => void;
  me: string | null;
  selectedChatId?: string | null;
  nameOf?: (userId: string) => string;
  title?: string;
  className?: string;
  /** For tests: "now", for the times shown. */
  now?: Date;
}

const plainName = (userId: string) => userId;

/** The Inbox without a connection: everything it shows comes in props. */
export function InboxView({
  entries,
  status,
  error,
  hasMore,
  loadingMore,
  onLoadMore,
  onRetry,
  onOpen,
  me,
  selectedChatId,
  nameOf = plainName,
  title = "Conversations",
  className,
  now,
}: InboxViewProps) {
  const headingId = useId();
  return (
    <section className={`chat-inbox${className ? ` ${className}` : ""}`} aria-labelledby={headingId} data-status={status}>
      <h2 id={headingId} className="chat-inbox__title">
        {title}
      </h2>
      {(status === "loading" || status === "idle") && entries.length === 0 && (
        <p className="chat-inbox__note" role="status">
          Loading conversations…
        </p>
      )}
      {status === "error" && (
        <div className="chat-inbox__note" role="alert">
          {problemText("Could not load the conversations", error ?? { code: "INTERNAL", message: "" })}{" "}
          {onRetry && (
            <button type="button" className="chat-link-button" onClick={onRetry}>
              Try again
            </button>
          )}
        </div>
      )}
      {status === "loaded" && entries.length === 0 && <p className="chat-inbox__note">No conversations yet.</p>}
      {entries.length > 0 && (
        <ul className="chat-inbox__list" aria-labelledby={headingId}>
          {entries.map((entry) => (
            <li key={entry.chatId} className="chat-inbox__entry">
              <InboxItem entry={entry} me={me} nameOf={nameOf} selected={entry.chatId === selectedChatId} onOpen={onOpen} now={now} />
            </li>
          ))}
        </ul>
      )}
      {hasMore && (
        <button type="button" className="chat-inbox__more" onClick={onLoadMore} disabled={loadingMore} aria-busy={loadingMore || undefined}>
          {loadingMore ? "Loading…" : "Load more"}
        </button>
      )}
    </section>
  );
}

function InboxItem({
  entry,
  me,
  nameOf,
  selected,
  onOpen,
  now,
}: {
  entry: InboxEntry;
  me: string | null;
  nameOf: (userId: string) => string;
  selected: boolean;
  onOpen: (chatId: string, entry: InboxEntry) => void;
  now?: Date;
}) {
  const name = entry.otherUserId ? nameOf(entry.otherUserId) : entry.title;
  const last = entry.lastMessage;
  const sender = last && !last.deleted ? (last.senderId === me ? "You" : entry.type === "group" ? nameOf(last.senderId) : null) : null;
  const online = entry.presence?.online ?? false;
  const unread = entry.unreadCount;
  return (
    <button
      type="button"
      className="chat-inbox__item"
      aria-current={selected ? "true" : undefined}
      data-chat-id={entry.chatId}
      data-unread={unread}
      onClick={() => onOpen(entry.chatId, entry)}
    >
      <span className="chat-inbox__avatar" aria-hidden="true">
        {initials(name)}
        {entry.type === "direct" && <span className={`chat-inbox__dot chat-inbox__dot--${online ? "online" : "offline"}`} />}
      </span>
      <span className="chat-inbox__body">
        <span className="chat-inbox__row">
          <span className="chat-inbox__name">{name}</span>
          {entry.type === "direct" && entry.presence && (
            <span className="chat-visually-hidden">, {online ? "online" : lastSeenLabel(entry.presence.lastSeen).toLowerCase()}</span>
          )}
          <time className="chat-inbox__time" dateTime={entry.lastActivityAt}>
            {shortTimeLabel(entry.lastActivityAt, now)}
          </time>
        </span>
        {entry.topic && (
          <span className="chat-inbox__topic">
            <span className="chat-visually-hidden">About </span>
            {entry.topic}
          </span>
        )}
        <span className="chat-inbox__row">
          <span className={`chat-inbox__preview${last?.deleted ? " chat-inbox__preview--deleted" : ""}`}>
            {entry.blocked ? (
              <span className="chat-inbox__blocked">Blocked · </span>
            ) : null}
            {sender && `${sender}: `}
            {last ? entry.preview : "No messages yet"}
          </span>
          {unread > 0 && (
            <span className="chat-inbox__badge" data-testid="inbox-unread">
              {unread}
              <span className="chat-visually-hidden"> unread</span>
            </span>
          )}
        </span>
      </span>
    </button>
  );
}
