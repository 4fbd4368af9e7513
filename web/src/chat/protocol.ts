// Wire types of protocol version 1 and 1.1 (docs/protocol.md). Only what the client reads.

export type ErrorCode =
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "INVALID"
  | "TOO_LARGE"
  | "RATE_LIMITED"
  | "UNAVAILABLE"
  | "INTERNAL"
  /** v1.1: one of a direct chat's two users blocks the other. */
  | "BLOCKED"
  // Client-side codes: the ack never came, or there was no connection to send on;
  // an upload the user cancelled.
  | "TIMEOUT"
  | "OFFLINE"
  | "CANCELLED";

export interface ProtocolError {
  code: ErrorCode | string;
  message: string;
}

export interface Message {
  id: string;
  chatId: string;
  seq: number;
  senderId: string;
  content: string;
  clientMessageId?: string | null;
  createdAt: string;
  // Version 1.1: always sent by this server; optional so that a v1 server's messages fit.
  /** null, or the time of the last edit. */
  editedAt?: string | null;
  /** A tombstone: content "", no replyTo, attachments or reactions. */
  deleted?: boolean;
  replyTo?: ReplyTo | null;
  /** Most reacted first. */
  reactions?: Reaction[];
  attachments?: Attachment[];
  /** The seq of the message's latest change; its own seq when never changed. */
  changeSeq?: number;
}

/** The quoted message, as it was when the reply was sent. */
export interface ReplyTo {
  id: string;
  senderId: string;
  /** Its first 100 code points, or its first attachment's name when it had no text. */
  snippet: string;
}

export interface Reaction {
  emoji: string;
  count: number;
  /** At most 20, sorted: a complete list only when its length equals `count`. */
  userIds: string[];
  /** Did the current user react with it: exact in per-user answers, derived for live events. */
  mine?: boolean;
}

export interface Attachment {
  id: string;
  name: string;
  contentType: string;
  size: number;
  /** Images only. */
  width?: number | null;
  height?: number | null;
  /** Signed, expiring, relative to the chat server unless it has a public URL. */
  url: string;
}

export interface MessageChange {
  type: "edit" | "delete" | "react";
  userId: string;
  /** Reactions only. */
  emoji?: string;
  add?: boolean;
}

/** `message_updated`: sent to every member, the acting socket included, without `mine`. */
export interface MessageUpdatedEvent {
  chatId: string;
  /** The change's seq (= message.changeSeq), from the chat's message counter. */
  seq: number;
  message: Message;
  change: MessageChange;
}

export interface UploadSlot {
  /** "POST" (a presigned S3 form: fields, then the file as `file`) or "PUT" (raw bytes). */
  method: string;
  url: string;
  fields?: Record<string, string> | null;
  headers?: Record<string, string> | null;
}

export interface RequestUploadAck {
  attachmentId: string;
  upload: UploadSlot;
  expiresAt: string;
}

export interface Chat {
  id: string;
  type: "direct" | "group";
  title: string | null;
  members: string[];
  createdAt: string;
  lastSeq: number;
  lastMessage: Message | null;
  unreadCount: number;
  /** Extension: each member's read mark, so read ticks survive a reload. */
  readSeqs?: Record<string, number>;
  /** Extension: the time of the last message, or the creation (the inbox's order). */
  lastActivityAt?: string;
  // Version 1.1 (conversations): always sent by this server; optional so that a v1 server's chats fit.
  /** A direct chat's subject (a listing, an order), opaque to the server; null without one. */
  topic?: string | null;
  /** A group's admins; [] for direct chats. */
  admins?: string[];
  /** A direct chat whose one member blocks the other: sends are refused with BLOCKED. */
  blocked?: boolean;
  /** Rises with every change of members, admins, title or block state: keep the highest seen. */
  version?: number;
}

