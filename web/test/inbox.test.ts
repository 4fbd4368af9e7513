// The inbox and conversations (protocol 1.1) in the pure reducer and its selectors.
import { describe, expect, it } from "vitest";
import type { Chat, Message } from "../src/chat/protocol";
import { type ChatAction, type ChatClientState, chatReducer, directKey, initialState, mergeInfo } from "../src/chat/reducer";
import { chatTitle, messagePreview, selectDirectChat, selectInbox } from "../src/chat/selectors";
import { changed, chat, msg } from "./fixtures";

function run(...actions: ChatAction[]): ChatClientState {
  return actions.reduce(chatReducer, initialState);
}

const online: ChatAction[] = [
  { type: "connection", state: "connected" },
  { type: "connected", userId: "alice" },
];

const at = (minute: number) => new Date(Date.UTC(2026, 10, 26, 7, minute)).toISOString();

/** A message of chat `chatId` sent at minute `minute`. */
function m(chatId: string, seq: number, minute: number, over: Partial<Message> = {}): Message {
  return msg(seq, { id: `${chatId}-m${seq}`, chatId, createdAt: at(minute), ...over });
}

/** A chat as list_chats answers it: its last message at `minute`. */
function listed(id: string, minute: number, over: Partial<Chat> = {}): Chat {
  const last = m(id, 3, minute, { senderId: over.members?.find((u) => u !== "alice") ?? "bob" });
  return chat({ id, lastSeq: 3, lastMessage: last, lastActivityAt: at(minute), version: 1, admins: [], topic: null, blocked: false, ...over });
}

/** Alice's inbox: c1 with bob about a bike (minute 10), c2 with carol (minute 5), g1 a group (minute 1). */
function inbox(nextCursor: string | null = "cur-1"): ChatClientState {
  return run(
    ...online,
    { type: "inbox_requested", more: false },
    {
      type: "inbox_page",
      more: false,
      nextCursor,
      chats: [
        listed("c1", 10, { topic: "bike", unreadCount: 2 }),
        listed("c2", 5, { members: ["alice", "carol"], unreadCount: 1 }),
        listed("g1", 1, { type: "group", title: "Hikers", members: ["alice", "bob", "dan"], admins: ["alice"] }),
      ],
    },
  );
}

const ids = (s: ChatClientState) => selectInbox(s).map((e) => e.chatId);
const entry = (s: ChatClientState, id: string) => selectInbox(s).find((e) => e.chatId === id)!;

describe("the inbox: pages", () => {
  it("starts idle, loads, and lists the chats newest activity first", () => {
    expect(initialState.inbox.status).toBe("idle");
    const loading = run(...online, { type: "inbox_requested", more: false });
    expect(loading.inbox.status).toBe("loading");
    const s = inbox();
    expect(s.inbox).toMatchObject({ status: "loaded", nextCursor: "cur-1", loadingMore: false, error: null });
    expect(ids(s)).toEqual(["c1", "c2", "g1"]);
    expect(s.totalUnread).toBe(3);
  });

  it("describes each conversation: title, topic, other member, preview, presence, admin", () => {
    let s = inbox();
    s = chatReducer(s, { type: "presence", users: [{ userId: "bob", online: true, lastSeen: null }] });
    expect(entry(s, "c1")).toMatchObject({
      type: "direct",
      title: "bob",
      topic: "bike",
      otherUserId: "bob",
      preview: "message 3",
      unreadCount: 2,
      presence: { online: true, lastSeen: null },
      blocked: false,
      isAdmin: false,
      lastActivityAt: at(10),
    });
    expect(entry(s, "c2").presence).toBeNull();
    expect(entry(s, "g1")).toMatchObject({ type: "group", title: "Hikers", otherUserId: null, presence: null, isAdmin: true });
  });

  it("appends the next page, deduplicating a chat seen twice", () => {
    let s = chatReducer(inbox(), { type: "inbox_requested", more: true });
    expect(s.inbox.loadingMore).toBe(true);
    s = chatReducer(s, { type: "inbox_page", more: true, nextCursor: null, chats: [listed("g1", 1, { type: "group", title: "Hikers", members: ["alice", "bob", "dan"] }), listed("c3", 0, { members: ["alice", "erin"] })] });
    expect(ids(s)).toEqual(["c1", "c2", "g1", "c3"]);
    expect(s.inbox).toMatchObject({ nextCursor: null, loadingMore: false });
  });

  it("keeps the inbox on a failed reload; a failed first load is an error", () => {
    const error = { code: "UNAVAILABLE", message: "store down" };
    const failedFirst = run(...online, { type: "inbox_requested", more: false }, { type: "inbox_failed", more: false, error });
    expect(failedFirst.inbox).toMatchObject({ status: "error", error });
    expect(failedFirst.lastError).toEqual(error);
    const reloadFailed = chatReducer(chatReducer(inbox(), { type: "inbox_requested", more: false }), { type: "inbox_failed", more: false, error });
    expect(reloadFailed.inbox.status).toBe("loaded");
    expect(selectInbox(reloadFailed)).toHaveLength(3);
    const moreFailed = chatReducer(chatReducer(inbox(), { type: "inbox_requested", more: true }), { type: "inbox_failed", more: true, error });
    expect(moreFailed.inbox).toMatchObject({ status: "loaded", loadingMore: false, error, nextCursor: "cur-1" });
  });

  it("maps listed direct chats by other member and topic, so opening one finds it", () => {
    const s = inbox();
    expect(s.directChats[directKey("bob", "bike")]).toBe("c1");
    expect(s.directChats.carol).toBe("c2");
    expect(selectDirectChat(s, "bob", "bike")?.id).toBe("c1");
    expect(selectDirectChat(s, "bob")).toBeUndefined();
  });

  it("a reload's first page drops the chats it should hold but lacks (removed while away)", () => {
    // c2 (minute 5) is newer than the page's last chat (g1, minute 1) and missing: gone.
    let s = chatReducer(inbox(), { type: "inbox_requested", more: false });
    s = chatReducer(s, { type: "inbox_page", more: false, nextCursor: "cur-2", chats: [listed("c1", 10, { topic: "bike", unreadCount: 2 }), listed("g1", 1, { type: "group", title: "Hikers", members: ["alice", "bob", "dan"] })] });
    expect(ids(s)).toEqual(["c1", "g1"]);
    expect(s.chats.c2?.removed).toBe(true);
    expect(s.totalUnread).toBe(2);
  });

  it("but not a chat with live activity since the page was asked for, nor older ones beyond the page", () => {
    let s = chatReducer(inbox(), { type: "inbox_requested", more: false });
    // carol writes while the page is on its way: the page was read before c2 moved.
    s = chatReducer(s, { type: "message_received", message: m("c2", 4, 20, { senderId: "carol" }), now: 0 });
    s = chatReducer(s, { type: "inbox_page", more: false, nextCursor: "cur-2", chats: [listed("c1", 10, { topic: "bike" })] });
    expect(ids(s)).toEqual(["c2", "c1", "g1"]);
    expect(s.chats.g1?.removed).toBe(false);
  });
});

