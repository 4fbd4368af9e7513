import { afterEach, describe, expect, it, vi } from "vitest";
import { ChatController, ContentError, socketOptions, tokenExpiresAt } from "../src/chat/controller";
import { changed, chat, FakeSocket, FakeXhr, flush, msg } from "./fixtures";

let counter = 0;

function setup(getToken = vi.fn(async () => "token-1"), url?: string) {
  const socket = new FakeSocket();
  const controller = new ChatController({
    url,
    createXhr: () => new FakeXhr(),
    getToken,
    socketFactory: (_url, options) => {
      socket.auth = options.auth;
      return socket;
    },
    newClientMessageId: () => `k${++counter}`,
  });
  controller.start();
  return { socket, controller, getToken };
}

/** Connect and open the direct chat with bob (chat c1 holding seq 1..3). */
async function connectedWithChat(over: Parameters<typeof chat>[0] = {}, url?: string) {
  const ctx = setup(undefined, url);
  const opened = ctx.controller.openDirectChat("bob");
  ctx.socket.open();
  const join = ctx.socket.take("join_chat");
  expect(join.payload).toEqual({ recipientId: "bob" });
  join.ack(null, { ok: true, chat: chat({ lastSeq: 3, ...over }), messages: [msg(1), msg(2), msg(3)], hasMore: false });
  expect(await opened).toBe("c1");
  ctx.socket.answerAll("get_active_users", () => ({ ok: true, chatId: "c1", users: [{ userId: "bob", online: true, lastSeen: null }] }));
  await flush();
  return ctx;
}

afterEach(() => {
  vi.useRealTimers();
});

