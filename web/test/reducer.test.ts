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
  selectUploads,
} from "../src/chat/selectors";
import type { Message, MessageChange } from "../src/chat/protocol";
import { changed, chat, msg } from "./fixtures";

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

// ---------------------------------------------------------------- v1.1: message changes

/** A live message_updated for `message` (its changeSeq is the change's seq). */
function updated(message: Message, change: MessageChange = { type: "edit", userId: "bob" }): ChatAction {
  return { type: "message_updated", event: { chatId: "c1", seq: message.changeSeq!, message, change } };
}

const byId = (s: ChatClientState, id: string) => c1(s).messages.find((m) => m.id === id);
const mineOf = (s: ChatClientState, id: string, emoji: string) => byId(s, id)?.reactions?.find((r) => r.emoji === emoji)?.mine;

describe("message changes: the state with the highest changeSeq wins", () => {
  it("applies a live edit and shows it edited", () => {
    const s = chatReducer(joined(), updated(changed(2, 4, { senderId: "alice", content: "fixed", editedAt: "2026-11-26T07:05:00.000Z" })));
    expect(byId(s, "m2")?.content).toBe("fixed");
    const item = selectTimeline(c1(s), "alice").find((i) => i.key === "m2")!;
    expect(item).toMatchObject({ content: "fixed", editedAt: "2026-11-26T07:05:00.000Z", deleted: false });
  });

  it("ignores an older state that arrives after a newer one (out of order)", () => {
    let s = chatReducer(joined(), updated(changed(1, 6, { content: "second edit" })));
    s = chatReducer(s, updated(changed(1, 5, { content: "first edit" })));
    expect(byId(s, "m1")?.content).toBe("second edit");
    // the original, from a late page or ack, does not win either
    s = chatReducer(s, { type: "older_loaded", chatId: "c1", messages: [msg(1)], hasMore: false });
    expect(byId(s, "m1")?.content).toBe("second edit");
  });

  it("a deletion is a tombstone: no text, reply, attachments or reactions", () => {
    const s = chatReducer(joined(), updated(changed(3, 4, { content: "", deleted: true }), { type: "delete", userId: "bob" }));
    const item = selectTimeline(c1(s), "alice").find((i) => i.key === "m3")!;
    expect(item).toMatchObject({ deleted: true, content: "", reactions: [], attachments: [], replyTo: null });
    expect(seqs(s)).toEqual([1, 2, 3]);
  });

  it("an edit of a message not received yet brings the message in its current state", () => {
    const s = chatReducer(joined(), updated(changed(4, 5, { content: "edited before I saw it" })));
    expect(seqs(s)).toEqual([1, 2, 3, 4]);
    expect(c1(s)).toMatchObject({ syncedSeq: 5, gap: false });
  });

  it("a change to a message older than the loaded history waits, and applies when that page loads", () => {
    let s = run(...online, { type: "chat_joined", chat: chat({ lastSeq: 60 }), messages: [msg(59), msg(60)], hasMore: true });
    s = chatReducer(s, updated(changed(10, 61, { content: "old one, edited" })));
    expect(seqs(s)).toEqual([59, 60]);
    expect(c1(s)).toMatchObject({ syncedSeq: 61, gap: false });
    s = chatReducer(s, { type: "older_loaded", chatId: "c1", messages: [msg(10), msg(58)], hasMore: false });
    expect(byId(s, "m10")?.content).toBe("old one, edited");
    expect(c1(s).detached).toEqual({});
  });
});