describe("the inbox: live", () => {
  it("a new message moves its chat to the top with its preview", () => {
    let s = chatReducer(inbox(), { type: "message_received", message: m("g1", 4, 30, { senderId: "dan", content: "  summit\nat noon " }), now: 0 });
    expect(ids(s)).toEqual(["g1", "c1", "c2"]);
    expect(entry(s, "g1")).toMatchObject({ preview: "summit at noon", lastActivityAt: at(30) });
    expect(entry(s, "g1").chat.lastSeq).toBe(4);
    // an older message (a gap fill) does not change the preview or the order
    s = chatReducer(s, { type: "message_received", message: m("c2", 2, 2, { senderId: "carol" }), now: 0 });
    expect(ids(s)).toEqual(["g1", "c1", "c2"]);
    expect(entry(s, "c2").preview).toBe("message 3");
  });

  it("one's own acked send moves the chat too", () => {
    let s = chatReducer(inbox(), { type: "send_queued", chatId: "c2", clientMessageId: "k1", content: "hi carol", senderId: "alice", createdAt: at(40) });
    expect(ids(s)[0]).toBe("c1");
    s = chatReducer(s, { type: "send_acked", clientMessageId: "k1", message: m("c2", 4, 40, { senderId: "alice", content: "hi carol", clientMessageId: "k1" }) });
    expect(ids(s)[0]).toBe("c2");
    expect(entry(s, "c2").lastMessage?.senderId).toBe("alice");
  });

  it("an edit or deletion of the last message updates the preview; of an older one, not", () => {
    const last = m("c1", 3, 10);
    let s = chatReducer(inbox(), { type: "message_updated", event: { chatId: "c1", seq: 5, message: { ...changed(3, 5, { content: "edited" }), id: last.id, chatId: "c1", createdAt: last.createdAt }, change: { type: "edit", userId: "bob" } } });
    expect(entry(s, "c1").preview).toBe("edited");
    expect(ids(s)).toEqual(["c1", "c2", "g1"]);
    s = chatReducer(s, { type: "message_updated", event: { chatId: "c1", seq: 6, message: { ...changed(3, 6, { content: "", deleted: true }), id: last.id, chatId: "c1" }, change: { type: "delete", userId: "bob" } } });
    expect(entry(s, "c1").preview).toBe("Message deleted");
    const older = chatReducer(s, { type: "message_updated", event: { chatId: "c1", seq: 7, message: { ...changed(2, 7, { content: "older" }), id: "c1-m2", chatId: "c1" }, change: { type: "edit", userId: "bob" } } });
    expect(entry(older, "c1").preview).toBe("Message deleted");
  });

  it("unread_count sets the chat's count and the total", () => {
    const s = chatReducer(inbox(), { type: "unread_count", event: { chatId: "c2", unreadCount: 4, totalUnread: 9 } });
    expect(entry(s, "c2").unreadCount).toBe(4);
    expect(s.totalUnread).toBe(9);
    // a chat the client does not know, with nothing unread: only the total
    const other = chatReducer(s, { type: "unread_count", event: { chatId: "zz", unreadCount: 0, totalUnread: 6 } });
    expect(other.chats.zz).toBeUndefined();
    expect(other.totalUnread).toBe(6);
  });

  it("a page after the server's total does not count its chats twice", () => {
    // the server's total (5) already holds c1's 2 and c2's 1, which this client has not seen yet
    let s = run(...online, { type: "unread_count", event: { chatId: "g9", unreadCount: 2, totalUnread: 5 } });
    s = chatReducer(s, { type: "inbox_page", more: false, nextCursor: null, chats: [listed("c1", 10, { unreadCount: 2 }), listed("c2", 5, { members: ["alice", "carol"], unreadCount: 1 })] });
    expect(s.totalUnread).toBe(5);
    // a known chat's count still moves it
    s = chatReducer(s, { type: "read_acked", chatId: "c1", readSeq: 3, unreadCount: 0 });
    expect(s.totalUnread).toBe(3);
  });

  it("a chat unknown to the inbox joins it once its object arrives (get_chat_info)", () => {
    let s = chatReducer(inbox(), { type: "message_received", message: m("c9", 1, 50, { senderId: "frank" }), now: 0 });
    expect(ids(s)).not.toContain("c9");
    s = chatReducer(s, { type: "chat_info", chat: listed("c9", 50, { members: ["alice", "frank"], lastSeq: 1, lastMessage: m("c9", 1, 50, { senderId: "frank" }), unreadCount: 1 }) });
    expect(ids(s)[0]).toBe("c9");
    expect(entry(s, "c9")).toMatchObject({ title: "frank", unreadCount: 1 });
  });

  it("chat_updated replaces the chat at a higher version and keeps the unread count", () => {
    const { unreadCount: _drop, ...renamed } = listed("g1", 1, { type: "group", title: "Climbers", members: ["alice", "bob", "dan", "erin"], admins: ["alice"], version: 2 });
    let s = chatReducer(inbox(), { type: "unread_count", event: { chatId: "g1", unreadCount: 3, totalUnread: 6 } });
    s = chatReducer(s, { type: "chat_updated", event: { chat: renamed, change: { type: "chat_renamed", by: "alice" } } });
    expect(entry(s, "g1")).toMatchObject({ title: "Climbers", unreadCount: 3 });
    expect(entry(s, "g1").chat.members).toHaveLength(4);
    // an older version (a late list page) does not undo it, but its preview still counts
    s = chatReducer(s, { type: "inbox_page", more: true, nextCursor: null, chats: [listed("g1", 2, { type: "group", title: "Hikers", members: ["alice", "bob", "dan"], version: 1, lastSeq: 4, lastMessage: m("g1", 4, 2, { senderId: "dan" }) })] });
    expect(entry(s, "g1")).toMatchObject({ title: "Climbers" });
    expect(entry(s, "g1").chat).toMatchObject({ version: 2, lastSeq: 4 });
    expect(entry(s, "g1").lastMessage?.seq).toBe(4);
  });

  it("removed_from_chat drops the chat (and its unread count); a newer version adding the user back restores it", () => {
    let s = chatReducer(inbox(), { type: "chat_removed", chatId: "c2" });
    expect(ids(s)).toEqual(["c1", "g1"]);
    expect(s.totalUnread).toBe(2);
    s = chatReducer(s, { type: "chat_removed", chatId: "g1" });
    s = chatReducer(s, { type: "chat_updated", event: { chat: listed("g1", 1, { type: "group", title: "Hikers", members: ["alice", "bob", "dan"], version: 1 }), change: { type: "chat_renamed", by: "bob" } } });
    expect(ids(s)).toEqual(["c1"]);
    s = chatReducer(s, { type: "chat_updated", event: { chat: listed("g1", 1, { type: "group", title: "Hikers", members: ["alice", "bob"], version: 3 }), change: { type: "members_added", by: "bob", userIds: ["alice"] } } });
    expect(ids(s)).toEqual(["c1", "g1"]);
  });

  it("chat_updated removing the user themselves drops the chat", () => {
    const s = chatReducer(inbox(), {
      type: "chat_updated",
      event: { chat: listed("g1", 1, { type: "group", members: ["bob", "dan"], version: 2 }), change: { type: "member_removed", by: "bob", userId: "alice" } },
    });
    expect(ids(s)).toEqual(["c1", "c2"]);
  });

  it("a removed chat is no longer the current one", () => {
    let s = chatReducer(inbox(), { type: "chat_joined", chat: listed("g1", 1, { type: "group", members: ["alice", "bob"] }), messages: [], hasMore: false });
    s = chatReducer(s, { type: "chat_opened", chatId: "g1" });
    expect(s.currentChatId).toBe("g1");
    s = chatReducer(s, { type: "chat_removed", chatId: "g1" });
    expect(s.currentChatId).toBeNull();
    expect(s.chats.g1).toMatchObject({ removed: true, joined: false });
  });
});

