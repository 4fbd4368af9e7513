// Drives a running chat server with the STOCK socket.io-client, over websocket and over polling.
//
//   node protocol_client.mjs <serverUrl>            (env CHAT_TOKENS, see below)
//   node protocol_client.mjs <serverUrl> --drain --transport websocket|polling
//
// CHAT_TOKENS is JSON: {"websocket": {"a": {"id", "token"}, "b": {"id", "token"}}, "polling": {...}}
// (distinct users per transport). CHAT_BAD_TOKEN (optional) is a token the server must refuse.
//
// Prints one JSON line per check ({"check", "transport", "ok", "detail"}) or event, then
// {"summary": {...}, "ok": bool}; exits 1 when any check failed.
//
// --drain: connects user "a" of that transport with automatic reconnection, prints
// {"event": "ready"}, and records what happens when the driver SIGTERMs and restarts the server:
// server_draining, the disconnect reason, the automatic reconnect, a ping after it.
import { io } from "socket.io-client";

const url = process.argv[2] || process.env.CHAT_URL;
const args = process.argv.slice(3);
const drainMode = args.includes("--drain");
const transportArg = args.includes("--transport") ? args[args.indexOf("--transport") + 1] : "websocket";
const tokens = JSON.parse(process.env.CHAT_TOKENS || "{}");
const badToken = process.env.CHAT_BAD_TOKEN || "garbage.token.value";
const TIMEOUT_MS = Number(process.env.CHAT_JS_TIMEOUT_MS || 5000);

const results = [];
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

function record(check, transport, ok, detail) {
  const entry = { check, transport, ok: Boolean(ok), detail: detail === undefined ? null : detail };
  results.push(entry);
  out(entry);
  return entry.ok;
}

function waitFor(socket, event, predicate = () => true, timeoutMs = TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler);
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    function handler(data) {
      if (!predicate(data)) return;
      clearTimeout(timer);
      socket.off(event, handler);
      resolve(data);
    }
    socket.on(event, handler);
  });
}

function connect(token, transport, extra = {}) {
  const socket = io(url, {
    auth: token === undefined ? undefined : { token },
    transports: [transport],
    upgrade: false,
    reconnection: false,
    forceNew: true,
    timeout: TIMEOUT_MS,
    ...extra,
  });
  // `connected` may arrive right with the CONNECT packet: listen before it can
  const greeted = waitFor(socket, "connected");
  greeted.catch(() => {});
  return { socket, greeted };
}

