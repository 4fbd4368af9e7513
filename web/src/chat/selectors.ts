// Read-only views of the client state: what to draw, and what to ask the server next.
import type { Chat, Message, Reaction, ReplyTo } from "./protocol";
import { activityOf, type ChatClientState, type ChatState, directKey, type PendingMessage, type Presence, type UploadState } from "./reducer";

export type DeliveryStatus = "pending" | "failed" | "sent" | "read";

/** An attachment to draw: a pending send's has no url yet; an image has its size. */
export interface TimelineAttachment {
  id: string;
  name: string;
  contentType: string;
  size: number;
  width: number | null;
  height: number | null;
  url: string | null;
}

export interface TimelineItem {
  key: string;
  message: Message | null;
  pending: PendingMessage | null;
  senderId: string;
  content: string;
  createdAt: string;
  mine: boolean;
  /** For the current user's messages only. */
  status: DeliveryStatus | null;
  // Version 1.1 (optional, so that items built by hand for MessageList still fit).
  /** The time of the last edit, or null. */
  editedAt?: string | null;
  /** A tombstone: shown as "Message deleted", with nothing else. */
  deleted?: boolean;
  replyTo?: ReplyTo | null;
  reactions?: Reaction[];
  attachments?: TimelineAttachment[];
}

const NO_REACTIONS: Reaction[] = [];
const NO_ATTACHMENTS: TimelineAttachment[] = [];

/** Confirmed messages in seq order, then own unacknowledged sends in send order. */
export function selectTimeline(chat: ChatState | undefined, me: string | null): TimelineItem[] {
  if (!chat) return [];
  const others = (chat.info?.members ?? Object.keys(chat.readSeqs)).filter((u) => u !== me);
  const items: TimelineItem[] = chat.messages.map((m) => {
    const mine = m.senderId === me;
    let status: DeliveryStatus | null = null;
    if (mine) {
      const readByAll = others.length > 0 && others.every((u) => (chat.readSeqs[u] ?? 0) >= m.seq);
      status = readByAll ? "read" : "sent";
    }
    const deleted = m.deleted === true;
    return {
      key: m.id,
      message: m,
      pending: null,
      senderId: m.senderId,
      content: deleted ? "" : m.content,
      createdAt: m.createdAt,
      mine,
      status,
      editedAt: deleted ? null : (m.editedAt ?? null),
      deleted,
      replyTo: deleted ? null : (m.replyTo ?? null),
      reactions: deleted ? NO_REACTIONS : (m.reactions ?? NO_REACTIONS),
      attachments:
        deleted || !m.attachments?.length
          ? NO_ATTACHMENTS
          : m.attachments.map((a) => ({ ...a, width: a.width ?? null, height: a.height ?? null, url: a.url })),
    };
  });
  for (const p of chat.pending) {
    items.push({
      key: `pending:${p.clientMessageId}`,
      message: null,
      pending: p,
      senderId: p.senderId,
      content: p.content,
      createdAt: p.createdAt,
      mine: true,
      status: p.status,
      editedAt: null,
      deleted: false,
      replyTo: p.replyTo,
      reactions: NO_REACTIONS,
      attachments: p.attachments.length
        ? p.attachments.map((a) => ({ ...a, width: null, height: null, url: null }))
        : NO_ATTACHMENTS,
    });
  }
  return items;
}

/** Chats whose missing messages should be fetched now: get_messages {afterSeq}. */
export function selectGapFetches(state: ChatClientState, now: number): { chatId: string; afterSeq: number }[] {
  if (state.connection !== "connected") return [];
  const out: { chatId: string; afterSeq: number }[] = [];
  for (const chat of Object.values(state.chats)) {
    if (chat.loaded && chat.gap && !chat.fetching && chat.fetchRetryAt <= now) {
      out.push({ chatId: chat.id, afterSeq: chat.syncedSeq });
    }
  }
  return out;
}

/** The next send to put on the wire, keeping send order (head of line waits out its backoff). */
export function selectNextSend(state: ChatClientState, now: number): PendingMessage | null {
  if (state.connection !== "connected") return null;
  let head: PendingMessage | null = null;
  for (const chat of Object.values(state.chats)) {
    for (const p of chat.pending) {
      if (p.status !== "pending") continue;
      if (p.inFlight) return null;
      if (!head || p.order < head.order) head = p;
    }
  }
  return head && head.retryAt <= now ? head : null;
}

/** Earliest epoch ms at which a backoff ends (to schedule a wake-up), or null. */
export function selectNextWakeUp(state: ChatClientState): number | null {
  let at: number | null = null;
  const consider = (t: number) => {
    if (t > 0 && (at === null || t < at)) at = t;
  };
  for (const chat of Object.values(state.chats)) {
    if (chat.gap && !chat.fetching) consider(chat.fetchRetryAt);
    for (const p of chat.pending) if (p.status === "pending" && !p.inFlight) consider(p.retryAt);
    for (const until of Object.values(chat.typing)) consider(until);
  }
  return at;
}

