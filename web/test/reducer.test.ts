import { describe, expect, it } from "vitest";
import {
  type ChatAction,
  type ChatClientState,
  chatReducer,
  initialState,
  mergeMessages,
  TYPING_TTL_MS,
} from "../src/chat/reducer";
import {
  selectDirectChat,
  selectGapFetches,
  selectNextSend,
  selectNextWakeUp,
  selectReadTarget,
  selectTimeline,
  selectTypingUsers,
} from "../src/chat/selectors";
import { chat, msg } from "./fixtures";

function run(...actions: ChatAction[]): ChatClientState {
  return actions.reduce(chatReducer, initialState);
}

const online: ChatAction[] = [
  { type: "connection", state: "connected" },
  { type: "connected", userId: "alice" },
];

/** Alice, connected, has opened the direct chat with bob holding seq 1..3. */
function joined(over: Parameters<typeof chat>[0] = {}): ChatClientState {
  return run(...online, {
    type: "chat_joined",
    chat: chat({ lastSeq: 3, ...over }),
    messages: [msg(1), msg(2, { senderId: "alice" }), msg(3)],
    hasMore: false,
    recipientId: "bob",
  });
}

const c1 = (s: ChatClientState) => s.chats.c1!;
const seqs = (s: ChatClientState) => c1(s).messages.map((m) => m.seq);

