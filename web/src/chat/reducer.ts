// Pure client state: no React, no socket. The controller turns socket events and
// acks into these actions, and reads the selectors at the bottom to decide what to
// ask the server next (gap fills, sends to retry).
import type {
  Chat,
  ChatChange,
  ChatUpdatedEvent,
  Message,
  MessagesReadEvent,
  MessageUpdatedEvent,
  PresenceEntry,
  ProtocolError,
  ReplyTo,
  UnreadCountEvent,
  UserTypingEvent,
} from "./protocol";
import {
  advanceSynced,
  applyStates,
  EXACT,
  highestKnownSeq,
  type Knowledge,
  LIVE,
  lastSeqOf,
  maxChangeSeq,
  maxSeq,
  mergeInto,
  settledAt,
} from "./messageState";
import { changeSeqOf } from "./protocol";

export { type Knowledge, MAX_DETACHED, mergeMessages, withMine } from "./messageState";

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "offline";

/** An attachment of a message not yet acknowledged (uploaded, so it has its server id). */
export interface PendingAttachment {
  id: string;
  name: string;
  contentType: string;
  size: number;
}

export interface PendingMessage {
  clientMessageId: string;
  chatId: string;
  senderId: string;
  content: string;
  createdAt: string;
  /** The quoted message (snippet made here, as the server will make it). */
  replyTo: ReplyTo | null;
  attachments: PendingAttachment[];
  /** Global queue position: sends go out (and are retried) in this order. */
  order: number;
  status: "pending" | "failed";
  inFlight: boolean;
  attempts: number;
  /** Epoch ms before which it is not retried (backoff after a retryable error). */
  retryAt: number;
  error: ProtocolError | null;
}

export interface ChatState {
  id: string;
  info: Chat | null;
  /** Confirmed messages, ascending by seq, unique by seq and id. */
  messages: Message[];
  /** Own messages not yet acknowledged, in send order. */
  pending: PendingMessage[];
  /** History has been loaded from the server; before that, only live messages are known. */
  loaded: boolean;
  /**
   * Every message with seq <= syncedSeq (down to the oldest loaded) is in `messages`, and in
   * its state after every change with a seq <= syncedSeq (changes take seqs from the same counter).
   */
  syncedSeq: number;
  /** Change seqs above syncedSeq seen live (message_updated), ascending: they count toward advancing it. */
  seenChangeSeqs: number[];
  /**
   * Newer states of messages not in `messages` (older than the loaded history, or the chat not
   * loaded yet), by message id: applied when the message arrives in an older state.
   */
  detached: Record<string, Message>;
  /** The server may hold messages after syncedSeq that we lack: fetch them. */
  gap: boolean;
  fetching: boolean;
  fetchRetryAt: number;
  hasOlder: boolean;
  loadingOlder: boolean;
  /** The app is viewing the chat (join_chat acked); rejoined after a reconnect. */
  joined: boolean;
  unreadCount: number;
  /** Members' read marks, the current user's included. */
  readSeqs: Record<string, number>;
  /** Highest seq a mark_messages_read was sent for (avoids re-sending the same mark). */
  readRequestedSeq: number;
  /** userId -> epoch ms when the typing indicator lapses. */
  typing: Record<string, number>;
  /**
   * The user is no longer a member (removed from the group, left it, or the chat was missing
   * from a fresh inbox page): out of the inbox, never rejoined; a chat_updated adding them back clears it.
   */
  removed: boolean;
}

export type InboxStatus = "idle" | "loading" | "loaded" | "error";

/**
 * The inbox's paging (list_chats). The conversations themselves are `chats` with their `info`
 * (selectInbox sorts them by last activity), so live events update one copy.
 */
export interface InboxState {
  /** "loading" only for the first load; a reload (reconnect, resync) keeps "loaded". */
  status: InboxStatus;
  /** The cursor of the next page; null when the last page is loaded (or none yet). */
  nextCursor: string | null;
  loadingMore: boolean;
  /** Why the last page request failed; cleared by the next answer. */
  error: ProtocolError | null;
  /**
   * Chats with live activity since the first page was last requested: a fresh first page that
   * lacks one of them was read before that activity, so it says nothing about the chat.
   */
  touched: string[];
}

/** Whom the user blocks, as far as this client knows. */
export interface BlockState {
  /** `userIds` is the complete list (get_blocked answered); else only the blocks made here. */
  known: boolean;
  userIds: string[];
}

export interface Presence {
  online: boolean;
  lastSeen: string | null;
}

export interface DrainingNotice {
  reconnectAfterMs: number;
  at: number;
}

export type UploadStatus = "requesting" | "uploading" | "uploaded" | "failed";

/** A file being attached: request_upload, then the upload itself; then a send refers to it. */
export interface UploadState {
  /** Local id (the attachment id is known only after request_upload). */
  id: string;
  chatId: string;
  fileName: string;
  contentType: string;
  size: number;
  /** Bytes sent so far. */
  loaded: number;
  status: UploadStatus;
  attachmentId: string | null;
  error: ProtocolError | null;
}

