import type { ChatSocket } from "../src/chat/controller";
import type { Chat, Message } from "../src/chat/protocol";

export function msg(seq: number, over: Partial<Message> = {}): Message {
  return {
    id: `m${seq}`,
    chatId: "c1",
    seq,
    senderId: "bob",
    content: `message ${seq}`,
    clientMessageId: `cm${seq}`,
    createdAt: new Date(Date.UTC(2026, 10, 26, 7, 0, seq)).toISOString(),
    ...over,
  };
}

export function chat(over: Partial<Chat> = {}): Chat {
  return {
    id: "c1",
    type: "direct",
    title: null,
    members: ["alice", "bob"],
    createdAt: "2026-11-26T07:00:00.000Z",
    lastSeq: 0,
    lastMessage: null,
    unreadCount: 0,
    ...over,
  };
}

type Listener = (...args: any[]) => void;

export interface Emitted {
  event: string;
  payload: any;
  ack: (err: Error | null, res: any) => void;
}

/** A socket.io-client stand-in: records emits; the test plays the server. */
export class FakeSocket implements ChatSocket {
  connected = false;
  active = false;
  connectCalls = 0;
  emitted: Emitted[] = [];
  private listeners = new Map<string, Set<Listener>>();
  auth: (cb: (data: { token?: string }) => void) => void = () => undefined;
  manager = { delay: 0, delayMax: 0 };
  readonly io = {
    reconnectionDelay: (ms: number) => {
      this.manager.delay = ms;
    },
    reconnectionDelayMax: (ms: number) => {
      this.manager.delayMax = ms;
    },
    on: () => undefined,
    off: () => undefined,
  };

  on(event: string, listener: Listener) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event)!.add(listener);
    return this;
  }

  off(event: string, listener?: Listener) {
    if (listener) this.listeners.get(event)?.delete(listener);
    else this.listeners.delete(event);
    return this;
  }

  connect() {
    this.active = true;
    this.connectCalls++;
    return this;
  }

  disconnect() {
    const was = this.connected;
    this.connected = false;
    this.active = false;
    if (was) this.fire("disconnect", "io client disconnect");
    return this;
  }

  timeout(_ms: number) {
    return {
      emit: (event: string, payload: unknown, ack: (err: Error | null, res: any) => void) => {
        this.emitted.push({ event, payload, ack });
      },
    };
  }

  // ---- the test's side
  fire(event: string, ...args: unknown[]) {
    for (const l of [...(this.listeners.get(event) ?? [])]) l(...args);
  }

  /** The handshake succeeded. */
  open(userId = "alice") {
    this.connected = true;
    this.active = true;
    this.fire("connect");
    this.fire("connected", { userId, connectionId: "x", serverTime: new Date().toISOString(), protocol: 1 });
  }

  /** The transport closed (server restart, network): the manager will retry. */
  drop(reason = "transport close") {
    this.connected = false;
    // socket.io-client fails the acks still waiting when the connection goes.
    const waiting = this.emitted;
    this.emitted = [];
    this.fire("disconnect", reason);
    for (const e of waiting) e.ack(new Error("socket has been disconnected"), undefined);
  }

  /** Remove and return the first recorded emit of `event`. */
  take(event: string): Emitted {
    const i = this.emitted.findIndex((e) => e.event === event);
    if (i < 0) throw new Error(`no ${event} emitted; have: ${this.emitted.map((e) => e.event).join(", ")}`);
    return this.emitted.splice(i, 1)[0]!;
  }

  has(event: string): boolean {
    return this.emitted.some((e) => e.event === event);
  }

  /** Answer every pending emit of `event` with `answer(payload)`. */
  answerAll(event: string, answer: (payload: any) => any) {
    while (this.has(event)) {
      const e = this.take(event);
      e.ack(null, answer(e.payload));
    }
  }
}

export const flush = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** The state of message `seq` after a change at `changeSeq` (v1.1 fields). */
export function changed(seq: number, changeSeq: number, over: Partial<Message> = {}): Message {
  return msg(seq, { changeSeq, editedAt: null, deleted: false, replyTo: null, reactions: [], attachments: [], ...over });
}

/** A fake XMLHttpRequest: records what was sent; the test plays the server with progress/respond. */
export class FakeXhr {
  static made: FakeXhr[] = [];
  method = "";
  url = "";
  headers: Record<string, string> = {};
  body: Blob | FormData | null = null;
  aborted = false;
  status = 0;
  responseText = "";
  readonly upload: { onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  ontimeout: (() => void) | null = null;

  constructor() {
    FakeXhr.made.push(this);
  }

  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }

  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }

  send(body: Blob | FormData) {
    this.body = body;
  }

  abort() {
    this.aborted = true;
    this.onabort?.();
  }

  // ---- the test's side
  progress(loaded: number, total: number) {
    this.upload.onprogress?.({ loaded, total, lengthComputable: true });
  }

  respond(status: number, body = "") {
    this.status = status;
    this.responseText = body;
    this.onload?.();
  }
}
