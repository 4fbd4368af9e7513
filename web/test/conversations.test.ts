// The controller's side of conversations (protocol 1.1): list_chats paging and reloads, the
// presence snapshot, chats learnt from new_message, topics, membership and blocking requests.
import { describe, expect, it } from "vitest";
import { ChatController, RequestError } from "../src/chat/controller";
import type { Chat } from "../src/chat/protocol";
import { selectInbox } from "../src/chat/selectors";
import { chat, FakeSocket, flush, msg } from "./fixtures";

function setup(options: { loadInbox?: boolean; inboxPageSize?: number } = {}) {
  const socket = new FakeSocket();
  const controller = new ChatController({
    getToken: async () => "t",
    socketFactory: () => socket,
    newClientMessageId: () => "k1",
    ...options,
  });
  controller.start();
  return { socket, controller };
}

const listed = (id: string, minute: number, over: Partial<Chat> = {}): Chat =>
  chat({
    id,
    lastSeq: 1,
    lastMessage: msg(1, { id: `${id}-1`, chatId: id, createdAt: new Date(Date.UTC(2026, 10, 26, 7, minute)).toISOString() }),
    version: 1,
    ...over,
  });

/** Connected as alice with the first page answered: c1 (newer), c2. */
async function withInbox(nextCursor: string | null = "p2") {
  const ctx = setup();
  ctx.socket.open();
  const list = ctx.socket.take("list_chats");
  expect(list.payload).toEqual({ limit: 20 });
  list.ack(null, { ok: true, chats: [listed("c1", 10, { unreadCount: 1 }), listed("c2", 5, { members: ["alice", "carol"] })], nextCursor });
  await flush();
  return ctx;
}

const inboxIds = (controller: ChatController) => selectInbox(controller.getState()).map((e) => e.chatId);