describe("mergeMessages", () => {
  it("orders by seq and drops duplicates by seq or id", () => {
    const merged = mergeMessages([msg(2), msg(5)], [msg(4), msg(2), msg(1), msg(9, { id: "m5" }), msg(3)]);
    expect(merged.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it("returns the same array when nothing is new", () => {
    const list = [msg(1), msg(2)];
    expect(mergeMessages(list, [msg(2)])).toBe(list);
    expect(mergeMessages(list, [])).toBe(list);
  });
});

describe("joining a chat", () => {
  it("keeps history, marks it synced, maps the recipient and counts unread", () => {
    const s = joined({ unreadCount: 2, readSeqs: { alice: 1, bob: 3 } });
    expect(seqs(s)).toEqual([1, 2, 3]);
    expect(c1(s)).toMatchObject({ loaded: true, joined: true, syncedSeq: 3, gap: false, unreadCount: 2 });
    expect(selectDirectChat(s, "bob")?.id).toBe("c1");
    expect(s.totalUnread).toBe(2);
  });

  it("offers older history when the latest page has more behind it", () => {
    const s = run(...online, { type: "chat_joined", chat: chat({ lastSeq: 80 }), messages: [msg(79), msg(80)], hasMore: true });
    expect(c1(s).hasOlder).toBe(true);
    expect(c1(s).gap).toBe(false);
  });

  it("recovering with sinceSeq and hasMore keeps fetching after the last one returned", () => {
    let s = joined();
    s = chatReducer(s, { type: "connection", state: "reconnecting" });
    s = chatReducer(s, { type: "connection", state: "connected" });
    s = chatReducer(s, {
      type: "chat_joined",
      chat: chat({ lastSeq: 900 }),
      messages: [msg(4), msg(5)],
      hasMore: true,
      sinceSeq: 3,
    });
    expect(c1(s)).toMatchObject({ syncedSeq: 5, gap: true });
    expect(selectGapFetches(s, 0)).toEqual([{ chatId: "c1", afterSeq: 5 }]);
  });

  it("recovering without more marks everything up to the chat's lastSeq as synced", () => {
    const s = chatReducer(joined(), { type: "chat_joined", chat: chat({ lastSeq: 6 }), messages: [msg(4), msg(6)], hasMore: false, sinceSeq: 3 });
    expect(seqs(s)).toEqual([1, 2, 3, 4, 6]);
    expect(c1(s)).toMatchObject({ syncedSeq: 6, gap: false });
  });

  it("leaving keeps the messages but stops viewing", () => {
    const s = chatReducer(joined(), { type: "chat_left", chatId: "c1" });
    expect(c1(s).joined).toBe(false);
    expect(seqs(s)).toEqual([1, 2, 3]);
  });

  it("the chat opened last is current until it is left; a chat not joined never is", () => {
    let s = chatReducer(joined(), { type: "chat_opened", chatId: "c1" });
    expect(s.currentChatId).toBe("c1");
    expect(chatReducer(s, { type: "chat_opened", chatId: "c1" })).toBe(s);
    expect(chatReducer(s, { type: "chat_opened", chatId: "c9" }).currentChatId).toBe("c1");
    s = chatReducer(s, { type: "chat_left", chatId: "c1" });
    expect(s.currentChatId).toBeNull();
    expect(chatReducer(s, { type: "chat_opened", chatId: "c1" }).currentChatId).toBeNull();
  });
});

describe("live messages and gaps", () => {
  it("inserts by seq and ignores duplicates", () => {
    let s = joined();
    s = chatReducer(s, { type: "message_received", message: msg(4), now: 0 });
    s = chatReducer(s, { type: "message_received", message: msg(4), now: 0 });
    expect(seqs(s)).toEqual([1, 2, 3, 4]);
    expect(c1(s)).toMatchObject({ syncedSeq: 4, gap: false });
  });

  it("notices a jump and asks for what follows the last contiguous seq", () => {
    let s = chatReducer(joined(), { type: "message_received", message: msg(6), now: 0 });
    expect(c1(s)).toMatchObject({ syncedSeq: 3, gap: true });
    expect(selectGapFetches(s, 0)).toEqual([{ chatId: "c1", afterSeq: 3 }]);
    s = chatReducer(s, { type: "fetch_started", chatId: "c1" });
    expect(selectGapFetches(s, 0)).toEqual([]);
    s = chatReducer(s, { type: "messages_fetched", chatId: "c1", messages: [msg(4), msg(5), msg(6)], hasMore: false });
    expect(seqs(s)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(c1(s)).toMatchObject({ syncedSeq: 6, gap: false, fetching: false });
  });

  it("a late message that arrives on its own advances the mark (one confirming fetch follows)", () => {
    let s = chatReducer(joined(), { type: "message_received", message: msg(5), now: 0 });
    s = chatReducer(s, { type: "message_received", message: msg(4), now: 0 });
    expect(c1(s).syncedSeq).toBe(5);
    expect(selectGapFetches(s, 0)).toEqual([{ chatId: "c1", afterSeq: 5 }]);
  });

  it("accepts a real hole in the seqs after one fetch (seqs may skip)", () => {
    let s = chatReducer(joined(), { type: "message_received", message: msg(7), now: 0 });
    s = chatReducer(s, { type: "fetch_started", chatId: "c1" });
    s = chatReducer(s, { type: "messages_fetched", chatId: "c1", messages: [msg(7)], hasMore: false });
    expect(c1(s)).toMatchObject({ syncedSeq: 7, gap: false });
    expect(selectGapFetches(s, 0)).toEqual([]);
    s = chatReducer(s, { type: "message_received", message: msg(8), now: 0 });
    expect(c1(s)).toMatchObject({ syncedSeq: 8, gap: false });
  });

  it("pages through a long gap", () => {
    let s = chatReducer(joined(), { type: "message_received", message: msg(300), now: 0 });
    s = chatReducer(s, { type: "fetch_started", chatId: "c1" });
    s = chatReducer(s, { type: "messages_fetched", chatId: "c1", messages: [msg(4), msg(5)], hasMore: true });
    expect(selectGapFetches(s, 0)).toEqual([{ chatId: "c1", afterSeq: 5 }]);
  });

  it("waits before fetching again after a failure", () => {
    let s = chatReducer(joined(), { type: "message_received", message: msg(9), now: 0 });
    s = chatReducer(s, { type: "fetch_started", chatId: "c1" });
    s = chatReducer(s, { type: "fetch_failed", chatId: "c1", now: 1000, error: { code: "UNAVAILABLE", message: "x" } });
    expect(selectGapFetches(s, 1500)).toEqual([]);
    expect(selectNextWakeUp(s)).toBe(3000);
    expect(selectGapFetches(s, 3000)).toEqual([{ chatId: "c1", afterSeq: 3 }]);
    expect(s.lastError?.code).toBe("UNAVAILABLE");
  });

  it("fetches nothing while disconnected", () => {
    let s = chatReducer(joined(), { type: "message_received", message: msg(9), now: 0 });
    s = chatReducer(s, { type: "connection", state: "reconnecting" });
    expect(selectGapFetches(s, 0)).toEqual([]);
  });

  it("does not track gaps before the history is loaded", () => {
    const s = run(...online, { type: "message_received", message: msg(40), now: 0 });
    expect(c1(s)).toMatchObject({ loaded: false, gap: false });
    expect(selectGapFetches(s, 0)).toEqual([]);
  });

  it("chat_info showing a higher lastSeq starts a fetch", () => {
    const s = chatReducer(joined(), { type: "chat_info", chat: chat({ lastSeq: 10, unreadCount: 4 }) });
    expect(c1(s)).toMatchObject({ gap: true, unreadCount: 4 });
    expect(s.totalUnread).toBe(4);
  });

  it("older pages are prepended", () => {
    let s = run(...online, { type: "chat_joined", chat: chat({ lastSeq: 60 }), messages: [msg(59), msg(60)], hasMore: true });
    s = chatReducer(s, { type: "older_started", chatId: "c1" });
    s = chatReducer(s, { type: "older_loaded", chatId: "c1", messages: [msg(57), msg(58)], hasMore: false });
    expect(seqs(s)).toEqual([57, 58, 59, 60]);
    expect(c1(s)).toMatchObject({ hasOlder: false, loadingOlder: false, syncedSeq: 60, gap: false });
  });
});

describe("sending", () => {
  const queue = (id: string, content = "hi"): ChatAction => ({
    type: "send_queued",
    chatId: "c1",
    clientMessageId: id,
    content,
    senderId: "alice",
    createdAt: "2026-11-26T08:00:00.000Z",
  });

  it("shows a pending message at once, then the confirmed one", () => {
    let s = chatReducer(joined(), queue("k1"));
    let t = selectTimeline(c1(s), "alice");
    expect(t.at(-1)).toMatchObject({ content: "hi", status: "pending", mine: true });
    s = chatReducer(s, { type: "send_acked", clientMessageId: "k1", message: msg(4, { senderId: "alice", content: "hi", clientMessageId: "k1" }) });
    t = selectTimeline(c1(s), "alice");
    expect(c1(s).pending).toEqual([]);
    expect(t.at(-1)).toMatchObject({ content: "hi", status: "sent", message: { seq: 4 } });
    expect(t.filter((i) => i.content === "hi")).toHaveLength(1);
  });

  it("settles a pending send when the message comes back another way (lost ack)", () => {
    let s = chatReducer(joined(), queue("k1"));
    s = chatReducer(s, { type: "send_started", clientMessageId: "k1" });
    s = chatReducer(s, { type: "connection", state: "reconnecting" });
    s = chatReducer(s, { type: "connection", state: "connected" });
    s = chatReducer(s, {
      type: "chat_joined",
      chat: chat({ lastSeq: 4 }),
      messages: [msg(4, { senderId: "alice", content: "hi", clientMessageId: "k1" })],
      hasMore: false,
      sinceSeq: 3,
    });
    expect(c1(s).pending).toEqual([]);
    expect(selectNextSend(s, 0)).toBeNull();
    // The late ack, if it still comes, changes nothing.
    const again = chatReducer(s, { type: "send_acked", clientMessageId: "k1", message: msg(4, { senderId: "alice", clientMessageId: "k1" }) });
    expect(seqs(again)).toEqual([1, 2, 3, 4]);
  });

  it("sends in order, one at a time", () => {
    let s = chatReducer(chatReducer(joined(), queue("k1")), queue("k2"));
    expect(selectNextSend(s, 0)?.clientMessageId).toBe("k1");
    s = chatReducer(s, { type: "send_started", clientMessageId: "k1" });
    expect(selectNextSend(s, 0)).toBeNull();
    s = chatReducer(s, { type: "send_acked", clientMessageId: "k1", message: msg(4, { senderId: "alice", clientMessageId: "k1" }) });
    expect(selectNextSend(s, 0)?.clientMessageId).toBe("k2");
  });

  it("backs off after a retryable error and retries at once after a reconnect", () => {
    let s = chatReducer(joined(), queue("k1"));
    s = chatReducer(s, { type: "send_started", clientMessageId: "k1" });
    s = chatReducer(s, { type: "send_failed", clientMessageId: "k1", error: { code: "TIMEOUT", message: "" }, retryable: true, now: 10_000 });
    const p = c1(s).pending[0]!;
    expect(p).toMatchObject({ status: "pending", inFlight: false, attempts: 1 });
    expect(p.retryAt).toBeGreaterThan(10_000);
    expect(selectNextSend(s, 10_001)).toBeNull();
    expect(selectNextWakeUp(s)).toBe(p.retryAt);
    expect(selectNextSend(s, p.retryAt)?.clientMessageId).toBe("k1");
    s = chatReducer(s, { type: "connection", state: "reconnecting" });
    expect(selectNextSend(s, 99_999)).toBeNull();
    s = chatReducer(s, { type: "connection", state: "connected" });
    expect(selectNextSend(s, 10_001)?.clientMessageId).toBe("k1");
  });

  it("a disconnect frees an in-flight send for a retry with the same clientMessageId", () => {
    let s = chatReducer(joined(), queue("k1"));
    s = chatReducer(s, { type: "send_started", clientMessageId: "k1" });
    s = chatReducer(s, { type: "connection", state: "reconnecting" });
    expect(c1(s).pending[0]!.inFlight).toBe(false);
    s = chatReducer(s, { type: "connection", state: "connected" });
    expect(selectNextSend(s, 0)?.clientMessageId).toBe("k1");
  });

  it("a refused message is marked failed; retry and delete work", () => {
    let s = chatReducer(joined(), queue("k1"));
    s = chatReducer(s, { type: "send_started", clientMessageId: "k1" });
    s = chatReducer(s, { type: "send_failed", clientMessageId: "k1", error: { code: "INVALID", message: "too long" }, retryable: false, now: 0 });
    expect(selectTimeline(c1(s), "alice").at(-1)?.status).toBe("failed");
    expect(selectNextSend(s, 0)).toBeNull();
    const retried = chatReducer(s, { type: "send_retry", clientMessageId: "k1" });
    expect(selectNextSend(retried, 0)?.clientMessageId).toBe("k1");
    const deleted = chatReducer(s, { type: "send_discarded", clientMessageId: "k1" });
    expect(c1(deleted).pending).toEqual([]);
  });
});

describe("read receipts and unread counts", () => {
  it("marks own messages read when the peer's read mark passes them", () => {
    let s = run(...online, {
      type: "chat_joined",
      chat: chat({ lastSeq: 3 }),
      messages: [msg(1), msg(2, { senderId: "alice" }), msg(3, { senderId: "alice" })],
      hasMore: false,
    });
    const status = (seq: number) => selectTimeline(c1(s), "alice").find((i) => i.message?.seq === seq)?.status;
    expect([status(2), status(3)]).toEqual(["sent", "sent"]);
    s = chatReducer(s, { type: "messages_read", event: { chatId: "c1", userId: "bob", readSeq: 2 } });
    expect([status(2), status(3)]).toEqual(["read", "sent"]);
    // Read marks never go back.
    s = chatReducer(s, { type: "messages_read", event: { chatId: "c1", userId: "bob", readSeq: 1 } });
    expect(status(2)).toBe("read");
    // A reply raises the replier's read mark (the server does so without messages_read).
    s = chatReducer(s, { type: "message_received", message: msg(4), now: 0 });
    expect(status(3)).toBe("read");
  });

  it("reads ticks from the chat's readSeqs, so they survive a reload", () => {
    const s = joined({ readSeqs: { alice: 3, bob: 2 } });
    expect(selectTimeline(c1(s), "alice").find((i) => i.message?.seq === 2)?.status).toBe("read");
  });

  it("others' messages carry no status", () => {
    expect(selectTimeline(c1(joined()), "alice")[0]!.status).toBeNull();
  });

  it("asks to mark read up to the newest message from others, once", () => {
    let s = joined({ unreadCount: 1, readSeqs: { alice: 2 } });
    expect(c1(s).readSeqs.alice).toBe(2);
    expect(selectReadTarget(c1(s), "alice")).toBe(3);
    s = chatReducer(s, { type: "read_requested", chatId: "c1", upToSeq: 3 });
    expect(selectReadTarget(c1(s), "alice")).toBeNull();
    s = chatReducer(s, { type: "read_acked", chatId: "c1", readSeq: 3, unreadCount: 0 });
    expect(c1(s).unreadCount).toBe(0);
    expect(s.totalUnread).toBe(0);
    s = chatReducer(s, { type: "message_received", message: msg(4), now: 0 });
    expect(selectReadTarget(c1(s), "alice")).toBe(4);
  });

  it("a failed mark can be asked again", () => {
    let s = joined({ readSeqs: { alice: 2 } });
    s = chatReducer(s, { type: "read_requested", chatId: "c1", upToSeq: 3 });
    s = chatReducer(s, { type: "read_failed", chatId: "c1", error: { code: "OFFLINE", message: "" } });
    expect(selectReadTarget(c1(s), "alice")).toBe(3);
  });

  it("keeps unread messages of chats it never opened in the total", () => {
    // the server's total counts c1 (5) and chats this client does not know (2)
    let s = chatReducer(joined(), { type: "unread_count", event: { chatId: "c1", unreadCount: 5, totalUnread: 7 } });
    s = chatReducer(s, { type: "read_acked", chatId: "c1", readSeq: 3, unreadCount: 0 });
    expect(s.totalUnread).toBe(2);
    s = chatReducer(s, { type: "chat_info", chat: chat({ unreadCount: 1 }) });
    expect(s.totalUnread).toBe(3);
    s = chatReducer(s, { type: "unread_count", event: { chatId: "c1", unreadCount: 0, totalUnread: 2 } });
    expect(s.totalUnread).toBe(2);
    s = chatReducer(s, { type: "read_acked", chatId: "c1", readSeq: 4, unreadCount: 0 });
    expect(s.totalUnread).toBe(2);
  });

  it("takes unread counts from the server", () => {
    const s = chatReducer(joined(), { type: "unread_count", event: { chatId: "c1", unreadCount: 5, totalUnread: 7 } });
    expect(c1(s).unreadCount).toBe(5);
    expect(s.totalUnread).toBe(7);
  });
});

describe("presence and typing", () => {
  it("tracks online and offline", () => {
    let s = run({ type: "presence", users: [{ userId: "bob", online: false, lastSeen: "2026-11-26T07:00:00.000Z" }] });
    expect(s.presence.bob).toEqual({ online: false, lastSeen: "2026-11-26T07:00:00.000Z" });
    s = chatReducer(s, { type: "user_online", userId: "bob" });
    expect(s.presence.bob?.online).toBe(true);
    s = chatReducer(s, { type: "user_offline", userId: "bob", lastSeen: "2026-11-26T08:00:00.000Z" });
    expect(s.presence.bob).toEqual({ online: false, lastSeen: "2026-11-26T08:00:00.000Z" });
  });

  it("shows typing until stopped, expired, or a message from the typist", () => {
    const typing = (isTyping: boolean, now = 0, userId = "bob"): ChatAction => ({
      type: "user_typing",
      event: { chatId: "c1", userId, isTyping },
      now,
    });
    let s = chatReducer(joined(), typing(true, 1000));
    expect(selectTypingUsers(c1(s), 1000)).toEqual(["bob"]);
    expect(selectTypingUsers(c1(s), 1000 + TYPING_TTL_MS)).toEqual([]);
    expect(selectTypingUsers(c1(chatReducer(s, typing(false))), 1000)).toEqual([]);
    expect(selectTypingUsers(c1(chatReducer(s, { type: "message_received", message: msg(4), now: 0 })), 1000)).toEqual([]);
    expect(selectTypingUsers(c1(chatReducer(s, { type: "user_offline", userId: "bob", lastSeen: null })), 1000)).toEqual([]);
    const expired = chatReducer(s, { type: "typing_expired", now: 1000 + TYPING_TTL_MS });
    expect(c1(expired).typing).toEqual({});
    // One's own typing echo is ignored.
    expect(c1(chatReducer(joined(), typing(true, 0, "alice"))).typing).toEqual({});
  });
});

describe("connection", () => {
  it("remembers a drain notice until connected again", () => {
    let s = chatReducer(joined(), { type: "draining", reconnectAfterMs: 2000, now: 5 });
    expect(s.draining).toEqual({ reconnectAfterMs: 2000, at: 5 });
    s = chatReducer(s, { type: "connection", state: "reconnecting" });
    expect(s.draining).not.toBeNull();
    s = chatReducer(s, { type: "connection", state: "connected" });
    expect(s.draining).toBeNull();
    expect(s.everConnected).toBe(true);
  });

  it("returns the same state for a no-op", () => {
    const s = joined();
    expect(chatReducer(s, { type: "connection", state: "connected" })).not.toBe(undefined);
    expect(chatReducer(s, { type: "connected", userId: "alice" })).toBe(s);
    expect(chatReducer(s, { type: "messages_read", event: { chatId: "c1", userId: "bob", readSeq: 0 } })).toBe(s);
  });
});

describe("handshake refusals", () => {
  it("keeps why the handshake was refused until connected", () => {
    let s = run({ type: "connect_failed", error: { code: "UNAUTHORIZED", message: "expired" } });
    expect(s.connectError?.code).toBe("UNAUTHORIZED");
    s = chatReducer(s, { type: "connection", state: "connected" });
    expect(s.connectError).toBeNull();
  });
});
