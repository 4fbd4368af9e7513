// Wires a Socket.IO connection to the pure reducer: socket events and acks become
// actions; after every change it looks at the state and does what is due (fill a
// gap, put the next send on the wire, retry after a backoff). No React here: the
// hook only subscribes to it.
import { io } from "socket.io-client";
import type {
  ActiveUsersAck,
  Chat,
  ChatInfoAck,
  ChatUpdate,
  ChatUpdatedEvent,
  ConnectedEvent,
  GetBlockedAck,
  GetMessagesAck,
  JoinChatAck,
  ListChatsAck,
  MarkReadAck,
  Message,
  MessagesReadEvent,
  MessageUpdatedEvent,
  ProtocolError,
  RemovedFromChatEvent,
  ReplyTo,
  RequestUploadAck,
  SendMessageAck,
  ServerDrainingEvent,
  UnreadCountEvent,
  UserTypingEvent,
} from "./protocol";
import { contentProblem, isRetryable, replySnippet } from "./protocol";
import { type ChatAction, type ChatClientState, chatReducer, directKey, initialState, type PendingAttachment } from "./reducer";
import { selectGapFetches, selectNextSend, selectNextWakeUp } from "./selectors";
import { sendUpload, type UploadXhr } from "./upload";

/** The part of socket.io-client's Socket the controller uses (a fake fits it in tests). */
export interface ChatSocket {
  readonly connected: boolean;
  readonly active: boolean;
  on(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener?: (...args: any[]) => void): unknown;
  connect(): unknown;
  disconnect(): unknown;
  timeout(ms: number): { emit(event: string, payload: unknown, ack: (err: Error | null, res: any) => void): unknown };
  readonly io: {
    reconnectionDelay(ms: number): unknown;
    reconnectionDelayMax(ms: number): unknown;
    on(event: string, listener: (...args: any[]) => void): unknown;
    off(event: string, listener?: (...args: any[]) => void): unknown;
  };
}

export interface SocketFactoryOptions {
  path: string;
  auth: (cb: (data: { token?: string }) => void) => void;
  reconnectionDelay: number;
  reconnectionDelayMax: number;
}

export interface ChatControllerOptions {
  /** Server origin, e.g. "https://chat.example.com". Default: the page's own origin. */
  url?: string;
  /** Socket.IO path. Default "/socket.io/". */
  path?: string;
  /** Called on every (re)connect attempt: return a fresh JWT. */
  getToken: () => Promise<string>;
  /** How long to wait for an ack before treating a request as lost. Default 10 s. */
  ackTimeoutMs?: number;
  /** First reconnect delay; doubles per attempt up to reconnectionDelayMaxMs. Default 500 ms. */
  reconnectionDelayMs?: number;
  reconnectionDelayMaxMs?: number;
  /** For tests: build the socket. Default: socket.io-client's `io`. */
  socketFactory?: (url: string | undefined, options: SocketFactoryOptions) => ChatSocket;
  now?: () => number;
  newClientMessageId?: () => string;
  /** For tests: the XMLHttpRequest an upload uses. Default: `new XMLHttpRequest()`. */
  createXhr?: () => UploadXhr;
  /**
   * Load the inbox's first page (list_chats) and everyone's presence (get_active_users) on every
   * connect. Default true; with false the inbox loads when `loadChats` is first called.
   */
  loadInbox?: boolean;
  /** Chats per list_chats page (1-100). Default 20. */
  inboxPageSize?: number;
}

/** What a message sent with `sendMessage` refers to besides its text (v1.1). */
export interface SendOptions {
  /** The id of the message this one replies to (a message of the same chat, not deleted). */
  replyTo?: string | null;
  /** Local ids of uploads of this chat that are `uploaded` (from `attach`); they are sent as attachmentIds. */
  uploadIds?: string[];
}

export class RequestError extends Error implements ProtocolError {
  readonly code: string;
  constructor(error: ProtocolError) {
    super(error.message);
    this.code = error.code;
  }
}

export class ContentError extends Error {
  readonly reason: "empty" | "too_long";
  constructor(reason: "empty" | "too_long") {
    super(reason === "empty" ? "Message is empty" : "Message is longer than 4000 characters");
    this.reason = reason;
  }
}

const TYPING_REFRESH_MS = 3000;
const AUTH_REFRESH_RETRY_MS = 15000;
const REFUSED_RETRY_BASE_MS = 1000;
const REFUSED_RETRY_MAX_MS = 30000;

export function randomId(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") c.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * What the default socket asks of socket.io-client. WebSocket first (one connection, no
 * stickiness needed), long-polling when WebSockets are blocked; cookies on cross-origin
 * requests (`withCredentials`), so a load balancer's stickiness cookie comes back and every
 * polling request of a session reaches the node that holds it. The server answers CORS with
 * `Access-Control-Allow-Credentials` for the origins it allows, never for `*`.
 */
export function socketOptions(options: SocketFactoryOptions) {
  return {
    path: options.path,
    auth: options.auth,
    transports: ["websocket", "polling"],
    tryAllTransports: true,
    withCredentials: true,
    autoConnect: false,
    forceNew: true,
    reconnection: true,
    reconnectionDelay: options.reconnectionDelay,
    reconnectionDelayMax: options.reconnectionDelayMax,
    randomizationFactor: 0.5,
  };
}