export interface ChatClientState {
  me: string | null;
  connection: ConnectionState;
  everConnected: boolean;
  draining: DrainingNotice | null;
  chats: Record<string, ChatState>;
  /** directKey(recipientId, topic) -> chatId of the direct chat with them (about that topic). */
  directChats: Record<string, string>;
  presence: Record<string, Presence>;
  /** The chat the app opened or joined last and has not left: what `messages` of the hook shows. */
  currentChatId: string | null;
  totalUnread: number;
  /**
   * totalUnread was last set by the server (`unread_count`): it already counts the chats this
   * client has no count for, so learning one of them does not add to it.
   */
  totalFromServer: boolean;
  nextOrder: number;
  lastError: ProtocolError | null;
  /** Why the last handshake was refused (e.g. UNAUTHORIZED); cleared once connected. */
  connectError: ProtocolError | null;
  /** Attachments being uploaded or uploaded and not sent yet, by local id. */
  uploads: Record<string, UploadState>;
  /** The inbox's paging; its conversations are `chats` with `info` (see selectInbox). */
  inbox: InboxState;
  blocks: BlockState;
}

export type ChatAction =
  | { type: "connection"; state: ConnectionState }
  | { type: "connected"; userId: string }
  | { type: "connect_failed"; error: ProtocolError }
  | { type: "draining"; reconnectAfterMs: number; now: number }
  | {
      type: "chat_joined";
      chat: Chat;
      messages: Message[];
      hasMore: boolean;
      sinceSeq?: number;
      recipientId?: string;
      /** With recipientId: the direct chat's topic (v1.1). */
      topic?: string | null;
      /** Changes to messages at or below sinceSeq (v1.1). */
      updates?: Message[];
    }
  | { type: "chat_opened"; chatId: string }
  | { type: "chat_left"; chatId: string }
  | { type: "chat_info"; chat: Chat }
  | { type: "message_received"; message: Message; now: number }
  | { type: "gap_suspected"; chatId: string }
  | { type: "fetch_started"; chatId: string }
  | { type: "messages_fetched"; chatId: string; messages: Message[]; hasMore: boolean; updates?: Message[] }
  | { type: "fetch_failed"; chatId: string; now: number; error: ProtocolError }
  | { type: "older_started"; chatId: string }
  | { type: "older_loaded"; chatId: string; messages: Message[]; hasMore: boolean }
  | { type: "older_failed"; chatId: string; error: ProtocolError }
  | {
      type: "send_queued";
      chatId: string;
      clientMessageId: string;
      content: string;
      senderId: string;
      createdAt: string;
      replyTo?: ReplyTo | null;
      attachments?: PendingAttachment[];
    }
  | { type: "send_started"; clientMessageId: string }
  | { type: "send_acked"; clientMessageId: string; message: Message }
  | { type: "send_failed"; clientMessageId: string; error: ProtocolError; retryable: boolean; now: number }
  | { type: "send_retry"; clientMessageId: string }
  | { type: "send_discarded"; clientMessageId: string }
  | { type: "unread_count"; event: UnreadCountEvent }
  | { type: "read_requested"; chatId: string; upToSeq: number }
  | { type: "read_acked"; chatId: string; readSeq: number; unreadCount: number }
  | { type: "read_failed"; chatId: string; error: ProtocolError }
  | { type: "messages_read"; event: MessagesReadEvent }
  | { type: "presence"; users: PresenceEntry[] }
  | { type: "user_online"; userId: string }
  | { type: "user_offline"; userId: string; lastSeen: string | null }
  | { type: "user_typing"; event: UserTypingEvent; now: number }
  | { type: "typing_expired"; now: number }
  /** A live `message_updated`: addressed to every member, so without `mine`. */
  | { type: "message_updated"; event: MessageUpdatedEvent }
  /** The ack of edit_message, delete_message or react: addressed to the user, `mine` exact. */
  | { type: "message_changed"; message: Message }
  | { type: "upload_started"; uploadId: string; chatId: string; fileName: string; contentType: string; size: number }
  | { type: "upload_slot"; uploadId: string; attachmentId: string }
  | { type: "upload_progress"; uploadId: string; loaded: number }
  | { type: "upload_done"; uploadId: string }
  | { type: "upload_failed"; uploadId: string; error: ProtocolError }
  | { type: "upload_removed"; uploadId: string }
  | { type: "error"; error: ProtocolError }
  // Conversations (protocol 1.1): the inbox, membership, blocking.
  /** A list_chats request went out: the first page (a load or reload) or the next one. */
  | { type: "inbox_requested"; more: boolean }
  | { type: "inbox_page"; chats: Chat[]; nextCursor: string | null; more: boolean }
  | { type: "inbox_failed"; more: boolean; error: ProtocolError }
  /** A chat object addressed to the user (an ack of add_members, remove_member, update_chat). */
  | { type: "chat_changed"; chat: Chat }
  /** `chat_updated`: to every member, without unreadCount. */
  | { type: "chat_updated"; event: ChatUpdatedEvent }
  /** `removed_from_chat`, or the ack of leave_chat {leaveGroup: true}. */
  | { type: "chat_removed"; chatId: string }
  | { type: "blocks_loaded"; userIds: string[] }
  | { type: "block_changed"; userId: string; blocked: boolean };

