import { act, cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { SocketFactoryOptions } from "../src/chat/controller";
import { useSocketChat } from "../src/chat/useSocketChat";
import { ChatModal } from "../src/components/ChatModal";
import { MessageList } from "../src/components/MessageList";
import { chat, FakeSocket, flush, msg } from "./fixtures";

let socket: FakeSocket;
const factory = (_url: string | undefined, options: SocketFactoryOptions) => {
  socket.auth = options.auth;
  return socket;
};
const getToken = async () => "t";

function Harness(props: { isOpen?: boolean; onClose?: () => void; onUnread?: (n: number) => void }) {
  const client = useSocketChat({ getToken, socketFactory: factory });
  return (
    <>
      <button type="button">outside</button>
      <ChatModal
        client={client}
        isOpen={props.isOpen ?? true}
        onClose={props.onClose ?? (() => undefined)}
        recipientId="bob"
        recipientName="Bob"
        currentUserId="alice"
        onUnreadCountUpdate={props.onUnread}
      />
    </>
  );
}

async function openChat(props: Parameters<typeof Harness>[0] = {}, over: Parameters<typeof chat>[0] = {}, messages = [msg(1), msg(2, { senderId: "alice" })]) {
  socket = new FakeSocket();
  const view = render(<Harness {...props} />);
  await act(async () => {
    socket.open();
    await flush();
  });
  await act(async () => {
    socket.take("join_chat").ack(null, { ok: true, chat: chat({ lastSeq: 2, ...over }), messages, hasMore: false });
    await flush();
    socket.answerAll("get_active_users", () => ({ ok: true, chatId: "c1", users: [{ userId: "bob", online: true, lastSeen: null }] }));
    await flush();
  });
  return view;
}

afterEach(() => {
  cleanup();
});

describe("ChatModal", () => {
  it("is a labelled modal dialog with a message log and a labelled composer", async () => {
    await openChat();
    const dialog = screen.getByRole("dialog", { name: "Bob" });
    expect(dialog.getAttribute("aria-modal")).toBe("true");
    const log = within(dialog).getByRole("log", { name: "Messages" });
    expect(within(log).getAllByRole("listitem")).toHaveLength(2);
    expect(within(dialog).getByRole("textbox", { name: "Message" })).toBeTruthy();
    expect(dialog.querySelector(".chat-presence")?.textContent).toBe("Bob is Online");
  });

  it("renders nothing while closed but still reports the unread count", async () => {
    const onUnread = vi.fn();
    await openChat({ isOpen: false, onUnread }, { unreadCount: 3 });
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(onUnread).toHaveBeenLastCalledWith(3);
    expect(socket.has("mark_messages_read")).toBe(false);
  });

  it("marks what it shows as read while open", async () => {
    await openChat({}, { unreadCount: 1, readSeqs: { alice: 1, bob: 2 } }, [msg(1, { senderId: "alice" }), msg(2)]);
    expect(socket.take("mark_messages_read").payload).toEqual({ chatId: "c1", upToSeq: 2 });
  });

  it("renders hostile content as literal text", async () => {
    const hostile = '<img src=x onerror="window.__pwned=1"><b>bold</b>';
    await openChat({}, {}, [msg(1, { content: hostile })]);
    const log = screen.getByRole("log");
    expect(log.querySelector("img")).toBeNull();
    expect(log.querySelector("b")).toBeNull();
    expect(within(log).getByText(hostile)).toBeTruthy();
  });

  it("focuses the composer, keeps Tab inside, closes on Escape and gives focus back", async () => {
    const onClose = vi.fn();
    const outside = () => screen.getByRole("button", { name: "outside" });
    socket = new FakeSocket();
    const view = render(<Harness isOpen={false} onClose={onClose} />);
    outside().focus();
    view.rerender(<Harness isOpen onClose={onClose} />);
    const dialog = screen.getByRole("dialog");
    const input = within(dialog).getByRole("textbox", { name: "Message" });
    expect(document.activeElement).toBe(input);
    const close = within(dialog).getByRole("button", { name: "Close chat" });
    close.focus();
    fireEvent.keyDown(close, { key: "Tab", shiftKey: true });
    expect(dialog.contains(document.activeElement)).toBe(true);
    const focusable = dialog.querySelectorAll<HTMLElement>("button:not([disabled]), textarea, [tabindex='0']");
    focusable[focusable.length - 1]!.focus();
    fireEvent.keyDown(document.activeElement!, { key: "Tab" });
    expect(document.activeElement).toBe(close);
    fireEvent.keyDown(dialog, { key: "Escape" });
    expect(onClose).toHaveBeenCalledTimes(1);
    view.rerender(<Harness isOpen={false} onClose={onClose} />);
    expect(document.activeElement).toBe(outside());
  });

  it("Enter sends, Shift+Enter does not; the message shows pending then sent then read", async () => {
    await openChat();
    const input = screen.getByRole("textbox", { name: "Message" });
    fireEvent.change(input, { target: { value: "line one" } });
    fireEvent.keyDown(input, { key: "Enter", shiftKey: true });
    expect(socket.has("send_message")).toBe(false);
    fireEvent.keyDown(input, { key: "Enter" });
    expect((input as HTMLTextAreaElement).value).toBe("");
    const item = () => screen.getByText("line one").closest("li")!;
    expect(item().dataset.status).toBe("pending");
    expect(within(item()).getByText("Sending")).toBeTruthy();
    await act(async () => {
      await flush();
    });
    const send = socket.take("send_message");
    expect(send.payload).toMatchObject({ chatId: "c1", content: "line one" });
    await act(async () => {
      send.ack(null, { ok: true, message: msg(3, { senderId: "alice", content: "line one", clientMessageId: send.payload.clientMessageId }) });
      await flush();
    });
    expect(item().dataset.status).toBe("sent");
    act(() => socket.fire("messages_read", { chatId: "c1", userId: "bob", readSeq: 3 }));
    expect(item().dataset.status).toBe("read");
    expect(within(item()).getByText("Read")).toBeTruthy();
  });

  it("blocks a message over 4000 code points", async () => {
    await openChat();
    const input = screen.getByRole("textbox", { name: "Message" });
    fireEvent.change(input, { target: { value: "😀".repeat(4001) } });
    expect(screen.getByRole("button", { name: "Send" }).hasAttribute("disabled")).toBe(true);
    expect(screen.getByText(/Too long by 1 characters/)).toBeTruthy();
    fireEvent.keyDown(input, { key: "Enter" });
    expect(socket.has("send_message")).toBe(false);
  });

  it("shows the typing indicator and the reconnect banner", async () => {
    await openChat();
    act(() => socket.fire("user_typing", { chatId: "c1", userId: "bob", isTyping: true }));
    expect(screen.getByText("Bob is typing…")).toBeTruthy();
    act(() => socket.fire("server_draining", { reconnectAfterMs: 1000 }));
    act(() => socket.drop());
    expect(screen.getByText("The server is restarting. Reconnecting…")).toBeTruthy();
  });
});

describe("MessageList", () => {
  it("separates days", () => {
    const items = [msg(1, { createdAt: "2026-01-01T12:00:00.000Z" }), msg(2, { createdAt: "2026-01-03T12:00:00.000Z" })].map((m) => ({
      key: m.id,
      message: m,
      pending: null,
      senderId: m.senderId,
      content: m.content,
      createdAt: m.createdAt,
      mine: false,
      status: null,
    }));
    render(<MessageList items={items} />);
    const days = screen.getAllByRole("heading", { level: 3 });
    expect(days).toHaveLength(2);
  });
});

describe("ChatModalSocketIO (the original chat's name)", () => {
  it("takes the original props and chats", async () => {
    const { ChatModalSocketIO } = await import("../src/index");
    socket = new FakeSocket();
    const unread: number[] = [];
    function Original() {
      const client = useSocketChat({ getToken, socketFactory: factory });
      return (
        <ChatModalSocketIO
          client={client}
          isOpen={true}
          onClose={() => undefined}
          recipientId="bob"
          recipientName="Bob"
          onUnreadCountUpdate={(count) => unread.push(count)}
        />
      );
    }
    render(<Original />);
    await act(async () => {
      socket.open();
      await flush();
    });
    await act(async () => {
      socket.take("join_chat").ack(null, { ok: true, chat: chat({ lastSeq: 1, unreadCount: 1 }), messages: [msg(1)], hasMore: false });
      await flush();
    });
    expect(screen.getByRole("dialog", { name: "Bob" })).toBeTruthy();
    expect(unread).toContain(1);
  });
});