describe("ChatController: the inbox", () => {
  it("loads the first page on connect, then everyone's presence", async () => {
    const { socket, controller } = await withInbox();
    expect(controller.getState().inbox).toMatchObject({ status: "loaded", nextCursor: "p2" });
    expect(inboxIds(controller)).toEqual(["c1", "c2"]);
    const presence = socket.take("get_active_users");
    expect(presence.payload).toEqual({});
    presence.ack(null, { ok: true, users: [{ userId: "bob", online: true, lastSeen: null }, { userId: "carol", online: false, lastSeen: "2026-11-26T06:00:00.000Z" }] });
    await flush();
    expect(selectInbox(controller.getState()).map((e) => e.presence?.online)).toEqual([true, false]);
  });

  it("pages with the cursor while there is one, one request at a time", async () => {
    const { socket, controller } = await withInbox();
    const more = controller.loadMoreChats();
    void controller.loadMoreChats();
    expect(socket.emitted.filter((e) => e.event === "list_chats")).toHaveLength(1);
    expect(controller.getState().inbox.loadingMore).toBe(true);
    const page = socket.take("list_chats");
    expect(page.payload).toEqual({ limit: 20, cursor: "p2" });
    page.ack(null, { ok: true, chats: [listed("c3", 1, { members: ["alice", "dan"] })], nextCursor: null });
    await more;
    expect(inboxIds(controller)).toEqual(["c1", "c2", "c3"]);
    expect(controller.getState().inbox).toMatchObject({ nextCursor: null, loadingMore: false });
    await controller.loadMoreChats(); // nothing left: no request
    expect(socket.has("list_chats")).toBe(false);
  });

  it("honours inboxPageSize; with loadInbox false it loads only when asked", async () => {
    const { socket, controller } = setup({ loadInbox: false, inboxPageSize: 5 });
    socket.open();
    await flush();
    expect(socket.has("list_chats")).toBe(false);
    expect(controller.getState().inbox.status).toBe("idle");
    void controller.loadChats();
    expect(controller.getState().inbox.status).toBe("loading");
    expect(socket.take("list_chats").payload).toEqual({ limit: 5 });
  });

  it("reloads the first page after a reconnect; an older page's answer is then ignored", async () => {
    const { socket, controller } = await withInbox();
    socket.answerAll("get_active_users", () => ({ ok: true, users: [] }));
    void controller.loadMoreChats();
    const stale = socket.take("list_chats");
    socket.drop(); // fails the pending ack
    await flush();
    socket.open();
    const reload = socket.take("list_chats");
    expect(reload.payload).toEqual({ limit: 20 });
    stale.ack(null, { ok: true, chats: [listed("old", 0)], nextCursor: "p3" });
    const newer = msg(2, { id: "c2-2", chatId: "c2", senderId: "carol", createdAt: "2026-11-26T07:30:00.000Z" });
    reload.ack(null, { ok: true, chats: [listed("c2", 30, { members: ["alice", "carol"], lastSeq: 2, lastMessage: newer }), listed("c1", 10)], nextCursor: "p2b" });
    await flush();
    expect(inboxIds(controller)).toEqual(["c2", "c1"]);
    expect(controller.getState().inbox.nextCursor).toBe("p2b");
  });

  it("a failed first page is an error until a retry answers", async () => {
    const { socket, controller } = setup();
    socket.open();
    socket.take("list_chats").ack(null, { ok: false, error: { code: "UNAVAILABLE", message: "store down" } });
    await flush();
    expect(controller.getState().inbox).toMatchObject({ status: "error", error: { code: "UNAVAILABLE" } });
    void controller.loadChats();
    socket.take("list_chats").ack(null, { ok: true, chats: [], nextCursor: null });
    await flush();
    expect(controller.getState().inbox).toMatchObject({ status: "loaded", error: null });
  });

  it("fetches the chat of a message it does not know (once), and adds it at the top", async () => {
    const { socket, controller } = await withInbox();
    socket.answerAll("get_active_users", () => ({ ok: true, users: [] }));
    const m = msg(1, { id: "n1", chatId: "c9", senderId: "erin", createdAt: "2026-11-26T08:00:00.000Z" });
    socket.fire("new_message", m);
    socket.fire("new_message", { ...m, id: "n2", seq: 2 });
    const info = socket.take("get_chat_info");
    expect(info.payload).toEqual({ chatId: "c9" });
    expect(socket.has("get_chat_info")).toBe(false);
    info.ack(null, { ok: true, chat: listed("c9", 60, { members: ["alice", "erin"], lastSeq: 2, lastMessage: { ...m, id: "n2", seq: 2 }, unreadCount: 2 }) });
    await flush();
    expect(inboxIds(controller)[0]).toBe("c9");
    expect(socket.take("get_active_users").payload).toEqual({ chatId: "c9" });
    // a count for a chat it does not know (its get_chat_info failed) asks again
    socket.fire("new_message", msg(1, { id: "x1", chatId: "c8", createdAt: "2026-11-26T08:30:00.000Z" }));
    socket.take("get_chat_info").ack(null, { ok: false, error: { code: "UNAVAILABLE", message: "store down" } });
    await flush();
    socket.fire("unread_count", { chatId: "c8", unreadCount: 1, totalUnread: 4 });
    expect(socket.take("get_chat_info").payload).toEqual({ chatId: "c8" });
        // a message of a known chat asks nothing
    socket.fire("new_message", msg(2, { id: "c1-2", chatId: "c1", createdAt: "2026-11-26T09:00:00.000Z" }));
    expect(socket.has("get_chat_info")).toBe(false);
    expect(inboxIds(controller)[0]).toBe("c1");
  });

  it("follows chat_updated and removed_from_chat", async () => {
    const { socket, controller } = await withInbox();
    socket.fire("chat_updated", { chat: { ...listed("c2", 5, { members: ["alice", "carol"], version: 2, blocked: true }), unreadCount: undefined }, change: { type: "blocked", by: "carol" } });
    expect(selectInbox(controller.getState()).find((e) => e.chatId === "c2")?.blocked).toBe(true);
    socket.fire("removed_from_chat", { chatId: "c1" });
    expect(inboxIds(controller)).toEqual(["c2"]);
  });

  it("joinChat while disconnected joins once connected", async () => {
    const { socket, controller } = setup();
    const joined = controller.joinChat("g1");
    expect(socket.has("join_chat")).toBe(false);
    socket.open();
    const join = socket.take("join_chat");
    expect(join.payload).toEqual({ chatId: "g1" });
    expect(socket.has("join_chat")).toBe(false);
    join.ack(null, { ok: true, chat: listed("g1", 5, { type: "group", members: ["alice", "bob"] }), messages: [], hasMore: false });
    await joined;
    expect(controller.getState().currentChatId).toBe("g1");
  });

  it("a chat that answers NOT_FOUND after a reconnect was lost while away", async () => {
    const { socket, controller } = await withInbox();
    const joined = controller.joinChat("c2");
    socket.take("join_chat").ack(null, { ok: true, chat: listed("c2", 5, { members: ["alice", "carol"] }), messages: [], hasMore: false });
    await joined;
    socket.drop();
    socket.open();
    const rejoin = socket.take("join_chat");
    expect(rejoin.payload).toMatchObject({ chatId: "c2" });
    rejoin.ack(null, { ok: false, error: { code: "NOT_FOUND", message: "no such chat" } });
    await flush();
    expect(controller.getState().chats.c2?.removed).toBe(true);
    expect(inboxIds(controller)).toEqual(["c1"]);
  });
});