/** How long a remote "is typing" lasts without a refresh. */
export const TYPING_TTL_MS = 6000;
const FETCH_RETRY_MS = 2000;
const SEND_BACKOFF_BASE_MS = 1000;
const SEND_BACKOFF_MAX_MS = 15000;

export const initialState: ChatClientState = {
  me: null,
  connection: "connecting",
  everConnected: false,
  draining: null,
  chats: {},
  directChats: {},
  presence: {},
  currentChatId: null,
  totalUnread: 0,
  totalFromServer: false,
  nextOrder: 1,
  lastError: null,
  connectError: null,
  uploads: {},
  inbox: { status: "idle", nextCursor: null, loadingMore: false, error: null, touched: [] },
  blocks: { known: false, userIds: [] },
};

/**
 * The key of a direct chat in `directChats`: the other user, and the topic if there is one. User
 * ids never hold "#", so the key is unambiguous.
 */
export function directKey(recipientId: string, topic?: string | null): string {
  return topic == null ? recipientId : `${recipientId}#${topic}`;
}

export function emptyChat(id: string): ChatState {
  return {
    id,
    info: null,
    messages: [],
    pending: [],
    loaded: false,
    syncedSeq: 0,
    seenChangeSeqs: [],
    detached: {},
    gap: false,
    fetching: false,
    fetchRetryAt: 0,
    hasOlder: false,
    loadingOlder: false,
    joined: false,
    unreadCount: 0,
    readSeqs: {},
    readRequestedSeq: 0,
    typing: {},
    removed: false,
  };
}

// ---------------------------------------------------------------- helpers



/** Drop own pending sends that `messages` confirm (same sender and clientMessageId). */
function settlePending(pending: PendingMessage[], messages: Message[]): PendingMessage[] {
  if (pending.length === 0 || messages.length === 0) return pending;
  const confirmed = new Set<string>();
  for (const m of messages) if (m.clientMessageId) confirmed.add(`${m.senderId}\u0000${m.clientMessageId}`);
  const left = pending.filter((p) => !confirmed.has(`${p.senderId}\u0000${p.clientMessageId}`));
  return left.length === pending.length ? pending : left;
}

function maxReadSeqs(a: Record<string, number>, b: Record<string, number> | undefined): Record<string, number> {
  if (!b) return a;
  let out = a;
  for (const [user, seq] of Object.entries(b)) {
    if (typeof seq !== "number") continue;
    if ((out[user] ?? 0) < seq) {
      if (out === a) out = { ...a };
      out[user] = seq;
    }
  }
  return out;
}

function withChat(state: ChatClientState, chatId: string, update: (chat: ChatState) => ChatState): ChatClientState {
  const before = state.chats[chatId] ?? emptyChat(chatId);
  const after = update(before);
  if (after === before && state.chats[chatId]) return state;
  return { ...state, chats: { ...state.chats, [chatId]: after } };
}

function findPending(state: ChatClientState, clientMessageId: string): PendingMessage | undefined {
  for (const chat of Object.values(state.chats)) {
    const p = chat.pending.find((x) => x.clientMessageId === clientMessageId);
    if (p) return p;
  }
  return undefined;
}

function updatePending(
  state: ChatClientState,
  clientMessageId: string,
  update: (p: PendingMessage) => PendingMessage | null,
): ChatClientState {
  const p = findPending(state, clientMessageId);
  if (!p) return state;
  return withChat(state, p.chatId, (chat) => {
    const pending: PendingMessage[] = [];
    for (const x of chat.pending) {
      if (x.clientMessageId !== clientMessageId) pending.push(x);
      else {
        const next = update(x);
        if (next) pending.push(next);
      }
    }
    return { ...chat, pending };
  });
}

/**
 * The server raises a sender's read mark to their own message without a
 * `messages_read` event (docs/protocol.md, "Read mark on send"): mirror that.
 */
function senderReadMarks(readSeqs: Record<string, number>, messages: Message[]): Record<string, number> {
  let out = readSeqs;
  for (const m of messages) out = maxReadSeqs(out, { [m.senderId]: m.seq });
  return out;
}

/** Messages from the server: merged, settling own pending sends, raising senders' read marks. */
function takeMessages(chat: ChatState, incoming: Message[], me: string | null, how: Knowledge): ChatState {
  const merged = mergeInto(chat, incoming, me, how);
  const pending = settlePending(merged.pending, incoming);
  const readSeqs = senderReadMarks(merged.readSeqs, incoming);
  if (pending === merged.pending && readSeqs === merged.readSeqs) return merged;
  return { ...merged, pending, readSeqs };
}

