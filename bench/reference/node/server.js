// Minimal socket.io 4.8 reference server for the benchmark: in memory, no auth, no persistence.
// Same events as the chat server's hot path: join_chat, send_message (with ack), new_message to the
// room except the sender. PORT and HOST from the environment; GET /healthz answers for readiness.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.env.PORT || 3001);
const host = process.env.HOST || "127.0.0.1";

const httpServer = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"status":"ok"}');
    return;
  }
  res.writeHead(404);
  res.end();
});

const io = new Server(httpServer, {
  cors: { origin: false },
  pingInterval: Number(process.env.PING_INTERVAL_MS || 25000),
  pingTimeout: Number(process.env.PING_TIMEOUT_MS || 20000),
});

const lastSeq = new Map();
let nextId = 0;

io.on("connection", (socket) => {
  socket.on("join_chat", (data, ack) => {
    const chatId = data && data.chatId;
    if (typeof chatId !== "string") {
      if (typeof ack === "function") ack({ ok: false, error: { code: "INVALID", message: "chatId" } });
      return;
    }
    socket.join(chatId);
    if (typeof ack === "function") ack({ ok: true, chat: { id: chatId }, messages: [], hasMore: false });
  });

  socket.on("send_message", (data, ack) => {
    const chatId = data && data.chatId;
    if (typeof chatId !== "string" || typeof data.content !== "string") {
      if (typeof ack === "function") ack({ ok: false, error: { code: "INVALID", message: "payload" } });
      return;
    }
    const seq = (lastSeq.get(chatId) || 0) + 1;
    lastSeq.set(chatId, seq);
    const message = {
      id: String(++nextId),
      chatId,
      seq,
      senderId: socket.id,
      content: data.content,
      clientMessageId: data.clientMessageId,
      createdAt: new Date().toISOString(),
    };
    socket.to(chatId).emit("new_message", message);
    if (typeof ack === "function") ack({ ok: true, message });
  });
});

httpServer.listen(port, host, () => {
  process.stderr.write(`node reference listening on ${host}:${port}\n`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