describe("message changes: seqs, gaps and recovery", () => {
  it("a live change with seq syncedSeq + 1 advances syncedSeq like a message does", () => {
    let s = chatReducer(joined(), updated(changed(1, 4, { content: "edit" })));
    expect(c1(s)).toMatchObject({ syncedSeq: 4, gap: false, seenChangeSeqs: [] });
    s = chatReducer(s, { type: "message_received", message: msg(5), now: 0 });
    expect(c1(s)).toMatchObject({ syncedSeq: 5, gap: false });
  });

  it("a change further ahead is a gap: get_messages afterSeq, whose updates and messages settle it", () => {
    let s = chatReducer(joined(), updated(changed(1, 7, { content: "edit" })));
    expect(c1(s)).toMatchObject({ syncedSeq: 3, gap: true, seenChangeSeqs: [7] });
    expect(selectGapFetches(s, 0)).toEqual([{ chatId: "c1", afterSeq: 3 }]);
    s = chatReducer(s, { type: "fetch_started", chatId: "c1" });
    s = chatReducer(s, {
      type: "messages_fetched",
      chatId: "c1",
      messages: [msg(4), changed(5, 6, { content: "", deleted: true })],
      updates: [changed(1, 7, { content: "edit" })],
      hasMore: false,
    });
    expect(seqs(s)).toEqual([1, 2, 3, 4, 5]);
    expect(byId(s, "m5")?.deleted).toBe(true);
    expect(c1(s)).toMatchObject({ syncedSeq: 7, gap: false, seenChangeSeqs: [] });
    expect(selectGapFetches(s, 0)).toEqual([]);
  });

  it("a missed change found by the gap fill: its seq counts as seen", () => {
    let s = chatReducer(joined(), { type: "message_received", message: msg(6), now: 0 });
    s = chatReducer(s, { type: "messages_fetched", chatId: "c1", messages: [msg(6)], updates: [changed(2, 4, { content: "x" }), changed(1, 5, { content: "y" })], hasMore: false });
    expect(c1(s)).toMatchObject({ syncedSeq: 6, gap: false });
    expect([byId(s, "m1")?.content, byId(s, "m2")?.content]).toEqual(["y", "x"]);
    s = chatReducer(s, updated(changed(3, 7, { content: "z" })));
    expect(c1(s)).toMatchObject({ syncedSeq: 7, gap: false });
  });

  it("with hasMore, continues after C: the highest of the message seqs and the updates' changeSeqs", () => {
    let s = chatReducer(joined(), { type: "connection", state: "reconnecting" });
    s = chatReducer(s, { type: "connection", state: "connected" });
    s = chatReducer(s, {
      type: "chat_joined",
      chat: chat({ lastSeq: 900 }),
      messages: [msg(4), msg(5)],
      updates: [changed(1, 6, { content: "edited" }), changed(2, 9, { senderId: "alice", content: "" , deleted: true })],
      hasMore: true,
      sinceSeq: 3,
    });
    expect(byId(s, "m1")?.content).toBe("edited");
    expect(byId(s, "m2")?.deleted).toBe(true);
    expect(c1(s)).toMatchObject({ syncedSeq: 9, gap: true });
    expect(selectGapFetches(s, 0)).toEqual([{ chatId: "c1", afterSeq: 9 }]);
    // an answer cut at its message limit: C is its last message
    s = chatReducer(s, { type: "fetch_started", chatId: "c1" });
    s = chatReducer(s, { type: "messages_fetched", chatId: "c1", messages: [msg(10), changed(11, 14)], updates: [], hasMore: true });
    expect(selectGapFetches(s, 0)).toEqual([{ chatId: "c1", afterSeq: 11 }]);
    s = chatReducer(s, { type: "fetch_started", chatId: "c1" });
    s = chatReducer(s, { type: "messages_fetched", chatId: "c1", messages: [msg(12)], updates: [changed(11, 14)], hasMore: false });
    expect(c1(s)).toMatchObject({ syncedSeq: 14, gap: false });
  });

  it("without hasMore, a rejoin marks synced up to the last change, beyond the chat's lastSeq", () => {
    const s = chatReducer(joined(), {
      type: "chat_joined",
      chat: chat({ lastSeq: 4 }),
      messages: [msg(4)],
      updates: [changed(2, 6, { senderId: "alice", content: "later" })],
      hasMore: false,
      sinceSeq: 3,
    });
    expect(c1(s)).toMatchObject({ syncedSeq: 6, gap: false });
    const next = chatReducer(s, { type: "message_received", message: msg(7), now: 0 });
    expect(c1(next)).toMatchObject({ syncedSeq: 7, gap: false });
  });

  it("a first join counts the changes its messages show (no gap at the next change)", () => {
    let s = run(...online, { type: "chat_joined", chat: chat({ lastSeq: 2 }), messages: [msg(1), changed(2, 3, { content: "e" })], hasMore: false });
    expect(c1(s).syncedSeq).toBe(3);
    s = chatReducer(s, updated(changed(1, 4, { content: "f" })));
    expect(c1(s)).toMatchObject({ syncedSeq: 4, gap: false });
  });
});