describe("topics and blocking", () => {
  it("a direct chat joined with a topic is found by recipient and topic", () => {
    const s = run(...online, { type: "chat_joined", chat: chat({ id: "t1", topic: "lamp" }), messages: [], hasMore: false, recipientId: "bob", topic: "lamp" });
    expect(s.directChats["bob#lamp"]).toBe("t1");
    expect(selectDirectChat(s, "bob", "lamp")?.id).toBe("t1");
    expect(selectDirectChat(s, "bob")).toBeUndefined();
  });

  it("a send refused with BLOCKED marks the chat blocked and the message failed", () => {
    let s = inbox();
    s = chatReducer(s, { type: "send_queued", chatId: "c1", clientMessageId: "k1", content: "still there?", senderId: "alice", createdAt: at(60) });
    s = chatReducer(s, { type: "send_started", clientMessageId: "k1" });
    s = chatReducer(s, { type: "send_failed", clientMessageId: "k1", error: { code: "BLOCKED", message: "blocked" }, retryable: false, now: 0 });
    expect(s.chats.c1?.pending[0]).toMatchObject({ status: "failed", error: { code: "BLOCKED" } });
    expect(entry(s, "c1").blocked).toBe(true);
  });

  it("block_changed keeps whom the user blocks and marks their direct chats", () => {
    let s = chatReducer(inbox(), { type: "blocks_loaded", userIds: ["zed"] });
    expect(s.blocks).toEqual({ known: true, userIds: ["zed"] });
    s = chatReducer(s, { type: "block_changed", userId: "bob", blocked: true });
    expect(s.blocks.userIds).toEqual(["bob", "zed"]);
    expect(entry(s, "c1").blocked).toBe(true);
    expect(entry(s, "g1").blocked).toBe(false);
    s = chatReducer(s, { type: "block_changed", userId: "bob", blocked: false });
    expect(s.blocks.userIds).toEqual(["zed"]);
    // unblocking waits for the server's chat_updated (the other may block too)
    expect(entry(s, "c1").blocked).toBe(true);
    s = chatReducer(s, { type: "chat_updated", event: { chat: listed("c1", 10, { topic: "bike", version: 3, blocked: false }), change: { type: "unblocked", by: "alice" } } });
    expect(entry(s, "c1").blocked).toBe(false);
  });
});