/** New messages (live, or a send's ack): advance the contiguous mark of a loaded chat, or note a gap. */
function absorb(chat: ChatState, incoming: Message[], me: string | null, how: Knowledge): ChatState {
  let c = takeMessages(chat, incoming, me, how);
  if (c.messages !== chat.messages) c = advanceSynced(c);
  let { typing } = c;
  for (const m of incoming) {
    if (m.senderId in typing) {
      typing = { ...typing };
      delete typing[m.senderId];
    }
  }
  return typing === c.typing ? c : { ...c, typing };
}

/** A chat object from the server: addressed to the user (with unreadCount), or a chat_updated's (without). */
type IncomingChat = ChatUpdatedEvent["chat"];

function timeMs(iso: string | null | undefined): number {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? 0 : t;
}

/** When the chat was last active: its last message's time, or its creation. */
export function activityOf(info: Chat): string {
  let best = info.createdAt;
  for (const t of [info.lastActivityAt, info.lastMessage?.createdAt]) if (t && timeMs(t) > timeMs(best)) best = t;
  return best;
}

/** The later of two states of "the chat's last message": the higher seq, or of one message the higher changeSeq. */
function newerLast(held: Message | null, incoming: Message | null | undefined): Message | null {
  if (!incoming) return held;
  if (!held) return incoming;
  if (incoming.seq !== held.seq) return incoming.seq > held.seq ? incoming : held;
  if (incoming.id !== held.id) return held;
  return changeSeqOf(incoming) > changeSeqOf(held) ? incoming : held;
}

/**
 * The chat object to keep: members, admins, title, topic and block state of the higher
 * `version` (at an equal one, the incoming); the later last message; the incoming unread
 * count, or the one held when it has none (chat_updated).
 */
export function mergeInfo(held: Chat | null, incoming: IncomingChat, unreadCount: number): Chat {
  const unread = incoming.unreadCount ?? held?.unreadCount ?? unreadCount;
  if (!held) return { ...incoming, unreadCount: unread };
  let out: Chat = { ...incoming, unreadCount: unread };
  if ((incoming.version ?? 0) < (held.version ?? 0)) {
    out = { ...out, title: held.title, members: held.members, version: held.version };
    if (held.admins !== undefined) out.admins = held.admins;
    if (held.blocked !== undefined) out.blocked = held.blocked;
    if (held.topic !== undefined) out.topic = held.topic;
  }
  const lastMessage = newerLast(held.lastMessage, incoming.lastMessage);
  if (lastMessage !== out.lastMessage) out.lastMessage = lastMessage;
  if (held.lastSeq > out.lastSeq) out.lastSeq = held.lastSeq;
  if (held.lastActivityAt && timeMs(held.lastActivityAt) > timeMs(out.lastActivityAt)) out.lastActivityAt = held.lastActivityAt;
  return out;
}

function applyChatInfo(chat: ChatState, incoming: IncomingChat): ChatState {
  const info = mergeInfo(chat.info, incoming, chat.unreadCount);
  // Removed stays removed unless a newer version of the chat says otherwise (added back).
  const removed = chat.removed && chat.info !== null && (incoming.version ?? 0) <= (chat.info.version ?? 0);
  return {
    ...chat,
    info,
    unreadCount: info.unreadCount,
    readSeqs: maxReadSeqs(chat.readSeqs, incoming.readSeqs),
    removed,
  };
}

/** The chat's preview follows the newest message known (live, acked, fetched) and its changes. */
function noteLatest(chat: ChatState, candidates: Message[]): ChatState {
  const info = chat.info;
  if (!info || candidates.length === 0) return chat;
  let last = info.lastMessage;
  for (const m of candidates) last = newerLast(last, m);
  if (!last || last === info.lastMessage) return chat;
  const fresh = !info.lastMessage || last.seq > info.lastMessage.seq;
  const next: Chat = { ...info, lastMessage: last, lastSeq: Math.max(info.lastSeq, last.seq) };
  if (fresh && timeMs(last.createdAt) > timeMs(activityOf(info))) next.lastActivityAt = last.createdAt;
  return { ...chat, info: next };
}

/** A direct chat of the user is found by the other member (and topic) too: `directChats`. */
function mapDirect(state: ChatClientState, info: Chat | null | undefined): ChatClientState {
  const me = state.me;
  if (!info || info.type !== "direct" || !me || !info.members.includes(me)) return state;
  const other = info.members.find((u) => u !== me);
  if (!other) return state;
  const key = directKey(other, info.topic ?? null);
  if (key in state.directChats) return state;
  return { ...state, directChats: { ...state.directChats, [key]: info.id } };
}