/** What a `chat_updated` says happened (`by`: who made the change). */
export type ChatChange =
  | { type: "members_added"; by: string; userIds: string[] }
  | { type: "member_removed"; by: string; userId: string }
  | { type: "member_left"; by: string }
  | { type: "chat_renamed"; by: string }
  | { type: "admins_changed"; by: string }
  | { type: "blocked"; by: string }
  | { type: "unblocked"; by: string };

/** `chat_updated`: the chat after a change of members, admins, title or block state. */
export interface ChatUpdatedEvent {
  /** Without `unreadCount` (each member's comes with `unread_count`). */
  chat: Omit<Chat, "unreadCount"> & { unreadCount?: number };
  change: ChatChange;
}

/** `removed_from_chat`: the user was removed from the group, or left it (in another tab). */
export interface RemovedFromChatEvent {
  chatId: string;
}

export interface ListChatsAck {
  /** Newest activity first. */
  chats: Chat[];
  /** Opaque; null on the last page. */
  nextCursor: string | null;
}

export interface GetBlockedAck {
  userIds: string[];
}

/** `update_chat`: a group's new title (null clears it) and/or its whole new admin list. */
export interface ChatUpdate {
  title?: string | null;
  admins?: string[];
}

export interface PresenceEntry {
  userId: string;
  online: boolean;
  lastSeen: string | null;
}

export interface ConnectedEvent {
  userId: string;
  connectionId: string;
  serverTime: string;
  protocol: number;
}

export interface JoinChatAck {
  chat: Chat;
  messages: Message[];
  hasMore: boolean;
  /** v1.1, with sinceSeq: messages at or below it that changed after it, oldest change first. */
  updates?: Message[];
}

export interface GetMessagesAck {
  messages: Message[];
  hasMore: boolean;
  /** v1.1, with afterSeq: as in JoinChatAck. */
  updates?: Message[];
}

export interface SendMessageAck {
  message: Message;
}

export interface MarkReadAck {
  chatId: string;
  readSeq: number;
  unreadCount: number;
}

export interface ActiveUsersAck {
  /** Absent when asked without a chatId (every contact). */
  chatId?: string;
  users: PresenceEntry[];
}

export interface ChatInfoAck {
  chat: Chat;
}

export interface UnreadCountEvent {
  chatId: string;
  unreadCount: number;
  totalUnread: number;
}

export interface MessagesReadEvent {
  chatId: string;
  userId: string;
  readSeq: number;
}

export interface UserTypingEvent {
  chatId: string;
  userId: string;
  isTyping: boolean;
}

export interface ServerDrainingEvent {
  reconnectAfterMs: number;
}

export const MAX_CONTENT_CODE_POINTS = 4000;

/** Length as the server counts it: Unicode code points. */
export function codePointLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * Why `content` would be refused by the server, or null when it is acceptable. A message with
 * attachments may have no text.
 */
export function contentProblem(content: string, hasAttachments = false): "empty" | "too_long" | null {
  if (content.trim().length === 0) return hasAttachments ? null : "empty";
  if (codePointLength(content) > MAX_CONTENT_CODE_POINTS) return "too_long";
  return null;
}

/** Errors worth retrying with the same clientMessageId (send_message is idempotent). */
export function isRetryable(code: string): boolean {
  return code === "UNAVAILABLE" || code === "RATE_LIMITED" || code === "INTERNAL" || code === "TIMEOUT" || code === "OFFLINE";
}

/** The seq of a message's latest change (a v1 message never changes: its seq). */
export function changeSeqOf(message: Message): number {
  return message.changeSeq ?? message.seq;
}

export const MAX_SNIPPET_CODE_POINTS = 100;

/** What a reply quotes, as the server computes it: the first 100 code points, or the first attachment's name. */
export function replySnippet(message: Message): string {
  if (message.content.length > 0) return [...message.content].slice(0, MAX_SNIPPET_CODE_POINTS).join("");
  return message.attachments?.[0]?.name ?? "";
}
