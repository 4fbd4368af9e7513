// The original hook's names (socket, isConnected, activeUsers, unreadCount, messages,
// markMessagesAsRead, getActiveUsers) beside ours: each must follow the state it is derived from.
import { act, cleanup, renderHook } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { SocketFactoryOptions } from "../src/chat/controller";
import { type UseSocketChatOptions, useSocketChat } from "../src/chat/useSocketChat";
import { chat, type Emitted, FakeSocket, flush, msg } from "./fixtures";

let socket: FakeSocket;
const factory = (_url: string | undefined, options: SocketFactoryOptions) => {
  socket.auth = options.auth;
  return socket;
};
const getToken = async () => "t";

function mount(options: Partial<UseSocketChatOptions> = {}) {
  socket = new FakeSocket();
  return renderHook(() => useSocketChat({ getToken, socketFactory: factory, ...options }));
}

/** Play the server: connect as alice. */
async function connect() {
  await act(async () => {
    socket.open("alice");
    await flush();
  });
}

/** Answer the pending join_chat with `id` (messages 1..n) and its presence request. */
async function answerJoin(id: string, messages = [msg(1), msg(2, { senderId: "alice" })], users = [{ userId: "bob", online: true, lastSeen: null }]) {
  await act(async () => {
    const list = messages.map((m) => ({ ...m, chatId: id }));
    socket.take("join_chat").ack(null, { ok: true, chat: chat({ id, lastSeq: list.length }), messages: list, hasMore: false });
    await flush();
    socket.answerAll("get_active_users", () => ({ ok: true, chatId: id, users }));
    await flush();
  });
}

afterEach(() => {
  cleanup();
});