describe("message changes: mine", () => {
  const thumbs = (count: number, userIds: string[], mine?: boolean) => ({ emoji: "👍", count, userIds, ...(mine === undefined ? {} : { mine }) });
  const heart = (count: number, userIds: string[], mine?: boolean) => ({ emoji: "❤️", count, userIds, ...(mine === undefined ? {} : { mine }) });
  const many = (n: number) => Array.from({ length: n }, (_, i) => `u${String(i).padStart(2, "0")}`);

  it("is exact from an ack (message_changed)", () => {
    const s = chatReducer(joined(), { type: "message_changed", message: changed(1, 4, { reactions: [thumbs(1, ["alice"], true)] }) });
    expect(mineOf(s, "m1", "👍")).toBe(true);
  });

  it("from a live event by the user: exact for its emoji", () => {
    let s = chatReducer(joined(), updated(changed(1, 4, { reactions: [thumbs(21, many(20))] }), { type: "react", userId: "alice", emoji: "👍", add: true }));
    expect(mineOf(s, "m1", "👍")).toBe(true);
    // removed on another device, others' 👍 stay
    s = chatReducer(s, updated(changed(1, 5, { reactions: [thumbs(20, many(20))] }), { type: "react", userId: "alice", emoji: "👍", add: false }));
    expect(mineOf(s, "m1", "👍")).toBe(false);
  });

  it("from someone else's live event: what was known stays when userIds cannot tell", () => {
    // known exactly: alice reacted 👍, among 25 (userIds holds only 20, not her)
    let s = chatReducer(joined(), { type: "message_changed", message: changed(1, 4, { reactions: [thumbs(25, many(20), true)] }) });
    s = chatReducer(s, updated(changed(1, 5, { reactions: [thumbs(26, many(20)), heart(1, ["bob"])] }), { type: "react", userId: "bob", emoji: "❤️", add: true }));
    expect(mineOf(s, "m1", "👍")).toBe(true);
    expect(mineOf(s, "m1", "❤️")).toBe(false);
    // an edit keeps them too
    s = chatReducer(s, updated(changed(1, 6, { content: "e", reactions: [thumbs(26, many(20)), heart(1, ["bob"])] })));
    expect(mineOf(s, "m1", "👍")).toBe(true);
  });

  it("from someone else's live event: userIds decides when it names the user or is complete", () => {
    let s = chatReducer(joined(), updated(changed(1, 4, { reactions: [thumbs(2, ["alice", "bob"])] }), { type: "react", userId: "bob", emoji: "👍", add: true }));
    expect(mineOf(s, "m1", "👍")).toBe(true);
    s = chatReducer(s, updated(changed(1, 5, { reactions: [thumbs(1, ["bob"])] }), { type: "react", userId: "carol", emoji: "👍", add: false }));
    expect(mineOf(s, "m1", "👍")).toBe(false);
  });

  it("a per-user answer at the same changeSeq corrects a derived mine", () => {
    let s = chatReducer(joined(), updated(changed(1, 4, { reactions: [thumbs(25, many(20))] }), { type: "react", userId: "bob", emoji: "👍", add: true }));
    expect(mineOf(s, "m1", "👍")).toBe(false);
    s = chatReducer(s, { type: "messages_fetched", chatId: "c1", messages: [], updates: [changed(1, 4, { reactions: [thumbs(25, many(20), true)] })], hasMore: false });
    expect(mineOf(s, "m1", "👍")).toBe(true);
    // but a live event at that changeSeq does not undo it
    const again = chatReducer(s, updated(changed(1, 4, { reactions: [thumbs(25, many(20))] }), { type: "react", userId: "bob", emoji: "👍", add: true }));
    expect(mineOf(again, "m1", "👍")).toBe(true);
  });
});

describe("replies and attachments", () => {
  it("a pending reply shows its quote and attachments until acked", () => {
    const s = chatReducer(joined(), {
      type: "send_queued",
      chatId: "c1",
      clientMessageId: "k1",
      content: "",
      senderId: "alice",
      createdAt: "2026-11-26T08:00:00.000Z",
      replyTo: { id: "m1", senderId: "bob", snippet: "message 1" },
      attachments: [{ id: "a1", name: "cat.png", contentType: "image/png", size: 68 }],
    });
    const item = selectTimeline(c1(s), "alice").at(-1)!;
    expect(item).toMatchObject({ status: "pending", replyTo: { id: "m1", snippet: "message 1" }, attachments: [{ name: "cat.png", url: null }] });
  });

  it("follows an upload from slot to progress to uploaded, and forgets it when removed", () => {
    let s = run(...online, { type: "upload_started", uploadId: "u1", chatId: "c1", fileName: "cat.png", contentType: "image/png", size: 100 });
    expect(selectUploads(s, "c1")).toMatchObject([{ status: "requesting", loaded: 0 }]);
    s = chatReducer(s, { type: "upload_slot", uploadId: "u1", attachmentId: "a1" });
    s = chatReducer(s, { type: "upload_progress", uploadId: "u1", loaded: 40 });
    s = chatReducer(s, { type: "upload_progress", uploadId: "u1", loaded: 30 });
    expect(s.uploads.u1).toMatchObject({ status: "uploading", attachmentId: "a1", loaded: 40 });
    s = chatReducer(s, { type: "upload_done", uploadId: "u1" });
    expect(s.uploads.u1).toMatchObject({ status: "uploaded", loaded: 100 });
    expect(selectUploads(s, "c2")).toEqual([]);
    s = chatReducer(s, { type: "upload_removed", uploadId: "u1" });
    expect(s.uploads).toEqual({});
    const failed = chatReducer(
      run(...online, { type: "upload_started", uploadId: "u2", chatId: "c1", fileName: "big.png", contentType: "image/png", size: 1 }),
      { type: "upload_failed", uploadId: "u2", error: { code: "TOO_LARGE", message: "over 10 MiB" } },
    );
    expect(failed.uploads.u2).toMatchObject({ status: "failed", error: { code: "TOO_LARGE" } });
    expect(failed.lastError?.code).toBe("TOO_LARGE");
  });
});