function defaultSocketFactory(url: string | undefined, options: SocketFactoryOptions): ChatSocket {
  return io(url, socketOptions(options)) as unknown as ChatSocket;
}

/** The `exp` of a JWT in epoch ms, or null (the client only reads it, to refresh in time). */
export function tokenExpiresAt(token: string): number | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp * 1000 : null;
  } catch {
    return null;
  }
}

function asError(err: unknown): ProtocolError {
  if (err && typeof err === "object" && "code" in err && "message" in err) {
    const e = err as { code: unknown; message: unknown };
    return { code: String(e.code), message: String(e.message) };
  }
  return { code: "INTERNAL", message: err instanceof Error ? err.message : String(err) };
}

export class ChatController {
  private state: ChatClientState = initialState;
  private readonly listeners = new Set<() => void>();
  /**
   * The Socket.IO socket: socket.io-client's Socket, or what `socketFactory` made. Listening
   * on it is safe; emitting chat events on it bypasses this controller's state.
   */
  readonly socket: ChatSocket;
  private readonly now: () => number;
  private readonly newId: () => string;
  private readonly ackTimeoutMs: number;
  private readonly reconnectionDelayMs: number;
  private readonly reconnectionDelayMaxMs: number;
  private getTokenFn: () => Promise<string>;
  private running = false;
  private driveQueued = false;
  private wakeTimer: ReturnType<typeof setTimeout> | null = null;
  private wakeAt = 0;
  private refusedTimer: ReturnType<typeof setTimeout> | null = null;
  private refusedAttempts = 0;
  private authTimer: ReturnType<typeof setTimeout> | null = null;
  /** The token the current connection was opened or last refreshed with. */
  private token: string | null = null;
  /** Direct chats opened by recipient (and topic), by directKey: joined again on every connect. */
  private readonly wantedDirect = new Map<string, { recipientId: string; topic: string | null }>();
  private readonly joinWaiters = new Map<string, { resolve: (chatId: string) => void; reject: (err: unknown) => void }[]>();
  /** Chats asked for by id (joinChat) while disconnected: joined on connect. */
  private readonly wantedChats = new Map<string, { resolve: () => void; reject: (err: unknown) => void }[]>();
  private readonly loadInbox: boolean;
  private readonly inboxPageSize: number;
  /** Bumped by every first-page request: a "more" answer from before it is stale. */
  private inboxGeneration = 0;
  private inboxFirst: Promise<void> | null = null;
  private inboxMore: Promise<void> | null = null;
  /** Chats whose object is being fetched because a message of theirs arrived. */
  private readonly infoWanted = new Set<string>();
  private readonly typingSent = new Map<string, { isTyping: boolean; at: number }>();
  private readonly handlers: [string, (...args: any[]) => void][];
  private readonly url: string | undefined;
  private readonly createXhr: () => UploadXhr;
  /** Uploads in progress, by local id: aborting one cancels it. */
  private readonly uploadAborts = new Map<string, AbortController>();

  constructor(options: ChatControllerOptions) {
    this.getTokenFn = options.getToken;
    this.now = options.now ?? (() => Date.now());
    this.newId = options.newClientMessageId ?? randomId;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 10000;
    this.reconnectionDelayMs = options.reconnectionDelayMs ?? 500;
    this.reconnectionDelayMaxMs = options.reconnectionDelayMaxMs ?? 5000;
    this.url = options.url;
    this.createXhr = options.createXhr ?? (() => new XMLHttpRequest() as unknown as UploadXhr);
    this.loadInbox = options.loadInbox ?? true;
    this.inboxPageSize = Math.min(100, Math.max(1, Math.floor(options.inboxPageSize ?? 20)));
    const factory = options.socketFactory ?? defaultSocketFactory;
    this.socket = factory(options.url, {
      path: options.path ?? "/socket.io/",
      auth: (cb) => this.provideAuth(cb),
      reconnectionDelay: this.reconnectionDelayMs,
      reconnectionDelayMax: this.reconnectionDelayMaxMs,
    });
    this.handlers = [
      ["connect", () => this.onConnect()],
      ["disconnect", (reason: string) => this.onDisconnect(reason)],
      ["connect_error", (err: Error & { data?: unknown }) => this.onConnectError(err)],
      ["connected", (e: ConnectedEvent) => this.dispatch({ type: "connected", userId: e.userId })],
      ["new_message", (m: Message) => this.onNewMessage(m)],
      ["message_updated", (e: MessageUpdatedEvent) => this.dispatch({ type: "message_updated", event: e })],
      [
        "message_sent",
        (e: { clientMessageId: string; message: Message }) =>
          this.dispatch({ type: "send_acked", clientMessageId: e.clientMessageId, message: e.message }),
      ],
      ["unread_count", (e: UnreadCountEvent) => this.onUnreadCount(e)],
      ["messages_read", (e: MessagesReadEvent) => this.dispatch({ type: "messages_read", event: e })],
      ["user_online", (e: { userId: string }) => this.dispatch({ type: "user_online", userId: e.userId })],
      [
        "user_offline",
        (e: { userId: string; lastSeen?: string | null }) =>
          this.dispatch({ type: "user_offline", userId: e.userId, lastSeen: e.lastSeen ?? null }),
      ],
      ["user_typing", (e: UserTypingEvent) => this.dispatch({ type: "user_typing", event: e, now: this.now() })],
      ["chat_error", (e: { code: string; message: string }) => this.dispatch({ type: "error", error: asError(e) })],
      ["server_draining", (e: ServerDrainingEvent) => this.onDraining(e)],
      ["resync", () => this.recover()],
      ["chat_updated", (e: ChatUpdatedEvent) => this.dispatch({ type: "chat_updated", event: e })],
      ["removed_from_chat", (e: RemovedFromChatEvent) => this.dispatch({ type: "chat_removed", chatId: e.chatId })],
    ];
  }