/** The seq to mark read up to, when others' messages beyond the read mark are shown; else null. */
export function selectReadTarget(chat: ChatState | undefined, me: string | null): number | null {
  if (!chat || !me || !chat.loaded) return null;
  let target = 0;
  for (let i = chat.messages.length - 1; i >= 0; i--) {
    const m = chat.messages[i]!;
    if (m.senderId !== me) {
      target = m.seq;
      break;
    }
  }
  const mark = Math.max(chat.readSeqs[me] ?? 0, chat.readRequestedSeq);
  return target > mark ? target : null;
}

export function selectTypingUsers(chat: ChatState | undefined, now: number): string[] {
  if (!chat) return [];
  return Object.entries(chat.typing)
    .filter(([, until]) => until > now)
    .map(([user]) => user)
    .sort();
}

/** The direct chat with `recipientId` (about `topic`, when given) that was opened or listed. */
export function selectDirectChat(state: ChatClientState, recipientId: string, topic?: string | null): ChatState | undefined {
  const id = state.directChats[directKey(recipientId, topic)];
  return id ? state.chats[id] : undefined;
}

/** One conversation of the inbox. */
export interface InboxEntry {
  chatId: string;
  /** The chat object as last known (the highest version; preview and counts kept live). */
  chat: Chat;
  type: "direct" | "group";
  /** A group's title (or its other members' ids when it has none); a direct chat's other member. */
  title: string;
  /** A direct chat's subject (a listing, an order), or null. */
  topic: string | null;
  /** Direct chats: the other member. */
  otherUserId: string | null;
  lastMessage: Message | null;
  /** The last message in one line (see messagePreview); "" without one. */
  preview: string;
  /** ISO time of the last message, or of the creation. */
  lastActivityAt: string;
  unreadCount: number;
  /** Direct chats: the other member's presence, when known. */
  presence: Presence | null;
  blocked: boolean;
  /** The user is one of the group's admins. */
  isAdmin: boolean;
}

export const MAX_PREVIEW_CODE_POINTS = 100;

/** A message in one line: "Message deleted", its text (whitespace collapsed, at most 100 code points), or its first attachment's name. */
export function messagePreview(message: Message | null | undefined): string {
  if (!message) return "";
  if (message.deleted) return "Message deleted";
  const text = message.content.replace(/\s+/g, " ").trim();
  if (text) {
    const points = [...text];
    return points.length > MAX_PREVIEW_CODE_POINTS ? `${points.slice(0, MAX_PREVIEW_CODE_POINTS).join("")}…` : text;
  }
  return message.attachments?.[0]?.name ?? "";
}

/** What to call a chat: a group's title (or its other members), a direct chat's other member. */
export function chatTitle(info: Chat, me: string | null): string {
  const others = info.members.filter((u) => u !== me);
  if (info.type === "group") return info.title || others.join(", ") || "Group";
  return others[0] ?? info.title ?? info.id;
}

/**
 * The user's conversations, newest activity first (ties: by chat id, as the server pages them):
 * every chat whose object is known (inbox pages, joins, get_chat_info, chat_updated) and that the
 * user was not removed from. `loadMoreChats` adds older ones while `state.inbox.nextCursor` is set.
 */
export function selectInbox(state: Pick<ChatClientState, "chats" | "presence" | "me">): InboxEntry[] {
  const { me } = state;
  const entries: (InboxEntry & { at: number })[] = [];
  for (const chat of Object.values(state.chats)) {
    const info = chat.info;
    if (!info || chat.removed) continue;
    const direct = info.type === "direct";
    const otherUserId = direct ? (info.members.find((u) => u !== me) ?? null) : null;
    const lastActivityAt = activityOf(info);
    const at = Date.parse(lastActivityAt);
    entries.push({
      chatId: chat.id,
      chat: info,
      type: info.type,
      title: chatTitle(info, me),
      topic: info.topic ?? null,
      otherUserId,
      lastMessage: info.lastMessage,
      preview: messagePreview(info.lastMessage),
      lastActivityAt,
      unreadCount: chat.unreadCount,
      presence: otherUserId ? (state.presence[otherUserId] ?? null) : null,
      blocked: info.blocked === true,
      isAdmin: me !== null && (info.admins ?? []).includes(me),
      at: Number.isNaN(at) ? 0 : at,
    });
  }
  entries.sort((a, b) => b.at - a.at || (a.chatId < b.chatId ? 1 : a.chatId > b.chatId ? -1 : 0));
  return entries.map(({ at: _at, ...entry }) => entry);
}

/** The uploads of a chat, in the order they were started. */
export function selectUploads(state: ChatClientState, chatId: string | null): UploadState[] {
  if (!chatId) return [];
  return Object.values(state.uploads).filter((u) => u.chatId === chatId);
}