/** A chat object from the server: kept (by version), the total moved by its count, mapped if direct. */
function learnChat(state: ChatClientState, incoming: IncomingChat): ChatClientState {
  const next = withChat(state, incoming.id, (chat) => applyChatInfo(chat, incoming));
  return mapDirect(withTotal(state, next, incoming.id), next.chats[incoming.id]?.info);
}

/** Live activity in a chat since the inbox's first page was asked for (see InboxState.touched). */
function touch(state: ChatClientState, chatId: string): ChatClientState {
  const { inbox } = state;
  if (inbox.status === "idle" || inbox.touched.includes(chatId)) return state;
  return { ...state, inbox: { ...inbox, touched: [...inbox.touched, chatId] } };
}

/** The user is no longer a member: out of the inbox, not viewed, nothing unread. */
function removeChat(state: ChatClientState, chatId: string): ChatClientState {
  let next = withChat(state, chatId, (chat) =>
    chat.removed && !chat.joined && chat.unreadCount === 0 ? chat : { ...chat, removed: true, joined: false, typing: {}, unreadCount: 0 },
  );
  next = withTotal(state, next, chatId);
  return next.currentChatId === chatId ? { ...next, currentChatId: null } : next;
}

/** A fresh first page: every chat it should hold but lacks is no longer the user's. */
function pruneMissing(state: ChatClientState, page: Chat[], nextCursor: string | null): ChatClientState {
  const listed = new Set(page.map((c) => c.id));
  // Chats newer than the page's last one were all in the page (the last page: every chat).
  const bound = nextCursor === null ? -Infinity : page.length > 0 ? timeMs(activityOf(page[page.length - 1]!)) : Infinity;
  let next = state;
  for (const chat of Object.values(state.chats)) {
    if (!chat.info || chat.removed || listed.has(chat.id) || chat.joined || chat.pending.length > 0) continue;
    if (state.inbox.touched.includes(chat.id)) continue;
    if (timeMs(activityOf(chat.info)) > bound) next = removeChat(next, chat.id);
  }
  return next;
}

/** A block made here: the user's direct chats with `userId` are blocked now (chat_updated follows). */
function markBlocked(state: ChatClientState, userId: string): ChatClientState {
  let next = state;
  for (const chat of Object.values(state.chats)) {
    const info = chat.info;
    if (!info || info.type !== "direct" || info.blocked || !info.members.includes(userId)) continue;
    next = withChat(next, chat.id, (c) => ({ ...c, info: { ...info, blocked: true } }));
  }
  return next;
}

// The server's totalUnread covers every chat of the user, also those this client never
// opened; a count learnt for one chat (join, chat info, read ack) moves the total by that
// chat's change only, so the chats the client does not know about stay counted.
function withTotal(before: ChatClientState, after: ChatClientState, chatId: string): ChatClientState {
  const held = before.chats[chatId];
  // A chat with no count here is in the server's total already (inbox pages, get_chat_info).
  if (!held && before.totalFromServer) return after;
  const was = held?.unreadCount ?? 0;
  const now = after.chats[chatId]?.unreadCount ?? 0;
  return now === was ? after : { ...after, totalUnread: Math.max(0, after.totalUnread + now - was) };
}

// ---------------------------------------------------------------- reducer