describe("ChatController: topics, groups, blocking", () => {
  it("opens a direct chat about a topic", async () => {
    const { socket, controller } = await withInbox();
    const opened = controller.openDirectChat("bob", "listing-7");
    const join = socket.take("join_chat");
    expect(join.payload).toEqual({ recipientId: "bob", topic: "listing-7" });
    join.ack(null, { ok: true, chat: chat({ id: "t7", topic: "listing-7" }), messages: [], hasMore: false });
    expect(await opened).toBe("t7");
    expect(controller.getState().currentChatId).toBe("t7");
    expect(controller.getState().directChats["bob#listing-7"]).toBe("t7");
    // the same again: already joined, no request
    expect(await controller.openDirectChat("bob", "listing-7")).toBe("t7");
    expect(socket.has("join_chat")).toBe(false);
  });

  it("a direct chat refused with BLOCKED rejects, also when asked before connecting", async () => {
    const { socket, controller } = setup();
    const opened = controller.openDirectChat("bob", "lamp");
    socket.open();
    socket.take("join_chat").ack(null, { ok: false, error: { code: "BLOCKED", message: "blocked" } });
    await expect(opened).rejects.toMatchObject({ code: "BLOCKED" });
    expect(controller.getState().lastError?.code).toBe("BLOCKED");
    // not asked again on the next connect
    socket.drop();
    socket.open();
    expect(socket.has("join_chat")).toBe(false);
  });

  it("sends the membership and title requests and keeps the chat each answers", async () => {
    const { socket, controller } = await withInbox();
    const group = (over: Partial<Chat>) => listed("g1", 20, { type: "group", title: "Hikers", members: ["alice", "bob"], admins: ["alice"], ...over });

    const added = controller.addMembers("g1", ["dan"]);
    const add = socket.take("add_members");
    expect(add.payload).toEqual({ chatId: "g1", userIds: ["dan"] });
    add.ack(null, { ok: true, chat: group({ members: ["alice", "bob", "dan"], version: 2 }) });
    expect((await added).members).toEqual(["alice", "bob", "dan"]);
    expect(controller.getState().chats.g1?.info?.members).toEqual(["alice", "bob", "dan"]);

    const removed = controller.removeMember("g1", "bob");
    const remove = socket.take("remove_member");
    expect(remove.payload).toEqual({ chatId: "g1", userId: "bob" });
    remove.ack(null, { ok: true, chat: group({ members: ["alice", "dan"], version: 3 }) });
    await removed;

    const renamed = controller.renameChat("g1", "Climbers");
    const rename = socket.take("update_chat");
    expect(rename.payload).toEqual({ chatId: "g1", title: "Climbers" });
    rename.ack(null, { ok: true, chat: group({ title: "Climbers", members: ["alice", "dan"], version: 4 }) });
    await renamed;
    expect(selectInbox(controller.getState()).find((e) => e.chatId === "g1")?.title).toBe("Climbers");

    const admins = controller.updateChat("g1", { admins: ["alice", "dan"] });
    expect(socket.take("update_chat").payload).toEqual({ chatId: "g1", admins: ["alice", "dan"] });
    void admins.catch(() => undefined);

    const left = controller.leaveGroup("g1");
    const leave = socket.take("leave_chat");
    expect(leave.payload).toEqual({ chatId: "g1", leaveGroup: true });
    leave.ack(null, { ok: true });
    await left;
    expect(inboxIds(controller)).not.toContain("g1");
  });

  it("a refused change rejects with a RequestError and sets lastError", async () => {
    const { socket, controller } = await withInbox();
    const added = controller.addMembers("g1", ["dan"]);
    socket.take("add_members").ack(null, { ok: false, error: { code: "FORBIDDEN", message: "admins only" } });
    await expect(added).rejects.toBeInstanceOf(RequestError);
    await expect(added).rejects.toMatchObject({ code: "FORBIDDEN", message: "admins only" });
    expect(controller.getState().lastError).toEqual({ code: "FORBIDDEN", message: "admins only" });
  });

  it("blocks, unblocks and lists the blocked", async () => {
    const { socket, controller } = await withInbox();
    const b = controller.blockUser("bob");
    const block = socket.take("block_user");
    expect(block.payload).toEqual({ userId: "bob" });
    block.ack(null, { ok: true });
    await b;
    expect(controller.getState().blocks.userIds).toEqual(["bob"]);
    expect(selectInbox(controller.getState()).find((e) => e.chatId === "c1")?.blocked).toBe(true);

    const u = controller.unblockUser("bob");
    const unblock = socket.take("unblock_user");
    expect(unblock.payload).toEqual({ userId: "bob" });
    unblock.ack(null, { ok: true });
    await u;
    expect(controller.getState().blocks.userIds).toEqual([]);

    const list = controller.getBlocked();
    const get = socket.take("get_blocked");
    expect(get.payload).toEqual({});
    get.ack(null, { ok: true, userIds: ["zed", "yan"] });
    expect(await list).toEqual(["zed", "yan"]);
    expect(controller.getState().blocks).toEqual({ known: true, userIds: ["yan", "zed"] });
  });

  it("a send refused with BLOCKED fails for good, with the chat marked blocked", async () => {
    const { socket, controller } = await withInbox();
    controller.sendMessage("c1", "still there?");
    await flush();
    socket.take("send_message").ack(null, { ok: false, error: { code: "BLOCKED", message: "blocked" } });
    await flush();
    const c = controller.getState().chats.c1!;
    expect(c.pending[0]).toMatchObject({ status: "failed", error: { code: "BLOCKED" } });
    expect(c.info?.blocked).toBe(true);
  });
});