  // ------------------------------------------------------------ store

  getState = (): ChatClientState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  dispatch(action: ChatAction): void {
    const next = chatReducer(this.state, action);
    if (next === this.state) return;
    this.state = next;
    for (const l of this.listeners) l();
    this.scheduleDrive();
  }

  setGetToken(getToken: () => Promise<string>): void {
    this.getTokenFn = getToken;
  }

  // ------------------------------------------------------------ lifecycle

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const [event, fn] of this.handlers) this.socket.on(event, fn);
    if (typeof window !== "undefined") {
      window.addEventListener("online", this.onBrowserOnline);
      window.addEventListener("offline", this.onBrowserOffline);
    }
    const online = typeof navigator === "undefined" || navigator.onLine !== false;
    this.dispatch({ type: "connection", state: online ? (this.state.everConnected ? "reconnecting" : "connecting") : "offline" });
    this.socket.connect();
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    for (const [event, fn] of this.handlers) this.socket.off(event, fn);
    if (typeof window !== "undefined") {
      window.removeEventListener("online", this.onBrowserOnline);
      window.removeEventListener("offline", this.onBrowserOffline);
    }
    this.clearTimers();
    this.socket.disconnect();
    this.dispatch({ type: "connection", state: "offline" });
  }

  private clearTimers(): void {
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    if (this.refusedTimer) clearTimeout(this.refusedTimer);
    if (this.authTimer) clearTimeout(this.authTimer);
    this.wakeTimer = null;
    this.refusedTimer = null;
    this.authTimer = null;
  }

  private provideAuth(cb: (data: { token?: string }) => void): void {
    this.getTokenFn().then(
      (token) => {
        this.token = token;
        cb({ token });
      },
      (err: unknown) => {
        this.dispatch({ type: "connect_failed", error: { code: "UNAUTHORIZED", message: `getToken failed: ${asError(err).message}` } });
        cb({});
      },
    );
  }

  private onConnect(): void {
    this.refusedAttempts = 0;
    this.socket.io.reconnectionDelay(this.reconnectionDelayMs);
    this.socket.io.reconnectionDelayMax(this.reconnectionDelayMaxMs);
    this.typingSent.clear();
    this.dispatch({ type: "connection", state: "connected" });
    this.scheduleAuthRefresh(this.token ? tokenExpiresAt(this.token) : null);
    this.recover();
  }

  /**
   * The server disconnects a socket whose token expires; before that, hand it a fresh
   * one with `auth_refresh` (a fifth of the remaining time, at most a minute, early).
   */
  private scheduleAuthRefresh(expiresAt: number | null): void {
    if (this.authTimer) clearTimeout(this.authTimer);
    this.authTimer = null;
    if (expiresAt === null || !this.running) return;
    const left = expiresAt - this.now();
    const delay = Math.max(1000, left - Math.min(60000, left / 5));
    this.authTimer = setTimeout(() => {
      this.authTimer = null;
      void this.refreshAuth(expiresAt);
    }, delay);
  }

  private async refreshAuth(expiresAt: number): Promise<void> {
    if (!this.socket.connected) return;
    try {
      const token = await this.getTokenFn();
      const ack = await this.request<{ expiresAt?: string }>("auth_refresh", { token });
      this.token = token;
      const next = ack.expiresAt ? Date.parse(ack.expiresAt) : tokenExpiresAt(token);
      this.scheduleAuthRefresh(next !== null && !Number.isNaN(next) ? next : null);
    } catch {
      // Try again while there is time; if it runs out the server disconnects us and the
      // reconnect asks getToken for a new token anyway.
      if (this.socket.connected && expiresAt - this.now() > AUTH_REFRESH_RETRY_MS) {
        this.authTimer = setTimeout(() => {
          this.authTimer = null;
          void this.refreshAuth(expiresAt);
        }, AUTH_REFRESH_RETRY_MS);
      }
    }
  }

  private onDisconnect(reason: string): void {
    if (this.authTimer) clearTimeout(this.authTimer);
    this.authTimer = null;
    if (!this.running || reason === "io client disconnect") {
      this.dispatch({ type: "connection", state: "offline" });
      return;
    }
    this.dispatch({ type: "connection", state: this.browserOnline() ? "reconnecting" : "offline" });
    // The stock client stays down after a server-side disconnect packet; come back anyway.
    if (reason === "io server disconnect") this.retryRefused();
  }

  private onConnectError(err: Error & { data?: unknown }): void {
    const error = err.data ? asError(err.data) : { code: "UNAVAILABLE", message: err.message };
    this.dispatch({ type: "connect_failed", error });
    const waiting = this.state.everConnected ? "reconnecting" : "connecting";
    this.dispatch({ type: "connection", state: this.browserOnline() ? waiting : "offline" });
    // Refused by the server (e.g. an expired token): socket.io-client gives up, so we
    // retry ourselves; `auth` asks getToken for a fresh token each time.
    if (!this.socket.active) this.retryRefused(error.code === "UNAUTHORIZED" ? REFUSED_RETRY_MAX_MS : this.reconnectionDelayMaxMs);
  }

  private retryRefused(maxDelayMs = this.reconnectionDelayMaxMs): void {
    if (this.refusedTimer || !this.running) return;
    const delay = Math.min(maxDelayMs, REFUSED_RETRY_BASE_MS * 2 ** this.refusedAttempts);
    this.refusedAttempts++;
    this.refusedTimer = setTimeout(() => {
      this.refusedTimer = null;
      if (this.running && !this.socket.connected) this.socket.connect();
    }, delay * (0.75 + Math.random() * 0.5));
  }

  private onDraining(e: ServerDrainingEvent): void {
    const after = Math.max(0, Number(e.reconnectAfterMs) || 0);
    this.dispatch({ type: "draining", reconnectAfterMs: after, now: this.now() });
    // The node closes the transport next; the manager's first retry then waits about
    // reconnectAfterMs (with its jitter) instead of the usual short delay.
    if (after > 0) {
      this.socket.io.reconnectionDelayMax(Math.max(this.reconnectionDelayMaxMs, after * 2));
      this.socket.io.reconnectionDelay(after);
    }
  }

  private browserOnline(): boolean {
    return typeof navigator === "undefined" || navigator.onLine !== false;
  }

  private onBrowserOnline = (): void => {
    if (!this.running || this.socket.connected) return;
    this.dispatch({ type: "connection", state: this.state.everConnected ? "reconnecting" : "connecting" });
    this.socket.connect();
  };

  private onBrowserOffline = (): void => {
    if (!this.socket.connected) this.dispatch({ type: "connection", state: "offline" });
  };

  // ------------------------------------------------------------ requests

  /** Emit with an ack; resolves with the success fields, rejects with RequestError. */
  request<T>(event: string, payload: unknown): Promise<T> {
    if (!this.socket.connected) {
      return Promise.reject(new RequestError({ code: "OFFLINE", message: "not connected" }));
    }
    return new Promise<T>((resolve, reject) => {
      this.socket.timeout(this.ackTimeoutMs).emit(event, payload, (err, res) => {
        if (err) reject(new RequestError({ code: "TIMEOUT", message: `no answer to ${event}` }));
        else if (res && res.ok === true) resolve(res as T);
        else reject(new RequestError(asError(res?.error ?? { code: "INTERNAL", message: "malformed ack" })));
      });
    });
  }

  /** After a (re)connect or a `resync`: catch up on every chat we know. */
  private recover(): void {
    const { chats } = this.state;
    for (const [key, wanted] of this.wantedDirect) {
      const chatId = this.state.directChats[key];
      if (!chatId || !chats[chatId]?.joined) void this.joinDirect(wanted.recipientId, wanted.topic).catch(() => undefined);
    }
    const waiting = new Map(this.wantedChats);
    this.wantedChats.clear();
    for (const [chatId, waiters] of waiting) {
      this.rejoin(chatId).then(
        () => {
          for (const w of waiters) w.resolve();
        },
        (err: unknown) => {
          this.goneIfNotFound(chatId, err);
          for (const w of waiters) w.reject(err);
        },
      );
    }
    for (const chat of Object.values(chats)) {
      if (chat.removed || waiting.has(chat.id)) continue;
      if (chat.joined) {
        void this.rejoin(chat.id).catch((err: unknown) => this.goneIfNotFound(chat.id, err));
      } else if (chat.loaded) {
        this.dispatch({ type: "gap_suspected", chatId: chat.id });
        this.request<ChatInfoAck>("get_chat_info", { chatId: chat.id }).then(
          (ack) => this.dispatch({ type: "chat_info", chat: ack.chat }),
          (err: unknown) => this.goneIfNotFound(chat.id, err),
        );
      }
    }
    // The inbox: its first page again (counts, previews, order), and everyone's presence.
    if (this.loadInbox || this.state.inbox.status !== "idle") void this.loadChats();
  }

  /** NOT_FOUND for a chat the user had: they were removed from it (while away). */
  private goneIfNotFound(chatId: string, err: unknown): void {
    if (asError(err).code === "NOT_FOUND") this.dispatch({ type: "chat_removed", chatId });
  }

  private onNewMessage(m: Message): void {
    this.dispatch({ type: "message_received", message: m, now: this.now() });
    this.learnChatOf(m.chatId);
  }

  private onUnreadCount(e: UnreadCountEvent): void {
    this.dispatch({ type: "unread_count", event: e });
    // Also a second chance for a chat whose get_chat_info failed.
    if (e.unreadCount > 0) this.learnChatOf(e.chatId);
  }

  /** A conversation the inbox does not know yet (a new chat, or one older than the pages loaded): get_chat_info. */
  private learnChatOf(chatId: string): void {
    const chat = this.state.chats[chatId];
    if (!chat || chat.info || chat.removed || this.infoWanted.has(chatId) || !this.socket.connected) return;
    if (this.state.inbox.status === "idle" && !this.loadInbox) return;
    this.infoWanted.add(chatId);
    this.request<ChatInfoAck>("get_chat_info", { chatId })
      .then(
        (ack) => {
          this.dispatch({ type: "chat_info", chat: ack.chat });
          if (ack.chat.type === "direct") void this.refreshPresence(chatId);
        },
        () => undefined,
      )
      .finally(() => this.infoWanted.delete(chatId));
  }

  private scheduleDrive(): void {
    if (this.driveQueued) return;
    this.driveQueued = true;
    queueMicrotask(() => {
      this.driveQueued = false;
      this.drive();
    });
  }

  /** Do whatever the state says is due now, and wake up when a backoff ends. */
  private drive(): void {
    if (!this.running) return;
    const now = this.now();
    for (const { chatId, afterSeq } of selectGapFetches(this.state, now)) {
      this.dispatch({ type: "fetch_started", chatId });
      this.request<GetMessagesAck>("get_messages", { chatId, afterSeq, limit: 100 }).then(
        (ack) =>
          this.dispatch({ type: "messages_fetched", chatId, messages: ack.messages, hasMore: ack.hasMore, updates: ack.updates ?? [] }),
        (err: unknown) => this.dispatch({ type: "fetch_failed", chatId, now: this.now(), error: asError(err) }),
      );
    }
    const next = selectNextSend(this.state, now);
    if (next) {
      const { clientMessageId, chatId, content, replyTo, attachments } = next;
      this.dispatch({ type: "send_started", clientMessageId });
      const payload: Record<string, unknown> = { chatId, content, clientMessageId };
      if (replyTo) payload.replyTo = replyTo.id;
      if (attachments.length > 0) payload.attachmentIds = attachments.map((a) => a.id);
      this.request<SendMessageAck>("send_message", payload).then(
        (ack) => this.dispatch({ type: "send_acked", clientMessageId, message: ack.message }),
        (err: unknown) => {
          const error = asError(err);
          this.dispatch({ type: "send_failed", clientMessageId, error, retryable: isRetryable(error.code), now: this.now() });
        },
      );
    }
    if (Object.values(this.state.chats).some((c) => Object.values(c.typing).some((until) => until <= now))) {
      this.dispatch({ type: "typing_expired", now });
    }
    const wake = selectNextWakeUp(this.state);
    if (wake !== null && wake > now && (this.wakeTimer === null || wake < this.wakeAt)) {
      if (this.wakeTimer) clearTimeout(this.wakeTimer);
      this.wakeAt = wake;
      this.wakeTimer = setTimeout(() => {
        this.wakeTimer = null;
        this.drive();
      }, wake - now + 5);
    }
  }

  // ------------------------------------------------------------ public API

  /**
   * Open (creating if needed) the direct chat with `recipientId`, about `topic` when given (one
   * chat per pair and topic; without one, the pair's plain chat); resolves with its chat id.
   * It becomes the current chat (`currentChatId`). Rejects with a RequestError (BLOCKED when
   * either blocks the other and the chat does not exist yet).
   */
  async openDirectChat(recipientId: string, topic?: string | null): Promise<string> {
    const chatId = await this.directChatId(recipientId, topic ?? null);
    this.dispatch({ type: "chat_opened", chatId });
    return chatId;
  }

  private directChatId(recipientId: string, topic: string | null): Promise<string> {
    const key = directKey(recipientId, topic);
    this.wantedDirect.set(key, { recipientId, topic });
    const known = this.state.directChats[key];
    if (known && this.state.chats[known]?.joined) return Promise.resolve(known);
    if (this.socket.connected) return this.joinDirect(recipientId, topic);
    // Joined on connect (see recover); settled then.
    return new Promise((resolve, reject) => {
      const list = this.joinWaiters.get(key) ?? [];
      list.push({ resolve, reject });
      this.joinWaiters.set(key, list);
    });
  }

  private async joinDirect(recipientId: string, topic: string | null): Promise<string> {
    const key = directKey(recipientId, topic);
    // A direct chat known from before (left, then opened again) asks only for what it lacks.
    const known = this.state.chats[this.state.directChats[key] ?? ""];
    const sinceSeq = known?.loaded ? known.syncedSeq : undefined;
    const payload: Record<string, unknown> = { recipientId };
    if (topic !== null) payload.topic = topic;
    if (sinceSeq !== undefined) payload.sinceSeq = sinceSeq;
    let ack: JoinChatAck;
    try {
      ack = await this.request<JoinChatAck>("join_chat", payload);
    } catch (err) {
      const error = asError(err);
      if (!isRetryable(error.code)) {
        // Refused for good (BLOCKED, INVALID, FORBIDDEN): not asked again on every reconnect.
        this.wantedDirect.delete(key);
        for (const waiter of this.joinWaiters.get(key) ?? []) waiter.reject(err);
        this.joinWaiters.delete(key);
        this.dispatch({ type: "error", error });
      }
      throw err instanceof RequestError ? err : new RequestError(error);
    }
    this.dispatch({
      type: "chat_joined",
      chat: ack.chat,
      messages: ack.messages,
      hasMore: ack.hasMore,
      recipientId,
      topic,
      sinceSeq,
      updates: ack.updates ?? [],
    });
    for (const waiter of this.joinWaiters.get(key) ?? []) waiter.resolve(ack.chat.id);
    this.joinWaiters.delete(key);
    void this.refreshPresence(ack.chat.id);
    return ack.chat.id;
  }

  /** Join (view) a chat, which becomes the current chat; after the first time, asks only for what was missed (sinceSeq). */
  async joinChat(chatId: string): Promise<void> {
    if (this.socket.connected) await this.rejoin(chatId);
    else {
      // Joined on connect (see recover); settled then.
      await new Promise<void>((resolve, reject) => {
        const list = this.wantedChats.get(chatId) ?? [];
        list.push({ resolve, reject });
        this.wantedChats.set(chatId, list);
      });
    }
    this.dispatch({ type: "chat_opened", chatId });
  }

  private async rejoin(chatId: string): Promise<void> {
    const chat = this.state.chats[chatId];
    const sinceSeq = chat?.loaded ? chat.syncedSeq : undefined;
    const ack = await this.request<JoinChatAck>("join_chat", sinceSeq === undefined ? { chatId } : { chatId, sinceSeq });
    this.dispatch({ type: "chat_joined", chat: ack.chat, messages: ack.messages, hasMore: ack.hasMore, sinceSeq, updates: ack.updates ?? [] });
    void this.refreshPresence(chatId);
  }

  async leaveChat(chatId: string): Promise<void> {
    for (const [key, id] of Object.entries(this.state.directChats)) {
      if (id === chatId) this.wantedDirect.delete(key);
    }
    const waiters = this.wantedChats.get(chatId);
    this.wantedChats.delete(chatId);
    for (const w of waiters ?? []) w.reject(new RequestError({ code: "CANCELLED", message: "left before it was joined" }));
    this.dispatch({ type: "chat_left", chatId });
    if (this.socket.connected) await this.request("leave_chat", { chatId }).catch(() => undefined);
  }

  /**
   * Queue a message (shown at once as pending); returns its clientMessageId. Throws ContentError.
   * `options.replyTo` quotes a message; `options.uploadIds` sends uploaded attachments (the text
   * may then be empty) and takes them out of `state.uploads`.
   */
  sendMessage(chatId: string, content: string, options: SendOptions = {}): string {
    const uploads = (options.uploadIds ?? []).map((id) => {
      const upload = this.state.uploads[id];
      if (!upload || upload.chatId !== chatId || upload.status !== "uploaded" || !upload.attachmentId) {
        throw new Error(`upload ${id} is not an uploaded attachment of chat ${chatId}`);
      }
      return upload;
    });
    const problem = contentProblem(content, uploads.length > 0);
    if (problem) throw new ContentError(problem);
    const attachments: PendingAttachment[] = uploads.map((u) => ({
      id: u.attachmentId!,
      name: u.fileName,
      contentType: u.contentType,
      size: u.size,
    }));
    const clientMessageId = this.newId();
    this.dispatch({
      type: "send_queued",
      chatId,
      clientMessageId,
      content: content.trim().length === 0 && attachments.length > 0 ? "" : content,
      senderId: this.state.me ?? "",
      createdAt: new Date(this.now()).toISOString(),
      replyTo: options.replyTo ? this.quote(chatId, options.replyTo) : null,
      attachments,
    });
    for (const u of uploads) this.dispatch({ type: "upload_removed", uploadId: u.id });
    this.setTyping(chatId, false);
    return clientMessageId;
  }

  /** The quoted message as the server will quote it (shown while the reply is pending). */
  private quote(chatId: string, messageId: string): ReplyTo {
    const m = this.state.chats[chatId]?.messages.find((x) => x.id === messageId);
    return { id: messageId, senderId: m?.senderId ?? "", snippet: m ? replySnippet(m) : "" };
  }

  /** Edit one's own message (edit_message); resolves with its new state. Rejects with ContentError or RequestError. */
  async editMessage(chatId: string, messageId: string, content: string): Promise<Message> {
    const problem = contentProblem(content);
    if (problem) throw new ContentError(problem);
    return this.changeMessage("edit_message", { chatId, messageId, content });
  }

  /** Delete one's own message (delete_message); resolves with the tombstone. Rejects with RequestError. */
  deleteMessage(chatId: string, messageId: string): Promise<Message> {
    return this.changeMessage("delete_message", { chatId, messageId });
  }

  /** Add (or with `add: false` remove) one's reaction `emoji`; resolves with the message's new state. */
  react(chatId: string, messageId: string, emoji: string, add = true): Promise<Message> {
    return this.changeMessage("react", { chatId, messageId, emoji, add });
  }

  private async changeMessage(event: string, payload: Record<string, unknown>): Promise<Message> {
    try {
      const ack = await this.request<{ message: Message }>(event, payload);
      this.dispatch({ type: "message_changed", message: ack.message });
      return ack.message;
    } catch (err) {
      const error = asError(err);
      this.dispatch({ type: "error", error });
      throw err instanceof RequestError ? err : new RequestError(error);
    }
  }

  /** `url` (an upload slot's, an attachment's) made absolute against the chat server's URL. */
  resolveUrl = (url: string): string => {
    const base = this.url ?? (typeof window !== "undefined" ? window.location.href : undefined);
    try {
      return base === undefined ? url : new URL(url, base).toString();
    } catch {
      return url;
    }
  };

  /**
   * Start attaching `file` to a message of `chatId`: request_upload, then the upload with
   * progress. Returns the upload's local id; follow it in `state.uploads[id]` (status
   * `uploaded`, then send it with `sendMessage(chatId, text, { uploadIds: [id] })`, or
   * `failed` with its error). `fileName` defaults to the File's name.
   */
  attach(chatId: string, file: Blob, fileName?: string): string {
    const uploadId = this.newId();
    const name = fileName ?? (file as Partial<File>).name ?? "file";
    const contentType = file.type || "application/octet-stream";
    const abort = new AbortController();
    this.uploadAborts.set(uploadId, abort);
    this.dispatch({ type: "upload_started", uploadId, chatId, fileName: name, contentType, size: file.size });
    void this.runUpload(uploadId, chatId, file, name, contentType, abort.signal);
    return uploadId;
  }

  private async runUpload(uploadId: string, chatId: string, file: Blob, fileName: string, contentType: string, signal: AbortSignal) {
    try {
      const ack = await this.request<RequestUploadAck>("request_upload", { chatId, fileName, contentType, size: file.size });
      if (signal.aborted) return;
      this.dispatch({ type: "upload_slot", uploadId, attachmentId: ack.attachmentId });
      const onProgress = (loaded: number) => this.dispatch({ type: "upload_progress", uploadId, loaded });
      await sendUpload(this.createXhr(), this.resolveUrl(ack.upload.url), ack.upload, file, onProgress, signal);
      if (!signal.aborted) this.dispatch({ type: "upload_done", uploadId });
    } catch (err) {
      if (!signal.aborted) this.dispatch({ type: "upload_failed", uploadId, error: asError(err) });
    } finally {
      this.uploadAborts.delete(uploadId);
    }
  }

  /** Stop an upload (if it is still going) and forget it. */
  cancelUpload(uploadId: string): void {
    this.uploadAborts.get(uploadId)?.abort();
    this.uploadAborts.delete(uploadId);
    this.dispatch({ type: "upload_removed", uploadId });
  }

  retrySend(clientMessageId: string): void {
    this.dispatch({ type: "send_retry", clientMessageId });
  }

  discardSend(clientMessageId: string): void {
    this.dispatch({ type: "send_discarded", clientMessageId });
  }

  async markRead(chatId: string, upToSeq?: number): Promise<void> {
    if (upToSeq !== undefined) this.dispatch({ type: "read_requested", chatId, upToSeq });
    try {
      const ack = await this.request<MarkReadAck>("mark_messages_read", upToSeq === undefined ? { chatId } : { chatId, upToSeq });
      this.dispatch({ type: "read_acked", chatId, readSeq: ack.readSeq, unreadCount: ack.unreadCount });
    } catch (err) {
      this.dispatch({ type: "read_failed", chatId, error: asError(err) });
    }
  }

  /** Tell the others whether we are typing; repeated calls are throttled. */
  setTyping(chatId: string, isTyping: boolean): void {
    if (!this.socket.connected) return;
    const last = this.typingSent.get(chatId);
    const now = this.now();
    if (isTyping && last?.isTyping && now - last.at < TYPING_REFRESH_MS) return;
    if (!isTyping && !last?.isTyping) return;
    this.typingSent.set(chatId, { isTyping, at: now });
    this.request("typing", { chatId, isTyping }).catch(() => undefined);
  }

  async loadOlder(chatId: string): Promise<void> {
    const chat = this.state.chats[chatId];
    if (!chat || chat.loadingOlder || !chat.hasOlder) return;
    const beforeSeq = chat.messages[0]?.seq;
    this.dispatch({ type: "older_started", chatId });
    try {
      const ack = await this.request<GetMessagesAck>(
        "get_messages",
        beforeSeq === undefined ? { chatId, limit: 50 } : { chatId, beforeSeq, limit: 50 },
      );
      this.dispatch({ type: "older_loaded", chatId, messages: ack.messages, hasMore: ack.hasMore });
    } catch (err) {
      this.dispatch({ type: "older_failed", chatId, error: asError(err) });
    }
  }

  /** Ask who is online: a chat's members, or without `chatId` everyone who shares a chat with the user. */
  async refreshPresence(chatId?: string): Promise<void> {
    try {
      const ack = await this.request<ActiveUsersAck>("get_active_users", chatId === undefined ? {} : { chatId });
      this.dispatch({ type: "presence", users: ack.users });
    } catch {
      // Presence is advisory; user_online/user_offline keep it current anyway.
    }
  }

  // ------------------------------------------------------------ conversations (protocol 1.1)

  /**
   * (Re)load the inbox's first page (list_chats), then everyone's presence (get_active_users
   * without chatId). Runs on every connect unless `loadInbox: false`; one request at a time.
   * Failures land in `state.inbox.error` (and `lastError`), never reject.
   */
  loadChats(): Promise<void> {
    if (this.inboxFirst) return this.inboxFirst;
    const generation = ++this.inboxGeneration;
    this.dispatch({ type: "inbox_requested", more: false });
    const run = async () => {
      try {
        const ack = await this.request<ListChatsAck>("list_chats", { limit: this.inboxPageSize });
        if (generation !== this.inboxGeneration) return;
        this.dispatch({ type: "inbox_page", chats: ack.chats ?? [], nextCursor: ack.nextCursor ?? null, more: false });
        void this.refreshPresence();
      } catch (err) {
        if (generation === this.inboxGeneration) this.dispatch({ type: "inbox_failed", more: false, error: asError(err) });
      }
    };
    this.inboxFirst = run().finally(() => {
      this.inboxFirst = null;
    });
    return this.inboxFirst;
  }

  /** The inbox's next page (list_chats {cursor}), while `state.inbox.nextCursor` is set. */
  loadMoreChats(): Promise<void> {
    const { inbox } = this.state;
    if (this.inboxMore) return this.inboxMore;
    if (this.inboxFirst || inbox.status !== "loaded" || inbox.nextCursor === null) return Promise.resolve();
    const generation = this.inboxGeneration;
    const cursor = inbox.nextCursor;
    this.dispatch({ type: "inbox_requested", more: true });
    const run = async () => {
      try {
        const ack = await this.request<ListChatsAck>("list_chats", { limit: this.inboxPageSize, cursor });
        // A reload since then started the pages over: this answer's cursor belongs to the old ones.
        if (generation !== this.inboxGeneration) return;
        this.dispatch({ type: "inbox_page", chats: ack.chats ?? [], nextCursor: ack.nextCursor ?? null, more: true });
      } catch (err) {
        if (generation === this.inboxGeneration) this.dispatch({ type: "inbox_failed", more: true, error: asError(err) });
      }
    };
    this.inboxMore = run().finally(() => {
      this.inboxMore = null;
    });
    return this.inboxMore;
  }

  /** Add members to a group (add_members, admins only; 1-50 ids, members already are skipped); resolves with the chat. */
  addMembers(chatId: string, userIds: string[]): Promise<Chat> {
    return this.changeChat("add_members", { chatId, userIds });
  }

  /**
   * Remove a member from a group (remove_member, admins only); resolves with the chat. The user's
   * own id leaves the group (as leaveGroup): it resolves with null.
   */
  async removeMember(chatId: string, userId: string): Promise<Chat | null> {
    const ack = await this.act<{ chat?: Chat }>("remove_member", { chatId, userId });
    if (!ack.chat) {
      this.dispatch({ type: "chat_removed", chatId });
      return null;
    }
    this.dispatch({ type: "chat_changed", chat: ack.chat });
    return ack.chat;
  }

  /** Change a group's title (null clears it) and/or its whole admin list (update_chat, admins only). */
  updateChat(chatId: string, update: ChatUpdate): Promise<Chat> {
    const payload: Record<string, unknown> = { chatId };
    if (update.title !== undefined) payload.title = update.title;
    if (update.admins !== undefined) payload.admins = update.admins;
    return this.changeChat("update_chat", payload);
  }

  /** = updateChat(chatId, { title }). */
  renameChat(chatId: string, title: string | null): Promise<Chat> {
    return this.updateChat(chatId, { title });
  }

  /** Leave a group for good (leave_chat {leaveGroup: true}): it leaves the inbox (`removed`). */
  async leaveGroup(chatId: string): Promise<void> {
    await this.act("leave_chat", { chatId, leaveGroup: true });
    this.dispatch({ type: "chat_removed", chatId });
  }

  /** Block a user (block_user): no direct messages either way, presence hidden; groups unaffected. */
  async blockUser(userId: string): Promise<void> {
    await this.act("block_user", { userId });
    this.dispatch({ type: "block_changed", userId, blocked: true });
  }

  async unblockUser(userId: string): Promise<void> {
    await this.act("unblock_user", { userId });
    this.dispatch({ type: "block_changed", userId, blocked: false });
  }

  /** Whom the user blocks (get_blocked); also kept in `state.blocks`. */
  async getBlocked(): Promise<string[]> {
    const ack = await this.act<GetBlockedAck>("get_blocked", {});
    const userIds = ack.userIds ?? [];
    this.dispatch({ type: "blocks_loaded", userIds });
    return userIds;
  }

  private async changeChat(event: string, payload: Record<string, unknown>): Promise<Chat> {
    const ack = await this.act<{ chat: Chat }>(event, payload);
    this.dispatch({ type: "chat_changed", chat: ack.chat });
    return ack.chat;
  }

  /** A request whose failure is reported like the message changes': `lastError`, and a RequestError. */
  private async act<T>(event: string, payload: unknown): Promise<T> {
    try {
      return await this.request<T>(event, payload);
    } catch (err) {
      const error = asError(err);
      this.dispatch({ type: "error", error });
      throw err instanceof RequestError ? err : new RequestError(error);
    }
  }
}