describe("helpers", () => {
  it("messagePreview: deleted, text in one line, an attachment's name", () => {
    expect(messagePreview(null)).toBe("");
    expect(messagePreview(msg(1, { deleted: true, content: "" }))).toBe("Message deleted");
    expect(messagePreview(msg(1, { content: "a\n\n b" }))).toBe("a b");
    expect(messagePreview(msg(1, { content: "", attachments: [{ id: "a", name: "bike.jpg", contentType: "image/jpeg", size: 1, url: "/x" }] }))).toBe("bike.jpg");
    expect(messagePreview(msg(1, { content: "😀".repeat(150) }))).toBe(`${"😀".repeat(100)}…`);
  });

  it("chatTitle: a group's title or its other members, a direct chat's other member", () => {
    expect(chatTitle(chat({ type: "group", title: "Hikers", members: ["alice", "bob"] }), "alice")).toBe("Hikers");
    expect(chatTitle(chat({ type: "group", title: null, members: ["alice", "bob", "dan"] }), "alice")).toBe("bob, dan");
    expect(chatTitle(chat(), "alice")).toBe("bob");
  });

  it("mergeInfo keeps the higher version's shape and the later last message", () => {
    const held = listed("g1", 5, { type: "group", title: "New", members: ["alice", "bob"], version: 4, unreadCount: 2 });
    const stale = listed("g1", 1, { type: "group", title: "Old", members: ["alice"], version: 3, lastSeq: 1, lastMessage: m("g1", 1, 1), unreadCount: 7 });
    const merged = mergeInfo(held, stale, 0);
    expect(merged).toMatchObject({ title: "New", members: ["alice", "bob"], version: 4, lastSeq: 3, unreadCount: 7, lastActivityAt: at(5) });
    expect(merged.lastMessage?.seq).toBe(3);
  });
});