export function chatReducer(state: ChatClientState, action: ChatAction): ChatClientState {
  switch (action.type) {
    case "connection": {
      if (action.state === "connected") {
        // A fresh connection: retry unacked sends now, fetch again what failed.
        const chats: Record<string, ChatState> = {};
        for (const [id, chat] of Object.entries(state.chats)) {
          chats[id] = {
            ...chat,
            fetchRetryAt: 0,
            pending: chat.pending.map((p) => (p.retryAt || p.inFlight ? { ...p, retryAt: 0, inFlight: false } : p)),
          };
        }
        return { ...state, connection: "connected", everConnected: true, draining: null, connectError: null, chats };
      }
      if (state.connection === "connected") {
        // The connection went away: nothing is in flight on it any more, typing is stale.
        const chats: Record<string, ChatState> = {};
        for (const [id, chat] of Object.entries(state.chats)) {
          chats[id] = {
            ...chat,
            fetching: false,
            loadingOlder: false,
            readRequestedSeq: chat.readSeqs[state.me ?? ""] ?? 0,
            typing: {},
            pending: chat.pending.map((p) => (p.inFlight ? { ...p, inFlight: false } : p)),
          };
        }
        return { ...state, connection: action.state, chats };
      }
      return state.connection === action.state ? state : { ...state, connection: action.state };
    }

    case "connected":
      return state.me === action.userId ? state : { ...state, me: action.userId };

    case "connect_failed":
      return { ...state, connectError: action.error };

    case "draining":
      return { ...state, draining: { reconnectAfterMs: action.reconnectAfterMs, at: action.now } };

    case "chat_joined": {
      const { chat: info, messages, hasMore, sinceSeq, recipientId, topic, updates = [] } = action;
      let next = withChat(state, info.id, (chat) => {
        const recovering = sinceSeq !== undefined && chat.loaded;
        let c = applyChatInfo({ ...chat, joined: true }, info);
        c = noteLatest({ ...c, removed: false }, [...messages, ...updates]);
        c = takeMessages(c, messages, state.me, EXACT);
        c = { ...c, loaded: true, hasOlder: recovering ? c.hasOlder : hasMore };
        c = applyStates(c, updates, state.me, EXACT);
        if (recovering && hasMore) {
          // The answer stopped at C, the highest of its message seqs and update change seqs: more follow after it.
          return settledAt(c, Math.max(c.syncedSeq, maxSeq(messages), maxChangeSeq(updates)), true);
        }
        return settledAt(c, Math.max(highestKnownSeq(c), info.lastSeq, maxChangeSeq(updates)), false);
      });
      const key = recipientId === undefined ? undefined : directKey(recipientId, topic ?? info.topic ?? null);
      if (key !== undefined && next.directChats[key] !== info.id) {
        next = { ...next, directChats: { ...next.directChats, [key]: info.id } };
      }
      return mapDirect(withTotal(state, next, info.id), next.chats[info.id]?.info);
    }

    case "chat_opened":
      // Only a chat still joined: a join that resolves after the app left it does not count.
      if (!state.chats[action.chatId]?.joined || state.currentChatId === action.chatId) return state;
      return { ...state, currentChatId: action.chatId };

    case "chat_left": {
      const next = withChat(state, action.chatId, (chat) => (chat.joined ? { ...chat, joined: false, typing: {} } : chat));
      return next.currentChatId === action.chatId ? { ...next, currentChatId: null } : next;
    }

    case "chat_info": {
      const next = learnChat(state, action.chat);
      // The server has more than we know: fetch it.
      return withChat(next, action.chat.id, (c) =>
        c.loaded && !c.gap && action.chat.lastSeq > Math.max(c.syncedSeq, lastSeqOf(c.messages)) ? { ...c, gap: true } : c,
      );
    }

    case "message_received": {
      const m = action.message;
      const next = withChat(state, m.chatId, (chat) => noteLatest(absorb(chat, [m], state.me, LIVE), [m]));
      return touch(next, m.chatId);
    }

    case "message_updated": {
      const { seq, message, change } = action.event;
      const chatId = action.event.chatId ?? message.chatId;
      return withChat(state, chatId, (chat) => {
        let c = applyStates(chat, [message], state.me, { exact: false, change: change ?? null });
        if (c.loaded && seq > c.syncedSeq && !c.seenChangeSeqs.includes(seq)) {
          c = { ...c, seenChangeSeqs: [...c.seenChangeSeqs, seq].sort((a, b) => a - b) };
        }
        return noteLatest(advanceSynced(c), [message]);
      });
    }

    case "message_changed": {
      const m = action.message;
      return withChat(state, m.chatId, (chat) => noteLatest(applyStates(chat, [m], state.me, EXACT), [m]));
    }

    case "gap_suspected":
      return withChat(state, action.chatId, (chat) => (chat.loaded && !chat.gap ? { ...chat, gap: true } : chat));

    case "fetch_started":
      return withChat(state, action.chatId, (chat) => ({ ...chat, fetching: true }));

    case "messages_fetched":
      return withChat(state, action.chatId, (chat) => {
        const { messages, hasMore, updates = [] } = action;
        let c = takeMessages(chat, messages, state.me, EXACT);
        c = { ...noteLatest(applyStates(c, updates, state.me, EXACT), [...messages, ...updates]), fetching: false };
        if (hasMore) {
          // Continue after C, the highest of the answer's message seqs and update change seqs.
          return settledAt(c, Math.max(chat.syncedSeq, maxSeq(messages), maxChangeSeq(updates)), true);
        }
        // The answer covered everything the server had: whatever we know is complete.
        return { ...settledAt(c, Math.max(highestKnownSeq(c), maxChangeSeq(updates)), false), fetchRetryAt: 0 };
      });

    case "fetch_failed":
      return {
        ...withChat(state, action.chatId, (chat) => ({ ...chat, fetching: false, fetchRetryAt: action.now + FETCH_RETRY_MS })),
        lastError: action.error,
      };

    case "older_started":
      return withChat(state, action.chatId, (chat) => ({ ...chat, loadingOlder: true }));

    case "older_loaded":
      return withChat(state, action.chatId, (chat) => ({
        ...takeMessages(chat, action.messages, state.me, EXACT),
        loadingOlder: false,
        hasOlder: action.hasMore,
      }));

    case "older_failed":
      return {
        ...withChat(state, action.chatId, (chat) => ({ ...chat, loadingOlder: false })),
        lastError: action.error,
      };

    case "send_queued": {
      const p: PendingMessage = {
        clientMessageId: action.clientMessageId,
        chatId: action.chatId,
        senderId: action.senderId,
        content: action.content,
        createdAt: action.createdAt,
        replyTo: action.replyTo ?? null,
        attachments: action.attachments ?? [],
        order: state.nextOrder,
        status: "pending",
        inFlight: false,
        attempts: 0,
        retryAt: 0,
        error: null,
      };
      const next = withChat(state, action.chatId, (chat) => ({ ...chat, pending: [...chat.pending, p] }));
      return { ...next, nextOrder: state.nextOrder + 1 };
    }

    case "send_started":
      return updatePending(state, action.clientMessageId, (p) => ({ ...p, inFlight: true, attempts: p.attempts + 1 }));

    case "send_acked": {
      const m = action.message;
      const p = findPending(state, action.clientMessageId);
      const chatId = p?.chatId ?? m.chatId;
      const withMsg = withChat(state, chatId, (chat) => {
        const c = noteLatest(absorb(chat, [m], state.me, EXACT), [m]);
        // An ack settles its send even if the server echoed no clientMessageId.
        const pending = c.pending.filter((x) => x.clientMessageId !== action.clientMessageId);
        return pending.length === c.pending.length ? c : { ...c, pending };
      });
      return touch(withMsg, chatId);
    }

    case "send_failed": {
      // A send refused with BLOCKED says the chat is blocked (chat_updated says it too, if it came).
      const p = action.error.code === "BLOCKED" ? findPending(state, action.clientMessageId) : undefined;
      const known = p ? state.chats[p.chatId]?.info : undefined;
      const base =
        p && known && !known.blocked ? withChat(state, p.chatId, (chat) => ({ ...chat, info: { ...known, blocked: true } })) : state;
      return {
        ...updatePending(base, action.clientMessageId, (p) =>
          action.retryable
            ? {
                ...p,
                inFlight: false,
                retryAt: action.now + Math.min(SEND_BACKOFF_MAX_MS, SEND_BACKOFF_BASE_MS * 2 ** Math.max(0, p.attempts - 1)),
                error: action.error,
              }
            : { ...p, inFlight: false, status: "failed", error: action.error },
        ),
        lastError: action.error,
      };
    }

    case "send_retry":
      return updatePending(state, action.clientMessageId, (p) =>
        p.status === "failed" ? { ...p, status: "pending", retryAt: 0, error: null } : { ...p, retryAt: 0 },
      );

    case "send_discarded":
      return updatePending(state, action.clientMessageId, (p) => (p.inFlight ? p : null));

    case "unread_count": {
      const { chatId, unreadCount, totalUnread } = action.event;
      // A chat the client does not know, with nothing unread (e.g. one just left), is not worth an entry.
      if (!state.chats[chatId] && unreadCount === 0) {
        return state.totalUnread === totalUnread && state.totalFromServer ? state : { ...state, totalUnread, totalFromServer: true };
      }
      const next = withChat(state, chatId, (chat) => {
        if (chat.unreadCount === unreadCount && chat.info?.unreadCount === unreadCount) return chat;
        return { ...chat, unreadCount, info: chat.info ? { ...chat.info, unreadCount } : null };
      });
      return { ...next, totalUnread, totalFromServer: true };
    }

    case "read_requested":
      return withChat(state, action.chatId, (chat) =>
        action.upToSeq > chat.readRequestedSeq ? { ...chat, readRequestedSeq: action.upToSeq } : chat,
      );

    case "read_acked": {
      const next = withChat(state, action.chatId, (chat) => ({
        ...chat,
        unreadCount: action.unreadCount,
        readSeqs: state.me ? maxReadSeqs(chat.readSeqs, { [state.me]: action.readSeq }) : chat.readSeqs,
      }));
      return withTotal(state, next, action.chatId);
    }

    case "read_failed":
      return {
        ...withChat(state, action.chatId, (chat) => ({ ...chat, readRequestedSeq: chat.readSeqs[state.me ?? ""] ?? 0 })),
        lastError: action.error,
      };

    case "messages_read": {
      const { chatId, userId, readSeq } = action.event;
      return withChat(state, chatId, (chat) => {
        const readSeqs = maxReadSeqs(chat.readSeqs, { [userId]: readSeq });
        return readSeqs === chat.readSeqs ? chat : { ...chat, readSeqs };
      });
    }

    case "presence": {
      if (action.users.length === 0) return state;
      const presence = { ...state.presence };
      for (const u of action.users) presence[u.userId] = { online: u.online, lastSeen: u.lastSeen ?? null };
      return { ...state, presence };
    }

    case "user_online": {
      const prev = state.presence[action.userId];
      if (prev?.online) return state;
      return { ...state, presence: { ...state.presence, [action.userId]: { online: true, lastSeen: prev?.lastSeen ?? null } } };
    }

    case "user_offline": {
      const next = { ...state, presence: { ...state.presence, [action.userId]: { online: false, lastSeen: action.lastSeen } } };
      // Someone who left is no longer typing anywhere.
      let chats = next.chats;
      for (const [id, chat] of Object.entries(chats)) {
        if (action.userId in chat.typing) {
          const typing = { ...chat.typing };
          delete typing[action.userId];
          chats = { ...chats, [id]: { ...chat, typing } };
        }
      }
      return { ...next, chats };
    }

    case "user_typing": {
      const { chatId, userId, isTyping } = action.event;
      if (userId === state.me) return state;
      return withChat(state, chatId, (chat) => {
        if (isTyping) return { ...chat, typing: { ...chat.typing, [userId]: action.now + TYPING_TTL_MS } };
        if (!(userId in chat.typing)) return chat;
        const typing = { ...chat.typing };
        delete typing[userId];
        return { ...chat, typing };
      });
    }

    case "typing_expired": {
      let changed = false;
      const chats: Record<string, ChatState> = {};
      for (const [id, chat] of Object.entries(state.chats)) {
        const live = Object.entries(chat.typing).filter(([, until]) => until > action.now);
        if (live.length !== Object.keys(chat.typing).length) {
          changed = true;
          chats[id] = { ...chat, typing: Object.fromEntries(live) };
        } else chats[id] = chat;
      }
      return changed ? { ...state, chats } : state;
    }

    case "upload_started": {
      const upload: UploadState = {
        id: action.uploadId,
        chatId: action.chatId,
        fileName: action.fileName,
        contentType: action.contentType,
        size: action.size,
        loaded: 0,
        status: "requesting",
        attachmentId: null,
        error: null,
      };
      return { ...state, uploads: { ...state.uploads, [upload.id]: upload } };
    }

    case "upload_slot":
      return updateUpload(state, action.uploadId, (u) => ({ ...u, status: "uploading", attachmentId: action.attachmentId }));

    case "upload_progress":
      return updateUpload(state, action.uploadId, (u) =>
        u.status === "uploading" && action.loaded > u.loaded ? { ...u, loaded: Math.min(action.loaded, u.size) } : u,
      );

    case "upload_done":
      return updateUpload(state, action.uploadId, (u) => ({ ...u, status: "uploaded", loaded: u.size }));

    case "upload_failed":
      return { ...updateUpload(state, action.uploadId, (u) => ({ ...u, status: "failed", error: action.error })), lastError: action.error };

    case "upload_removed": {
      if (!(action.uploadId in state.uploads)) return state;
      const uploads = { ...state.uploads };
      delete uploads[action.uploadId];
      return { ...state, uploads };
    }

    case "error":
      return { ...state, lastError: action.error };

    case "inbox_requested": {
      const { inbox } = state;
      if (action.more) return inbox.loadingMore ? state : { ...state, inbox: { ...inbox, loadingMore: true } };
      return { ...state, inbox: { ...inbox, status: inbox.status === "loaded" ? "loaded" : "loading", touched: [] } };
    }

    case "inbox_page": {
      let next = state;
      for (const info of action.chats) next = learnChat(next, info);
      if (!action.more) next = pruneMissing(next, action.chats, action.nextCursor);
      return {
        ...next,
        inbox: { ...next.inbox, status: "loaded", nextCursor: action.nextCursor, loadingMore: false, error: null },
      };
    }

    case "inbox_failed": {
      const { inbox } = state;
      const status = action.more || inbox.status === "loaded" ? inbox.status : "error";
      return { ...state, inbox: { ...inbox, status, loadingMore: action.more ? false : inbox.loadingMore, error: action.error }, lastError: action.error };
    }

    case "chat_changed":
      return touch(learnChat(state, action.chat), action.chat.id);

    case "chat_updated": {
      const { chat, change } = action.event;
      const next = touch(learnChat(state, chat), chat.id);
      // Removed by this change (removed_from_chat says it too).
      return removedBy(change, state.me) ? removeChat(next, chat.id) : next;
    }

    case "chat_removed":
      return removeChat(state, action.chatId);

    case "blocks_loaded":
      return { ...state, blocks: { known: true, userIds: [...new Set(action.userIds)].sort() } };

    case "block_changed": {
      const has = state.blocks.userIds.includes(action.userId);
      let next = state;
      if (action.blocked && !has) next = { ...state, blocks: { ...state.blocks, userIds: [...state.blocks.userIds, action.userId].sort() } };
      if (!action.blocked && has) next = { ...state, blocks: { ...state.blocks, userIds: state.blocks.userIds.filter((u) => u !== action.userId) } };
      return action.blocked ? markBlocked(next, action.userId) : next;
    }
  }
}

function removedBy(change: ChatChange | undefined, me: string | null): boolean {
  if (!change || !me) return false;
  if (change.type === "member_removed") return change.userId === me;
  return change.type === "member_left" && change.by === me;
}

function updateUpload(state: ChatClientState, uploadId: string, update: (u: UploadState) => UploadState): ChatClientState {
  const before = state.uploads[uploadId];
  if (!before) return state;
  const after = update(before);
  return after === before ? state : { ...state, uploads: { ...state.uploads, [uploadId]: after } };
}