async function check(name, transport, fn) {
  try {
    const detail = await fn();
    return record(name, transport, true, detail);
  } catch (err) {
    return record(name, transport, false, String(err && err.stack ? err.stack : err));
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

async function protocolChecks(transport) {
  const users = tokens[transport];
  if (!users) {
    record("tokens", transport, false, `CHAT_TOKENS has no ${transport} users`);
    return;
  }
  const A = connect(users.a.token, transport);
  const B = connect(users.b.token, transport);
  const a = A.socket;
  const b = B.socket;
  let chatId = null;
  let message = null;
  try {
    await check("connected", transport, async () => {
      const [ga, gb] = await Promise.all([A.greeted, B.greeted]);
      assert(ga.userId === users.a.id && gb.userId === users.b.id, `userIds ${ga.userId} ${gb.userId}`);
      assert(ga.protocol === 1.1, `protocol ${ga.protocol}`);
      assert(ga.connectionId === a.id, `connectionId ${ga.connectionId} vs ${a.id}`);
      assert(typeof ga.serverTime === "string", "serverTime");
      assert(a.io.engine.transport.name === transport, `transport ${a.io.engine.transport.name}`);
      return { transport: a.io.engine.transport.name };
    });

    await check("join_chat_by_recipient", transport, async () => {
      const ack = await a.timeout(TIMEOUT_MS).emitWithAck("join_chat", { recipientId: users.b.id });
      assert(ack && ack.ok === true, JSON.stringify(ack));
      assert(Array.isArray(ack.messages) && typeof ack.hasMore === "boolean", "messages/hasMore");
      assert(ack.chat.type === "direct" && ack.chat.members.includes(users.b.id), JSON.stringify(ack.chat));
      chatId = ack.chat.id;
      const peer = await b.timeout(TIMEOUT_MS).emitWithAck("join_chat", { chatId });
      assert(peer.ok === true && peer.chat.id === chatId, JSON.stringify(peer));
      return { chatId };
    });

    await check("send_message_and_new_message", transport, async () => {
      const content = `hello from js over ${transport} 😀`;
      const clientMessageId = `js-${transport}-${Date.now()}`;
      const delivered = waitFor(b, "new_message", (m) => m.clientMessageId === clientMessageId);
      const echoed = waitFor(a, "message_sent", (m) => m.clientMessageId === clientMessageId);
      const ack = await a.timeout(TIMEOUT_MS).emitWithAck("send_message", { chatId, content, clientMessageId });
      assert(ack.ok === true && ack.message.content === content, JSON.stringify(ack));
      message = ack.message;
      const got = await delivered;
      assert(got.id === message.id && got.seq === message.seq, JSON.stringify(got));
      const sent = await echoed;
      assert(sent.message.id === message.id, JSON.stringify(sent));
      return { seq: message.seq };
    });

    await check("mark_messages_read", transport, async () => {
      const seen = waitFor(a, "messages_read", (d) => d.userId === users.b.id);
      const ack = await b.timeout(TIMEOUT_MS).emitWithAck("mark_messages_read", { chatId });
      assert(ack.ok === true && ack.chatId === chatId && ack.readSeq === message.seq, JSON.stringify(ack));
      assert(ack.unreadCount === 0, JSON.stringify(ack));
      const ev = await seen;
      assert(ev.chatId === chatId && ev.readSeq === message.seq, JSON.stringify(ev));
      return ev;
    });

    await check("ping_pong", transport, async () => {
      const pong = waitFor(a, "pong");
      const ack = await a.timeout(TIMEOUT_MS).emitWithAck("ping", { t: 42 });
      assert(ack.ok === true && ack.t === 42 && typeof ack.serverTime === "string", JSON.stringify(ack));
      const ev = await pong;
      assert(ev.t === 42 && !("ok" in ev), JSON.stringify(ev));
      return ack;
    });

    await check("get_messages", transport, async () => {
      const ack = await a.timeout(TIMEOUT_MS).emitWithAck("get_messages", { chatId, limit: 10 });
      assert(ack.ok === true && ack.hasMore === false, JSON.stringify(ack));
      assert(ack.messages.length === 1 && ack.messages[0].id === message.id, JSON.stringify(ack.messages));
      return { count: ack.messages.length };
    });

    await check("edit_react_and_recovery", transport, async () => {
      const edited = waitFor(b, "message_updated", (u) => u.message.id === message.id && u.change.type === "edit");
      const ack = await a.timeout(TIMEOUT_MS).emitWithAck("edit_message", {
        chatId, messageId: message.id, content: "edited from js",
      });
      assert(ack.ok === true && ack.message.content === "edited from js" && ack.message.editedAt, JSON.stringify(ack));
      const update = await edited;
      assert(update.seq === ack.message.changeSeq && update.change.userId === users.a.id, JSON.stringify(update));
      const reacted = waitFor(a, "message_updated", (u) => u.change.type === "react" && u.change.userId === users.b.id);
      const mine = await b.timeout(TIMEOUT_MS).emitWithAck("react", {
        chatId, messageId: message.id, emoji: "👍", add: true,
      });
      assert(mine.ok === true && mine.message.reactions[0].mine === true, JSON.stringify(mine));
      const seen = await reacted;
      assert(seen.message.reactions[0].count === 1 && seen.change.emoji === "👍", JSON.stringify(seen));
      const page = await b.timeout(TIMEOUT_MS).emitWithAck("get_messages", { chatId, afterSeq: message.seq });
      assert(page.ok === true && page.messages.length === 0 && page.updates.length === 1, JSON.stringify(page));
      assert(page.updates[0].content === "edited from js" && page.updates[0].reactions[0].mine, JSON.stringify(page));
      return { changeSeq: page.updates[0].changeSeq };
    });

    await check("error_ack_invalid", transport, async () => {
      const ack = await a.timeout(TIMEOUT_MS).emitWithAck("get_messages", { chatId, limit: 0 });
      assert(ack.ok === false && ack.error.code === "INVALID" && typeof ack.error.message === "string",
        JSON.stringify(ack));
      const content = "x".repeat(4001);
      const long = await a.timeout(TIMEOUT_MS).emitWithAck("send_message", { chatId, content, clientMessageId: "l" });
      assert(long.ok === false && long.error.code === "INVALID", JSON.stringify(long));
      const emoji = "😀".repeat(4000); // 4000 code points, 8000 UTF-16 units
      const okLong = await a.timeout(TIMEOUT_MS).emitWithAck("send_message", {
        chatId, content: emoji, clientMessageId: `e-${Date.now()}`,
      });
      assert(okLong.ok === true && [...okLong.message.content].length === 4000, JSON.stringify(okLong.error));
      return ack.error;
    });

    await check("conversations", transport, async () => {
      // a thread per topic, the inbox newest first, a block refusing sends with BLOCKED
      const topic = `listing-${transport}-${Date.now()}`;
      const opened = await a.timeout(TIMEOUT_MS).emitWithAck("join_chat", { recipientId: users.b.id, topic });
      assert(opened.ok === true && opened.chat.topic === topic && opened.chat.id !== chatId, JSON.stringify(opened));
      const sent = await a.timeout(TIMEOUT_MS).emitWithAck("send_message", {
        chatId: opened.chat.id, content: "about the listing", clientMessageId: `t-${topic}`,
      });
      assert(sent.ok === true, JSON.stringify(sent));
      const inbox = await b.timeout(TIMEOUT_MS).emitWithAck("list_chats", { limit: 1 });
      assert(inbox.ok === true && inbox.chats.length === 1 && inbox.chats[0].id === opened.chat.id,
        JSON.stringify(inbox));
      assert(typeof inbox.nextCursor === "string", `nextCursor ${inbox.nextCursor}`);
      const told = waitFor(a, "chat_updated", (u) => u.chat.id === opened.chat.id && u.change.type === "blocked");
      const blocked = await b.timeout(TIMEOUT_MS).emitWithAck("block_user", { userId: users.a.id });
      assert(blocked.ok === true, JSON.stringify(blocked));
      const update = await told;
      assert(update.chat.blocked === true && update.change.by === users.b.id, JSON.stringify(update));
      const refused = await a.timeout(TIMEOUT_MS).emitWithAck("send_message", {
        chatId: opened.chat.id, content: "still there?", clientMessageId: `r-${topic}`,
      });
      assert(refused.ok === false && refused.error.code === "BLOCKED", JSON.stringify(refused));
      const unblocked = await b.timeout(TIMEOUT_MS).emitWithAck("unblock_user", { userId: users.a.id });
      assert(unblocked.ok === true, JSON.stringify(unblocked));
      const list = await b.timeout(TIMEOUT_MS).emitWithAck("get_blocked", {});
      assert(list.ok === true && list.userIds.length === 0, JSON.stringify(list));
      return { chatId: opened.chat.id, refused: refused.error.code };
    });

    await check("chat_error_without_ack", transport, async () => {
      const got = waitFor(a, "chat_error");
      a.emit("get_chat_info", { chatId: "no_such_chat_js" });
      const ev = await got;
      assert(ev.event === "get_chat_info" && ev.code === "NOT_FOUND" && typeof ev.message === "string",
        JSON.stringify(ev));
      return ev;
    });

    await check("connect_error_unauthorized", transport, async () => {
      const bad = io(url, { auth: { token: badToken }, transports: [transport], reconnection: false, forceNew: true });
      try {
        const err = await waitFor(bad, "connect_error");
        assert(err instanceof Error && typeof err.message === "string" && err.message, String(err));
        assert(err.data && err.data.code === "UNAUTHORIZED" && typeof err.data.message === "string",
          JSON.stringify(err.data));
        assert(!bad.connected, "connected anyway");
        return err.data;
      } finally {
        bad.close();
      }
    });

    await check("connect_error_missing_token", transport, async () => {
      const bad = io(url, { transports: [transport], reconnection: false, forceNew: true });
      try {
        const err = await waitFor(bad, "connect_error");
        assert(err.data && err.data.code === "UNAUTHORIZED", JSON.stringify(err.data));
        return err.data;
      } finally {
        bad.close();
      }
    });
  } finally {
    a.close();
    b.close();
  }
}

async function drain(transport) {
  const users = tokens[transport];
  const seen = { draining: null, disconnectReason: null, reconnected: false, pingAfter: null };
  const socket = io(url, {
    auth: { token: users.a.token },
    transports: [transport],
    upgrade: false,
    reconnection: true,
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
    randomizationFactor: 0.2,
    timeout: TIMEOUT_MS,
  });
  let connects = 0;
  socket.on("connected", (d) => out({ event: "connected", userId: d.userId, n: connects }));
  socket.on("connect", () => {
    connects += 1;
  });
  socket.on("server_draining", (d) => {
    seen.draining = d;
    socket.io.reconnectionDelay(d.reconnectAfterMs); // as a client should
    out({ event: "server_draining", data: d });
  });
  socket.on("disconnect", (reason) => {
    seen.disconnectReason = seen.disconnectReason || reason;
    out({ event: "disconnect", reason, active: socket.active });
  });
  socket.io.on("reconnect_attempt", (n) => out({ event: "reconnect_attempt", n }));
  await waitFor(socket, "connected", () => true, TIMEOUT_MS);
  const join = await socket.timeout(TIMEOUT_MS).emitWithAck("join_chat", { recipientId: users.b.id });
  record("drain_join", transport, join.ok === true, join.ok ? null : join);
  out({ event: "ready" });
  const deadline = Number(process.env.CHAT_JS_DRAIN_WAIT_MS || 30000);
  const reconnected = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), deadline);
    socket.io.on("reconnect", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  seen.reconnected = reconnected;
  if (reconnected) {
    const ack = await socket.timeout(TIMEOUT_MS).emitWithAck("ping", { t: 7 });
    seen.pingAfter = ack;
  }
  record("drain_server_draining", transport, seen.draining && typeof seen.draining.reconnectAfterMs === "number",
    seen.draining);
  record("drain_transport_close", transport,
    seen.disconnectReason === "transport close" || seen.disconnectReason === "transport error",
    seen.disconnectReason);
  record("drain_reconnected", transport, reconnected && connects >= 2, { connects });
  record("drain_ping_after", transport, seen.pingAfter && seen.pingAfter.ok === true, seen.pingAfter);
  socket.close();
}

async function main() {
  if (!url) {
    console.error("usage: node protocol_client.mjs <serverUrl> [--drain --transport websocket|polling]");
    process.exit(2);
  }
  if (drainMode) {
    await drain(transportArg);
  } else {
    for (const transport of ["websocket", "polling"]) {
      await protocolChecks(transport);
    }
  }
  const failed = results.filter((r) => !r.ok).map((r) => `${r.transport}:${r.check}`);
  out({ summary: { checks: results.length, passed: results.length - failed.length, failed }, ok: failed.length === 0 });
  // polling transports may hold the event loop open for a long-poll: exit explicitly
  process.exit(failed.length === 0 ? 0 : 1);
}

main().catch((err) => {
  out({ summary: { checks: results.length, error: String(err && err.stack ? err.stack : err) }, ok: false });
  process.exit(1);
});