describe("ChatController", () => {
  it("asks getToken for the handshake each time it connects", async () => {
    const { socket, getToken } = setup();
    const cb = vi.fn();
    socket.auth(cb);
    await flush();
    expect(cb).toHaveBeenCalledWith({ token: "token-1" });
    socket.auth(cb);
    await flush();
    expect(getToken).toHaveBeenCalledTimes(2);
  });

  it("reports connecting, connected and reconnecting", async () => {
    const { socket, controller } = setup();
    expect(controller.getState().connection).toBe("connecting");
    socket.open();
    expect(controller.getState().connection).toBe("connected");
    expect(controller.getState().me).toBe("alice");
    socket.drop();
    expect(controller.getState().connection).toBe("reconnecting");
    controller.stop();
    expect(controller.getState().connection).toBe("offline");
  });

  it("joins the direct chat and loads presence", async () => {
    const { controller } = await connectedWithChat();
    const s = controller.getState();
    expect(s.chats.c1?.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(s.presence.bob?.online).toBe(true);
  });

  it("sends with a clientMessageId and shows the acked message", async () => {
    const { socket, controller } = await connectedWithChat();
    const id = controller.sendMessage("c1", "hello");
    expect(controller.getState().chats.c1?.pending[0]?.status).toBe("pending");
    await flush();
    const send = socket.take("send_message");
    expect(send.payload).toEqual({ chatId: "c1", content: "hello", clientMessageId: id });
    send.ack(null, { ok: true, message: msg(4, { senderId: "alice", content: "hello", clientMessageId: id }) });
    await flush();
    const c = controller.getState().chats.c1!;
    expect(c.pending).toEqual([]);
    expect(c.messages.at(-1)?.content).toBe("hello");
  });

  it("refuses blank and over-long content before sending", async () => {
    const { controller } = await connectedWithChat();
    expect(() => controller.sendMessage("c1", "   \n")).toThrow(ContentError);
    expect(() => controller.sendMessage("c1", "😀".repeat(4001))).toThrow(ContentError);
    expect(() => controller.sendMessage("c1", "😀".repeat(4000))).not.toThrow();
  });

  it("after a reconnect: rejoins with sinceSeq, then resends the unacked message with the same clientMessageId", async () => {
    const { socket, controller } = await connectedWithChat();
    const id = controller.sendMessage("c1", "are you there?");
    await flush();
    socket.take("send_message"); // the ack is lost with the connection
    socket.drop();
    expect(controller.getState().chats.c1?.pending[0]?.inFlight).toBe(false);
    socket.open();
    const rejoin = socket.take("join_chat");
    expect(rejoin.payload).toEqual({ chatId: "c1", sinceSeq: 3 });
    await flush();
    const resend = socket.take("send_message");
    expect(resend.payload).toMatchObject({ clientMessageId: id, content: "are you there?" });
    // Bob wrote while we were away; our message had been stored after all.
    rejoin.ack(null, { ok: true, chat: chat({ lastSeq: 5 }), messages: [msg(4), msg(5, { senderId: "alice", content: "are you there?", clientMessageId: id })], hasMore: false });
    resend.ack(null, { ok: true, message: msg(5, { senderId: "alice", content: "are you there?", clientMessageId: id }) });
    await flush();
    const c = controller.getState().chats.c1!;
    expect(c.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(c.pending).toEqual([]);
  });

  it("retries after a retryable error, keeping the clientMessageId", async () => {
    const { socket, controller } = await connectedWithChat();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const id = controller.sendMessage("c1", "hi");
    await vi.advanceTimersByTimeAsync(0);
    socket.take("send_message").ack(null, { ok: false, error: { code: "UNAVAILABLE", message: "store down" } });
    await vi.advanceTimersByTimeAsync(0);
    expect(socket.has("send_message")).toBe(false);
    await vi.advanceTimersByTimeAsync(1100);
    expect(socket.take("send_message").payload.clientMessageId).toBe(id);
  });

  it("marks a refused message failed and does not retry it", async () => {
    const { socket, controller } = await connectedWithChat();
    controller.sendMessage("c1", "hi");
    await flush();
    socket.take("send_message").ack(null, { ok: false, error: { code: "FORBIDDEN", message: "no" } });
    await flush();
    expect(controller.getState().chats.c1?.pending[0]?.status).toBe("failed");
    expect(socket.has("send_message")).toBe(false);
  });

  it("fills a gap with get_messages afterSeq", async () => {
    const { socket, controller } = await connectedWithChat();
    socket.fire("new_message", msg(6));
    await flush();
    const fetch = socket.take("get_messages");
    expect(fetch.payload).toMatchObject({ chatId: "c1", afterSeq: 3 });
    fetch.ack(null, { ok: true, messages: [msg(4), msg(5), msg(6)], hasMore: false });
    await flush();
    expect(controller.getState().chats.c1?.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(socket.has("get_messages")).toBe(false);
  });

  it("on resync, rejoins open chats from their last seq", async () => {
    const { socket } = await connectedWithChat();
    socket.fire("resync", { reason: "pubsub reconnected" });
    expect(socket.take("join_chat").payload).toEqual({ chatId: "c1", sinceSeq: 3 });
  });

  it("catches up closed chats with get_chat_info and get_messages after a reconnect", async () => {
    const { socket, controller } = await connectedWithChat();
    const left = controller.leaveChat("c1");
    socket.answerAll("leave_chat", () => ({ ok: true }));
    await left;
    socket.drop();
    socket.open();
    await flush();
    expect(socket.has("join_chat")).toBe(false);
    expect(socket.take("get_messages").payload).toMatchObject({ chatId: "c1", afterSeq: 3 });
    socket.take("get_chat_info").ack(null, { ok: true, chat: chat({ lastSeq: 3, unreadCount: 1 }) });
    await flush();
    expect(controller.getState().chats.c1?.unreadCount).toBe(1);
  });

  it("on server_draining waits about reconnectAfterMs before reconnecting, and shows it", async () => {
    const { socket, controller } = await connectedWithChat();
    socket.fire("server_draining", { reconnectAfterMs: 3000 });
    expect(controller.getState().draining?.reconnectAfterMs).toBe(3000);
    expect(socket.manager.delay).toBe(3000);
    expect(socket.manager.delayMax).toBeGreaterThanOrEqual(3000);
    socket.drop();
    expect(controller.getState().connection).toBe("reconnecting");
    socket.open();
    expect(controller.getState().draining).toBeNull();
    expect(socket.manager.delay).toBe(500);
  });

  it("after a refused handshake, reconnects by itself with a fresh token", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { socket, controller } = setup();
    socket.active = false;
    const err = Object.assign(new Error("unauthorized"), { data: { code: "UNAUTHORIZED", message: "expired" } });
    socket.fire("connect_error", err);
    expect(controller.getState().connectError?.code).toBe("UNAUTHORIZED");
    expect(socket.connectCalls).toBe(1);
    await vi.advanceTimersByTimeAsync(2000);
    expect(socket.connectCalls).toBe(2);
  });

  it("tracks unread counts, read marks, presence and typing from server events", async () => {
    const { socket, controller } = await connectedWithChat();
    socket.fire("unread_count", { chatId: "c1", unreadCount: 2, totalUnread: 2 });
    socket.fire("messages_read", { chatId: "c1", userId: "bob", readSeq: 3 });
    socket.fire("user_offline", { userId: "bob", lastSeen: "2026-11-26T07:00:00.000Z" });
    socket.fire("user_typing", { chatId: "c1", userId: "bob", isTyping: true });
    const s = controller.getState();
    expect(s.totalUnread).toBe(2);
    expect(s.chats.c1?.readSeqs.bob).toBe(3);
    expect(s.presence.bob?.online).toBe(false);
    expect(Object.keys(s.chats.c1!.typing)).toEqual(["bob"]);
  });

  it("throttles typing notices", async () => {
    const { socket, controller } = await connectedWithChat();
    controller.setTyping("c1", true);
    controller.setTyping("c1", true);
    controller.setTyping("c1", false);
    controller.setTyping("c1", false);
    const typing = socket.emitted.filter((e) => e.event === "typing").map((e) => e.payload);
    expect(typing).toEqual([
      { chatId: "c1", isTyping: true },
      { chatId: "c1", isTyping: false },
    ]);
  });

  it("marks read and takes the new unread count", async () => {
    const { socket, controller } = await connectedWithChat({ unreadCount: 2 });
    const done = controller.markRead("c1", 3);
    socket.take("mark_messages_read").ack(null, { ok: true, chatId: "c1", readSeq: 3, unreadCount: 0 });
    await done;
    expect(controller.getState().chats.c1?.unreadCount).toBe(0);
    expect(controller.getState().chats.c1?.readSeqs.alice).toBe(3);
  });

  it("times out requests as TIMEOUT and rejects when offline", async () => {
    const { socket, controller } = setup();
    await expect(controller.request("ping", {})).rejects.toMatchObject({ code: "OFFLINE" });
    socket.open();
    const p = controller.request("ping", {});
    socket.take("ping").ack(new Error("operation has timed out"), undefined);
    await expect(p).rejects.toMatchObject({ code: "TIMEOUT" });
  });

  it("hands the server a fresh token with auth_refresh before the old one expires", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const jwt = (exp: number) => `h.${btoa(JSON.stringify({ sub: "alice", exp })).replace(/=+$/, "")}.s`;
    const now = Math.floor(Date.now() / 1000);
    const tokens = [jwt(now + 100), jwt(now + 3600)];
    const getToken = vi.fn(async () => tokens.shift() ?? "none");
    const { socket } = setup(getToken);
    socket.auth(() => undefined);
    await vi.advanceTimersByTimeAsync(0);
    socket.open();
    await vi.advanceTimersByTimeAsync(70_000);
    expect(socket.has("auth_refresh")).toBe(false);
    await vi.advanceTimersByTimeAsync(15_000);
    const refresh = socket.take("auth_refresh");
    expect(refresh.payload).toEqual({ token: jwt(now + 3600) });
    refresh.ack(null, { ok: true, expiresAt: new Date((now + 3600) * 1000).toISOString() });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(socket.has("auth_refresh")).toBe(false);
  });

  it("reads a JWT's expiry", () => {
    const payload = btoa(JSON.stringify({ sub: "a", exp: 1_800_000_000 })).replace(/=+$/, "");
    expect(tokenExpiresAt(`x.${payload}.y`)).toBe(1_800_000_000_000);
    expect(tokenExpiresAt("not a jwt")).toBeNull();
  });
});

describe("the default socket", () => {
  it("tries WebSocket first, falls back to polling, and sends cookies for load-balancer stickiness", () => {
    const options = socketOptions({ path: "/socket.io/", auth: (cb) => cb({ token: "t" }), reconnectionDelay: 1, reconnectionDelayMax: 2 });
    expect(options.transports).toEqual(["websocket", "polling"]);
    expect(options.tryAllTransports).toBe(true);
    expect(options.withCredentials).toBe(true);
    expect(options.autoConnect).toBe(false);
  });
});

describe("ChatController: message changes (v1.1)", () => {
  it("edits, deletes and reacts with acks that update the message", async () => {
    const { socket, controller } = await connectedWithChat();
    const edit = controller.editMessage("c1", "m2", "fixed");
    const e = socket.take("edit_message");
    expect(e.payload).toEqual({ chatId: "c1", messageId: "m2", content: "fixed" });
    e.ack(null, { ok: true, message: changed(2, 4, { content: "fixed", editedAt: "2026-11-26T07:10:00.000Z" }) });
    expect((await edit).content).toBe("fixed");
    expect(controller.getState().chats.c1?.messages[1]?.content).toBe("fixed");

    const react = controller.react("c1", "m1", "👍", true);
    const r = socket.take("react");
    expect(r.payload).toEqual({ chatId: "c1", messageId: "m1", emoji: "👍", add: true });
    r.ack(null, { ok: true, message: changed(1, 5, { reactions: [{ emoji: "👍", count: 1, userIds: ["alice"], mine: true }] }) });
    await react;
    expect(controller.getState().chats.c1?.messages[0]?.reactions?.[0]?.mine).toBe(true);

    const del = controller.deleteMessage("c1", "m2");
    const d = socket.take("delete_message");
    expect(d.payload).toEqual({ chatId: "c1", messageId: "m2" });
    d.ack(null, { ok: true, message: changed(2, 6, { content: "", deleted: true }) });
    await del;
    expect(controller.getState().chats.c1?.messages[1]?.deleted).toBe(true);
  });

  it("a refused change rejects with the protocol's code and is kept as lastError", async () => {
    const { socket, controller } = await connectedWithChat();
    const edit = controller.editMessage("c1", "m1", "not mine");
    socket.take("edit_message").ack(null, { ok: false, error: { code: "FORBIDDEN", message: "only the author edits" } });
    await expect(edit).rejects.toMatchObject({ code: "FORBIDDEN", message: "only the author edits" });
    expect(controller.getState().lastError?.code).toBe("FORBIDDEN");
    await expect(controller.editMessage("c1", "m1", "  ")).rejects.toBeInstanceOf(ContentError);
    socket.drop();
    await expect(controller.react("c1", "m1", "👍")).rejects.toMatchObject({ code: "OFFLINE" });
  });

  it("applies live message_updated events", async () => {
    const { socket, controller } = await connectedWithChat();
    socket.fire("message_updated", { chatId: "c1", seq: 4, message: changed(3, 4, { content: "edited" }), change: { type: "edit", userId: "bob" } });
    const c = controller.getState().chats.c1!;
    expect(c.messages[2]?.content).toBe("edited");
    expect(c.syncedSeq).toBe(4);
  });

  it("a change seq ahead of the chat is fetched with get_messages afterSeq, updates applied", async () => {
    const { socket, controller } = await connectedWithChat();
    socket.fire("message_updated", { chatId: "c1", seq: 6, message: changed(1, 6, { content: "e1" }), change: { type: "edit", userId: "bob" } });
    await flush();
    const fetch = socket.take("get_messages");
    expect(fetch.payload).toMatchObject({ chatId: "c1", afterSeq: 3 });
    fetch.ack(null, { ok: true, messages: [msg(5)], updates: [changed(2, 4, { content: "e2" })], hasMore: false });
    await flush();
    const c = controller.getState().chats.c1!;
    expect(c.messages.map((m) => m.content)).toEqual(["e1", "e2", "message 3", "message 5"]);
    expect(c).toMatchObject({ syncedSeq: 6, gap: false });
  });

  it("a reconnect's join_chat {sinceSeq} answer applies its updates", async () => {
    const { socket, controller } = await connectedWithChat();
    socket.drop();
    socket.open();
    const rejoin = socket.take("join_chat");
    expect(rejoin.payload).toEqual({ chatId: "c1", sinceSeq: 3 });
    rejoin.ack(null, { ok: true, chat: chat({ lastSeq: 3 }), messages: [], updates: [changed(2, 5, { content: "", deleted: true })], hasMore: false });
    await flush();
    expect(controller.getState().chats.c1).toMatchObject({ syncedSeq: 5, gap: false });
    expect(controller.getState().chats.c1?.messages[1]?.deleted).toBe(true);
  });

  it("reopening a direct chat it left asks only for what it lacks (sinceSeq)", async () => {
    const { socket, controller } = await connectedWithChat();
    const left = controller.leaveChat("c1");
    socket.answerAll("leave_chat", () => ({ ok: true }));
    await left;
    const opened = controller.openDirectChat("bob");
    const join = socket.take("join_chat");
    expect(join.payload).toEqual({ recipientId: "bob", sinceSeq: 3 });
    join.ack(null, { ok: true, chat: chat({ lastSeq: 4 }), messages: [msg(4)], updates: [changed(1, 5, { content: "e" })], hasMore: false });
    expect(await opened).toBe("c1");
    expect(controller.getState().chats.c1).toMatchObject({ syncedSeq: 5, joined: true });
  });

  it("replies: send_message carries replyTo, the pending message quotes it", async () => {
    const { socket, controller } = await connectedWithChat();
    controller.sendMessage("c1", "yes!", { replyTo: "m3" });
    expect(controller.getState().chats.c1?.pending[0]?.replyTo).toEqual({ id: "m3", senderId: "bob", snippet: "message 3" });
    await flush();
    expect(socket.take("send_message").payload).toMatchObject({ chatId: "c1", content: "yes!", replyTo: "m3" });
  });
});

describe("ChatController: attachments", () => {
  const png = () => new File([new Uint8Array(100)], "cat.png", { type: "image/png" });

  afterEach(() => {
    FakeXhr.made = [];
  });

  /** attach() and answer its request_upload with `upload`. */
  async function attached(upload: Record<string, unknown>, url: string | null = "https://chat.example.com") {
    const ctx = await connectedWithChat({}, url ?? undefined);
    const uploadId = ctx.controller.attach("c1", png());
    expect(ctx.controller.getState().uploads[uploadId]).toMatchObject({ status: "requesting", fileName: "cat.png", size: 100 });
    const ask = ctx.socket.take("request_upload");
    expect(ask.payload).toEqual({ chatId: "c1", fileName: "cat.png", contentType: "image/png", size: 100 });
    ask.ack(null, { ok: true, attachmentId: "a1", upload, expiresAt: "2026-11-26T08:00:00.000Z" });
    await flush();
    return { ...ctx, uploadId, xhr: FakeXhr.made.at(-1)! };
  }

  it("embedded mode: PUTs the bytes with the slot's headers to the server's URL, with progress, then sends attachmentIds", async () => {
    const { socket, controller, uploadId, xhr } = await attached({
      method: "PUT",
      url: "/v1/uploads/a1?exp=1&sig=abc",
      fields: {},
      headers: { "Content-Type": "image/png" },
    });
    expect(xhr.method).toBe("PUT");
    expect(xhr.url).toBe("https://chat.example.com/v1/uploads/a1?exp=1&sig=abc");
    expect(xhr.headers).toEqual({ "Content-Type": "image/png" });
    expect(xhr.body).toBeInstanceOf(Blob);
    expect(controller.getState().uploads[uploadId]).toMatchObject({ status: "uploading", attachmentId: "a1" });
    xhr.progress(40, 100);
    expect(controller.getState().uploads[uploadId]?.loaded).toBe(40);
    xhr.respond(204);
    await flush();
    expect(controller.getState().uploads[uploadId]).toMatchObject({ status: "uploaded", loaded: 100 });

    controller.sendMessage("c1", "", { uploadIds: [uploadId], replyTo: "m1" });
    expect(controller.getState().uploads).toEqual({});
    expect(controller.getState().chats.c1?.pending[0]?.attachments).toEqual([{ id: "a1", name: "cat.png", contentType: "image/png", size: 100 }]);
    await flush();
    const send = socket.take("send_message");
    expect(send.payload).toMatchObject({ chatId: "c1", content: "", attachmentIds: ["a1"], replyTo: "m1" });
  });

  it("S3: POSTs a multipart form, the fields first and the file last as `file`", async () => {
    const fields = { key: "chats/c1/a1", policy: "p", "x-amz-signature": "s" };
    const { controller, uploadId, xhr } = await attached({ method: "POST", url: "https://bucket.s3.amazonaws.com/", fields, headers: {} });
    expect(xhr.method).toBe("POST");
    expect(xhr.url).toBe("https://bucket.s3.amazonaws.com/");
    expect(xhr.headers).toEqual({});
    const form = xhr.body as FormData;
    expect([...form.keys()]).toEqual(["key", "policy", "x-amz-signature", "file"]);
    expect((form.get("file") as File).size).toBe(100);
    xhr.respond(204);
    await flush();
    expect(controller.getState().uploads[uploadId]?.status).toBe("uploaded");
  });

  it("a refused upload fails with the protocol's code (JSON from this server, the status from S3)", async () => {
    const first = await attached({ method: "PUT", url: "/v1/uploads/a1", headers: {} });
    first.xhr.respond(413, JSON.stringify({ error: { code: "TOO_LARGE", message: "over the declared size" } }));
    await flush();
    expect(first.controller.getState().uploads[first.uploadId]).toMatchObject({ status: "failed", error: { code: "TOO_LARGE", message: "over the declared size" } });
    expect(() => first.controller.sendMessage("c1", "x", { uploadIds: [first.uploadId] })).toThrow(/not an uploaded attachment/);

    const s3 = await attached({ method: "POST", url: "https://bucket.s3.amazonaws.com/", fields: {} });
    s3.xhr.respond(403, "<Error><Code>AccessDenied</Code><Message>Policy expired</Message></Error>");
    await flush();
    expect(s3.controller.getState().uploads[s3.uploadId]).toMatchObject({ status: "failed", error: { code: "FORBIDDEN", message: "Policy expired" } });
  });

  it("a refused request_upload fails the upload without sending anything", async () => {
    const { socket, controller } = await connectedWithChat();
    const uploadId = controller.attach("c1", png());
    socket.take("request_upload").ack(null, { ok: false, error: { code: "INVALID", message: "type not allowed" } });
    await flush();
    expect(controller.getState().uploads[uploadId]).toMatchObject({ status: "failed", error: { code: "INVALID" } });
    expect(FakeXhr.made).toEqual([]);
  });

  it("cancel aborts the upload and forgets it, with no error shown", async () => {
    const { controller, uploadId, xhr } = await attached({ method: "PUT", url: "/v1/uploads/a1", headers: {} });
    xhr.progress(10, 100);
    controller.cancelUpload(uploadId);
    await flush();
    expect(xhr.aborted).toBe(true);
    expect(controller.getState().uploads).toEqual({});
    expect(controller.getState().lastError).toBeNull();
  });

  it("a relative URL resolves against the page when the hook was given no server URL", async () => {
    const { xhr } = await attached({ method: "PUT", url: "/v1/uploads/a1", headers: {} }, null);
    expect(xhr.url).toBe(new URL("/v1/uploads/a1", window.location.href).toString());
  });
});
