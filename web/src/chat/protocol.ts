// Wire types of protocol version 1 (docs/protocol.md). Only what the client reads.

export type ErrorCode =
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "INVALID"
  | "TOO_LARGE"
  | "RATE_LIMITED"
  | "UNAVAILABLE"
  | "INTERNAL"
  // Client-side codes: the ack never came, or there was no connection to send on.
  | "TIMEOUT"
  | "OFFLINE";

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
}

export interface GetMessagesAck {
  messages: Message[];
  hasMore: boolean;
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

/** Why `content` would be refused by the server, or null when it is acceptable. */
export function contentProblem(content: string): "empty" | "too_long" | null {
  if (content.trim().length === 0) return "empty";
  if (codePointLength(content) > MAX_CONTENT_CODE_POINTS) return "too_long";
  return null;
}

/** Errors worth retrying with the same clientMessageId (send_message is idempotent). */
export function isRetryable(code: string): boolean {
  return code === "UNAVAILABLE" || code === "RATE_LIMITED" || code === "INTERNAL" || code === "TIMEOUT" || code === "OFFLINE";
}
