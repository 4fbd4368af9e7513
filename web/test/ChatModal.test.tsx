import { act, cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { SocketFactoryOptions } from "../src/chat/controller";
import { useSocketChat } from "../src/chat/useSocketChat";
import { ChatModal } from "../src/components/ChatModal";
import { MessageList } from "../src/components/MessageList";
import { changed, chat, FakeSocket, FakeXhr, flush, msg } from "./fixtures";

let socket: FakeSocket;
const factory = (_url: string | undefined, options: SocketFactoryOptions) => {
  socket.auth = options.auth;
  return socket;
};
const getToken = async () => "t";

const createXhr = () => new FakeXhr();

function Harness(props: { isOpen?: boolean; onClose?: () => void; onUnread?: (n: number) => void; recipientId?: string }) {
  const client = useSocketChat({ getToken, socketFactory: factory, createXhr, url: "https://chat.example.com" });
  return (
    <>
      <button type="button">outside</button>
      <ChatModal
        client={client}
        isOpen={props.isOpen ?? true}
        onClose={props.onClose ?? (() => undefined)}
        recipientId={props.recipientId ?? "bob"}
        recipientName={props.recipientId ? undefined : "Bob"}
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

  it("sends a message written while the chat is being opened as soon as it is open", async () => {
    socket = new FakeSocket();
    render(<Harness />);
    await act(async () => {
      socket.open();
      await flush();
    });
    // join_chat asked, not answered yet: the composer takes text, Enter queues it
    const input = screen.getByRole("textbox", { name: "Message" });
    fireEvent.change(input, { target: { value: "quick hello" } });
    expect(screen.getByRole("button", { name: "Send" }).hasAttribute("disabled")).toBe(false);
    fireEvent.keyDown(input, { key: "Enter" });
    expect(socket.has("send_message")).toBe(false);
    expect(screen.getByText(/Opening the chat… Your message goes as soon as it is open/)).toBeTruthy();
    expect((input as HTMLTextAreaElement).value).toBe("quick hello");
    await act(async () => {
      socket.take("join_chat").ack(null, { ok: true, chat: chat({ lastSeq: 2 }), messages: [msg(1), msg(2)], hasMore: false });
      await flush();
    });
    expect((input as HTMLTextAreaElement).value).toBe("");
    expect(screen.queryByText(/Opening the chat/)).toBeNull();
    await act(async () => {
      await flush();
    });
    expect(socket.take("send_message").payload).toMatchObject({ chatId: "c1", content: "quick hello" });
  });

  it("keeps a draft to its conversation: another recipient gets an empty composer", async () => {
    const view = await openChat();
    fireEvent.change(screen.getByRole("textbox", { name: "Message" }), { target: { value: "for Bob only" } });
    view.rerender(<Harness recipientId="carol" />);
    expect((screen.getByRole("textbox", { name: "Message" }) as HTMLTextAreaElement).value).toBe("");
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

describe("ChatModal: message changes", () => {
  /** The list item of the message with this id. */
  const item = (id: string) => screen.getByRole("log").querySelector<HTMLElement>(`li[data-message-id="${id}"]`)!;

  async function answer(event: string, message: unknown) {
    await act(async () => {
      socket.take(event).ack(null, { ok: true, message });
      await flush();
    });
  }

  it("edits one's own message inline: Enter saves, Escape cancels without closing the chat", async () => {
    const onClose = vi.fn();
    await openChat({ onClose });
    expect(within(item("m1")).queryByRole("button", { name: "Edit message" })).toBeNull();
    fireEvent.click(within(item("m2")).getByRole("button", { name: "Edit message" }));
    let editor = within(item("m2")).getByRole("textbox", { name: "Edit message" }) as HTMLTextAreaElement;
    expect(document.activeElement).toBe(editor);
    expect(editor.value).toBe("message 2");
    fireEvent.keyDown(editor, { key: "Escape" });
    expect(onClose).not.toHaveBeenCalled();
    expect(within(item("m2")).queryByRole("textbox", { name: "Edit message" })).toBeNull();
    expect(socket.has("edit_message")).toBe(false);

    fireEvent.click(within(item("m2")).getByRole("button", { name: "Edit message" }));
    editor = within(item("m2")).getByRole("textbox", { name: "Edit message" }) as HTMLTextAreaElement;
    fireEvent.change(editor, { target: { value: "message two" } });
    fireEvent.keyDown(editor, { key: "Enter" });
    expect(socket.emitted.find((e) => e.event === "edit_message")?.payload).toEqual({ chatId: "c1", messageId: "m2", content: "message two" });
    await answer("edit_message", changed(2, 3, { senderId: "alice", content: "message two", editedAt: "2026-11-26T07:10:00.000Z" }));
    expect(within(item("m2")).getByText("message two")).toBeTruthy();
    expect(within(item("m2")).getByText("edited")).toBeTruthy();
    expect(item("m2").dataset.edited).toBe("true");
  });

  it("a refused edit keeps the editor open and says why", async () => {
    await openChat();
    fireEvent.click(within(item("m2")).getByRole("button", { name: "Edit message" }));
    const editor = within(item("m2")).getByRole("textbox", { name: "Edit message" });
    fireEvent.change(editor, { target: { value: "too late" } });
    fireEvent.keyDown(editor, { key: "Enter" });
    await act(async () => {
      socket.take("edit_message").ack(null, { ok: false, error: { code: "FORBIDDEN", message: "edit window passed" } });
      await flush();
    });
    expect(screen.getByRole("alert").textContent).toBe("Could not edit the message: edit window passed.");
    expect(within(item("m2")).getByRole("textbox", { name: "Edit message" })).toBeTruthy();
  });

  it("deletes after a confirmation and shows the tombstone", async () => {
    await openChat();
    fireEvent.click(within(item("m2")).getByRole("button", { name: "Delete message" }));
    const confirm = within(item("m2")).getByRole("group", { name: "Delete this message?" });
    fireEvent.click(within(confirm).getByRole("button", { name: "Cancel" }));
    expect(socket.has("delete_message")).toBe(false);
    fireEvent.click(within(item("m2")).getByRole("button", { name: "Delete message" }));
    fireEvent.click(within(item("m2")).getByRole("button", { name: "Delete" }));
    expect(socket.emitted.find((e) => e.event === "delete_message")?.payload).toEqual({ chatId: "c1", messageId: "m2" });
    await answer("delete_message", changed(2, 3, { senderId: "alice", content: "", deleted: true }));
    expect(within(item("m2")).getByText("Message deleted")).toBeTruthy();
    expect(within(item("m2")).queryAllByRole("button")).toEqual([]);
  });

  it("shows a live deletion by the other person", async () => {
    await openChat();
    act(() => socket.fire("message_updated", { chatId: "c1", seq: 3, message: changed(1, 3, { content: "", deleted: true }), change: { type: "delete", userId: "bob" } }));
    expect(item("m1").dataset.deleted).toBe("true");
    expect(within(item("m1")).getByText("Message deleted")).toBeTruthy();
  });

  it("reactions: counts, one's own pressed, a click toggles; the picker adds", async () => {
    await openChat({}, {}, [
      changed(1, 1, { reactions: [{ emoji: "👍", count: 2, userIds: ["alice", "bob"], mine: true }, { emoji: "😂", count: 1, userIds: ["bob"], mine: false }] }),
    ]);
    const thumbs = within(item("m1")).getByRole("button", { name: "👍 2" });
    expect(thumbs.getAttribute("aria-pressed")).toBe("true");
    expect(within(item("m1")).getByRole("button", { name: "😂 1" }).getAttribute("aria-pressed")).toBe("false");
    fireEvent.click(thumbs);
    expect(socket.take("react").payload).toEqual({ chatId: "c1", messageId: "m1", emoji: "👍", add: false });

    fireEvent.click(within(item("m1")).getByRole("button", { name: "Add reaction" }));
    const picker = within(item("m1")).getByRole("group", { name: "Add a reaction" });
    expect(within(picker).getByRole("button", { name: "React with 👍" }).getAttribute("aria-pressed")).toBe("true");
    fireEvent.click(within(picker).getByRole("button", { name: "React with ❤️" }));
    expect(socket.take("react").payload).toEqual({ chatId: "c1", messageId: "m1", emoji: "❤️", add: true });
    expect(within(item("m1")).queryByRole("group", { name: "Add a reaction" })).toBeNull();
  });

  it("reply: the quote shows above the composer, can be cancelled, and goes with the message", async () => {
    await openChat();
    fireEvent.click(within(item("m1")).getByRole("button", { name: "Reply" }));
    const input = screen.getByRole("textbox", { name: "Message" });
    expect(document.activeElement).toBe(input);
    expect(screen.getByTestId("reply-preview").textContent).toContain("Replying to Bob");
    expect(screen.getByTestId("reply-preview").textContent).toContain("message 1");
    fireEvent.keyDown(input, { key: "Escape" });
    expect(screen.queryByTestId("reply-preview")).toBeNull();
    fireEvent.click(within(item("m1")).getByRole("button", { name: "Reply" }));
    fireEvent.click(screen.getByRole("button", { name: "Cancel reply" }));
    expect(screen.queryByTestId("reply-preview")).toBeNull();

    fireEvent.click(within(item("m1")).getByRole("button", { name: "Reply" }));
    fireEvent.change(input, { target: { value: "answer" } });
    fireEvent.keyDown(input, { key: "Enter" });
    expect(screen.queryByTestId("reply-preview")).toBeNull();
    await act(async () => {
      await flush();
    });
    const send = socket.take("send_message");
    expect(send.payload).toMatchObject({ content: "answer", replyTo: "m1" });
    // the pending message quotes it already
    const pending = screen.getByText("answer").closest("li")!;
    expect(pending.querySelector(".chat-quote")?.textContent).toContain("message 1");
  });

  it("attach a photo: progress while uploading, cancel, then send it; images get their size", async () => {
    FakeXhr.made = [];
    await openChat();
    const fileInput = screen.getByTestId("attach-input") as HTMLInputElement;
    expect(screen.getByRole("button", { name: "Attach a photo" })).toBeTruthy();
    const pick = async (name: string) => {
      await act(async () => {
        fireEvent.change(fileInput, { target: { files: [new File([new Uint8Array(100)], name, { type: "image/png" })] } });
        await flush();
      });
      await act(async () => {
        socket.take("request_upload").ack(null, { ok: true, attachmentId: `a-${name}`, upload: { method: "PUT", url: "/v1/uploads/x", headers: { "Content-Type": "image/png" } }, expiresAt: "" });
        await flush();
      });
      return FakeXhr.made.at(-1)!;
    };

    // cancelled while uploading
    const first = await pick("first.png");
    const progress = screen.getByRole("progressbar", { name: "Uploading first.png" });
    act(() => first.progress(50, 100));
    expect(progress.getAttribute("value")).toBe("50");
    expect(screen.getByRole("button", { name: "Send" }).hasAttribute("disabled")).toBe(true);
    fireEvent.click(screen.getByRole("button", { name: "Cancel upload of first.png" }));
    expect(first.aborted).toBe(true);
    expect(screen.queryByText("first.png")).toBeNull();

    // uploaded, then sent without text
    const second = await pick("cat.png");
    expect(second.url).toBe("https://chat.example.com/v1/uploads/x");
    await act(async () => {
      second.respond(200);
      await flush();
    });
    expect(screen.getByText(/Ready/)).toBeTruthy();
    const input = screen.getByRole("textbox", { name: "Message" });
    fireEvent.keyDown(input, { key: "Enter" });
    await act(async () => {
      await flush();
    });
    const send = socket.take("send_message");
    expect(send.payload).toMatchObject({ content: "", attachmentIds: ["a-cat.png"] });
    expect(screen.queryByRole("list", { name: "Attachments to send" })).toBeNull();
    await act(async () => {
      send.ack(null, {
        ok: true,
        message: changed(3, 3, {
          senderId: "alice",
          content: "",
          clientMessageId: send.payload.clientMessageId,
          attachments: [{ id: "a-cat.png", name: "cat.png", contentType: "image/png", size: 100, width: 800, height: 600, url: "/v1/attachments/c1/a-cat.png?sig=s" }],
        }),
      });
      await flush();
    });
    const img = within(item("m3")).getByRole("img", { name: "cat.png" }) as HTMLImageElement;
    expect([img.getAttribute("width"), img.getAttribute("height")]).toEqual(["240", "180"]);
    expect(img.getAttribute("src")).toBe("https://chat.example.com/v1/attachments/c1/a-cat.png?sig=s");
  });

  it("a failed upload says why and blocks sending until removed", async () => {
    FakeXhr.made = [];
    await openChat();
    await act(async () => {
      fireEvent.change(screen.getByTestId("attach-input"), { target: { files: [new File(["x"], "huge.png", { type: "image/png" })] } });
      await flush();
    });
    await act(async () => {
      socket.take("request_upload").ack(null, { ok: false, error: { code: "TOO_LARGE", message: "over 10485760 bytes" } });
      await flush();
    });
    expect(screen.getByRole("alert").textContent).toBe("Upload failed: over 10485760 bytes.");
    const input = screen.getByRole("textbox", { name: "Message" });
    fireEvent.change(input, { target: { value: "hi" } });
    expect(screen.getByRole("button", { name: "Send" }).hasAttribute("disabled")).toBe(true);
    fireEvent.click(screen.getByRole("button", { name: "Remove huge.png" }));
    expect(screen.getByRole("button", { name: "Send" }).hasAttribute("disabled")).toBe(false);
  });

  it("other files are links with their size", async () => {
    await openChat({}, {}, [
      changed(1, 1, { content: "the plan", attachments: [{ id: "f1", name: "plan.pdf", contentType: "application/pdf", size: 2048, url: "/v1/attachments/c1/f1?sig=t" }] }),
    ]);
    const link = within(item("m1")).getByRole("link", { name: "plan.pdf" });
    expect(link.getAttribute("href")).toBe("https://chat.example.com/v1/attachments/c1/f1?sig=t");
    expect(within(item("m1")).getByText("(2.0 KB)")).toBeTruthy();
  });
});