describe("useSocketChat: the original names", () => {
  it("socket is the connection's socket, null while disabled", async () => {
    const { result } = mount();
    expect(result.current.socket).toBe(socket);
    expect(result.current.socket).toBe(result.current.controller.socket);
    const disabled = mount({ enabled: false });
    expect(disabled.result.current.socket).toBeNull();
    expect(disabled.result.current.isConnected).toBe(false);
  });

  it("isConnected follows the connection state", async () => {
    const { result } = mount();
    expect(result.current.connection).toBe("connecting");
    expect(result.current.isConnected).toBe(false);
    await connect();
    expect(result.current.connection).toBe("connected");
    expect(result.current.isConnected).toBe(true);
    act(() => socket.drop());
    expect(result.current.connection).toBe("reconnecting");
    expect(result.current.isConnected).toBe(false);
  });

  it("unreadCount is totalUnread", async () => {
    const { result } = mount();
    await connect();
    expect(result.current.unreadCount).toBe(0);
    act(() => socket.fire("unread_count", { chatId: "c1", unreadCount: 3, totalUnread: 5 }));
    expect(result.current.totalUnread).toBe(5);
    expect(result.current.unreadCount).toBe(5);
  });

  it("activeUsers lists the online contacts, without the user, and keeps its identity while they stay", async () => {
    const { result } = mount();
    await connect();
    expect(result.current.activeUsers).toEqual([]);
    act(() => {
      void result.current.openDirectChat("bob");
    });
    await answerJoin("c1", [msg(1)], [
      { userId: "alice", online: true, lastSeen: null },
      { userId: "bob", online: true, lastSeen: null },
    ]);
    expect(result.current.activeUsers).toEqual(["bob"]);
    act(() => socket.fire("user_online", { userId: "carol" }));
    expect(result.current.activeUsers).toEqual(["bob", "carol"]);
    const before = result.current.activeUsers;
    act(() => socket.fire("user_offline", { userId: "dave", lastSeen: "2026-11-26T07:00:00.000Z" }));
    expect(result.current.state.presence.dave?.online).toBe(false);
    expect(result.current.activeUsers).toBe(before);
    act(() => socket.fire("user_offline", { userId: "bob", lastSeen: "2026-11-26T07:00:00.000Z" }));
    expect(result.current.activeUsers).toEqual(["carol"]);
  });

  it("getActiveUsers asks for every contact (no chatId) or one chat, and refreshes activeUsers", async () => {
    const { result } = mount();
    await connect();
    expect(result.current.getActiveUsers).toBe(result.current.refreshPresence);
    let done: Promise<void> = Promise.resolve();
    act(() => {
      done = result.current.getActiveUsers();
    });
    const ask = socket.take("get_active_users");
    expect(ask.payload).toEqual({});
    await act(async () => {
      ask.ack(null, {
        ok: true,
        users: [
          { userId: "bob", online: true, lastSeen: null },
          { userId: "carol", online: false, lastSeen: "2026-11-26T07:00:00.000Z" },
          { userId: "erin", online: true, lastSeen: null },
        ],
      });
      await done;
    });
    expect(result.current.activeUsers).toEqual(["bob", "erin"]);
    act(() => {
      void result.current.getActiveUsers("c7");
    });
    expect(socket.take("get_active_users").payload).toEqual({ chatId: "c7" });
  });

  it("messages are the current chat's: the one opened or joined last, until it is left", async () => {
    const { result } = mount();
    await connect();
    expect(result.current.messages).toEqual([]);
    expect(result.current.currentChatId).toBeNull();

    act(() => {
      void result.current.openDirectChat("bob");
    });
    await answerJoin("c1");
    expect(result.current.currentChatId).toBe("c1");
    expect(result.current.messages.map((m) => m.seq)).toEqual([1, 2]);
    expect(result.current.messages).toBe(result.current.state.chats.c1!.messages);

    // a live message joins them
    act(() => socket.fire("new_message", msg(3, { chatId: "c1", content: "live" })));
    expect(result.current.messages.map((m) => m.content)).toEqual(["message 1", "message 2", "live"]);

    // joining another chat makes it current
    act(() => {
      void result.current.joinChat("c2");
    });
    await answerJoin("c2", [msg(1, { content: "in c2" })]);
    expect(result.current.currentChatId).toBe("c2");
    expect(result.current.messages.map((m) => m.content)).toEqual(["in c2"]);

    // a reconnect rejoins both chats without changing which one is current
    act(() => socket.drop());
    await connect();
    const rejoins: Emitted[] = [];
    while (socket.has("join_chat")) rejoins.push(socket.take("join_chat"));
    expect(rejoins.map((j) => j.payload.chatId)).toEqual(["c1", "c2"]);
    await act(async () => {
      for (const join of rejoins.reverse()) {
        const id = join.payload.chatId as string;
        join.ack(null, { ok: true, chat: chat({ id, lastSeq: id === "c1" ? 3 : 1 }), messages: [], hasMore: false });
        await flush();
      }
    });
    expect(result.current.currentChatId).toBe("c2");

    // leaving it leaves no current chat
    act(() => {
      void result.current.leaveChat("c2");
    });
    expect(result.current.currentChatId).toBeNull();
    expect(result.current.messages).toEqual([]);
  });

  it("markMessagesAsRead is markRead: mark_messages_read, and the unread count follows the ack", async () => {
    const { result } = mount();
    await connect();
    expect(result.current.markMessagesAsRead).toBe(result.current.markRead);
    act(() => {
      void result.current.openDirectChat("bob");
    });
    await answerJoin("c1");
    act(() => socket.fire("unread_count", { chatId: "c1", unreadCount: 1, totalUnread: 1 }));
    expect(result.current.unreadCount).toBe(1);

    let done: Promise<void> = Promise.resolve();
    act(() => {
      done = result.current.markMessagesAsRead("c1");
    });
    const mark = socket.take("mark_messages_read");
    expect(mark.payload).toEqual({ chatId: "c1" });
    await act(async () => {
      mark.ack(null, { ok: true, chatId: "c1", readSeq: 2, unreadCount: 0 });
      await done;
    });
    expect(result.current.state.chats.c1!.unreadCount).toBe(0);
    expect(result.current.unreadCount).toBe(0);
  });

  it("adds the message-change actions (v1.1), stable across renders", async () => {
    const { result, rerender } = mount();
    await connect();
    const first = result.current;
    rerender();
    for (const name of ["editMessage", "deleteMessage", "react", "attach", "cancelUpload", "resolveUrl"] as const) {
      expect(typeof result.current[name]).toBe("function");
      expect(result.current[name]).toBe(first[name]);
    }
    act(() => {
      void result.current.react("c1", "m1", "👍", true).catch(() => undefined);
    });
    expect(socket.take("react").payload).toEqual({ chatId: "c1", messageId: "m1", emoji: "👍", add: true });
    expect(result.current.resolveUrl("/v1/attachments/c1/a1")).toBe(new URL("/v1/attachments/c1/a1", window.location.href).toString());
  });
});
