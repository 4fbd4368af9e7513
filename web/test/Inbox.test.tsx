// The Inbox component, the chat modal's conversation parts (topic, blocked, members panel), and
// the hook's inbox names, against the fake socket.
import { act, cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { SocketFactoryOptions } from "../src/chat/controller";
import type { Chat, Message } from "../src/chat/protocol";
import type { InboxEntry } from "../src/chat/selectors";
import { type SocketChat, useSocketChat } from "../src/chat/useSocketChat";
import { ChatModal } from "../src/components/ChatModal";
import { Inbox, InboxView } from "../src/components/Inbox";
import { chat, FakeSocket, flush, msg } from "./fixtures";

let socket: FakeSocket;
const factory = (_url: string | undefined, options: SocketFactoryOptions) => {
  socket.auth = options.auth;
  return socket;
};
const getToken = async () => "t";

const at = (minute: number) => new Date(Date.UTC(2026, 10, 26, 7, minute)).toISOString();
const NOW = new Date(Date.UTC(2026, 10, 26, 12, 0));

function lastMessage(chatId: string, seq: number, minute: number, over: Partial<Message> = {}): Message {
  return msg(seq, { id: `${chatId}-${seq}`, chatId, createdAt: at(minute), ...over });
}

function listed(id: string, minute: number, over: Partial<Chat> = {}): Chat {
  return chat({ id, lastSeq: 3, lastMessage: lastMessage(id, 3, minute), lastActivityAt: at(minute), version: 1, admins: [], topic: null, blocked: false, ...over });
}

const PAGE = [
  listed("c1", 30, { topic: "bike-42", unreadCount: 2, lastMessage: lastMessage("c1", 3, 30, { content: "Is the bike still available?" }) }),
  listed("c2", 20, { members: ["alice", "carol"], lastMessage: lastMessage("c2", 3, 20, { senderId: "alice", content: "See you" }) }),
  listed("g1", 10, {
    type: "group",
    title: "Hikers",
    members: ["alice", "bob", "dan"],
    admins: ["alice"],
    lastMessage: lastMessage("g1", 3, 10, { senderId: "dan", content: "", attachments: [{ id: "a1", name: "map.pdf", contentType: "application/pdf", size: 10, url: "/x" }] }),
  }),
  listed("c3", 5, { members: ["alice", "erin"], lastMessage: lastMessage("c3", 3, 5, { content: "", deleted: true }) }),
];

let latest: SocketChat | null = null;

function Harness({ onOpen }: { onOpen?: (chatId: string) => void }) {
  const client = useSocketChat({ getToken, socketFactory: factory });
  latest = client;
  const [chatId, setChatId] = useState<string | null>(null);
  return (
    <>
      <Inbox
        client={client}
        selectedChatId={chatId}
        onOpen={(id) => {
          setChatId(id);
          onOpen?.(id);
        }}
      />
      {chatId && <ChatModal client={client} isOpen onClose={() => setChatId(null)} chatId={chatId} currentUserId="alice" allowBlocking />}
    </>
  );
}

async function mountInbox(props: Parameters<typeof Harness>[0] = {}, nextCursor: string | null = "p2") {
  socket = new FakeSocket();
  const view = render(<Harness {...props} />);
  await act(async () => {
    socket.open();
    await flush();
  });
  await act(async () => {
    socket.take("list_chats").ack(null, { ok: true, chats: PAGE, nextCursor });
    await flush();
    socket.answerAll("get_active_users", () => ({ ok: true, users: [{ userId: "bob", online: true, lastSeen: null }] }));
    await flush();
  });
  return view;
}

const list = () => screen.getByRole("list", { name: "Conversations" });
const rows = () => within(list()).getAllByRole("button");
const row = (chatId: string) => list().querySelector<HTMLElement>(`[data-chat-id="${chatId}"]`)!;

afterEach(() => {
  cleanup();
  latest = null;
});

describe("Inbox", () => {
  it("is a labelled list of conversations, newest first, each a button", async () => {
    await mountInbox();
    expect(screen.getByRole("heading", { name: "Conversations" })).toBeTruthy();
    expect(rows().map((b) => b.dataset.chatId)).toEqual(["c1", "c2", "g1", "c3"]);
  });

  it("shows initials, name, topic, preview, unread badge and presence", async () => {
    await mountInbox();
    const c1 = row("c1");
    expect(c1.querySelector(".chat-inbox__avatar")?.textContent).toBe("B");
    expect(c1.querySelector(".chat-inbox__name")?.textContent).toBe("bob");
    expect(c1.querySelector(".chat-inbox__topic")?.textContent).toBe("About bike-42");
    expect(c1.querySelector(".chat-inbox__preview")?.textContent).toBe("Is the bike still available?");
    expect(c1.querySelector(".chat-inbox__badge")?.textContent).toBe("2 unread");
    expect(c1.querySelector(".chat-inbox__dot--online")).not.toBeNull();
    expect(c1.querySelector("time")?.getAttribute("dateTime")).toBe(at(30));
    expect(c1.textContent).toContain("online");
    // own last message, a group's sender and an attachment, a tombstone
    expect(row("c2").querySelector(".chat-inbox__preview")?.textContent).toBe("You: See you");
    expect(row("c2").querySelector(".chat-inbox__dot--offline")).not.toBeNull();
    expect(row("g1").querySelector(".chat-inbox__name")?.textContent).toBe("Hikers");
    expect(row("g1").querySelector(".chat-inbox__avatar")?.textContent).toBe("H");
    expect(row("g1").querySelector(".chat-inbox__dot")).toBeNull();
    expect(row("g1").querySelector(".chat-inbox__preview")?.textContent).toBe("dan: map.pdf");
    expect(row("c3").querySelector(".chat-inbox__preview")?.textContent).toBe("Message deleted");
    expect(row("c3").querySelector(".chat-inbox__badge")).toBeNull();
  });

  it("follows new messages, edits and unread counts live", async () => {
    await mountInbox();
    act(() => socket.fire("new_message", lastMessage("c3", 4, 40, { senderId: "erin", content: "Hello again" })));
    act(() => socket.fire("unread_count", { chatId: "c3", unreadCount: 1, totalUnread: 3 }));
    expect(rows()[0]!.dataset.chatId).toBe("c3");
    expect(row("c3").querySelector(".chat-inbox__preview")?.textContent).toBe("Hello again");
    expect(row("c3").querySelector(".chat-inbox__badge")?.textContent).toBe("1 unread");
    expect(latest?.totalUnread).toBe(3);
    act(() =>
      socket.fire("message_updated", {
        chatId: "c3",
        seq: 5,
        message: lastMessage("c3", 4, 40, { senderId: "erin", content: "Hello!", changeSeq: 5, editedAt: at(41) }),
        change: { type: "edit", userId: "erin" },
      }),
    );
    expect(row("c3").querySelector(".chat-inbox__preview")?.textContent).toBe("Hello!");
    act(() => socket.fire("removed_from_chat", { chatId: "g1" }));
    expect(rows().map((b) => b.dataset.chatId)).toEqual(["c3", "c1", "c2"]);
  });

  it("Load more asks for the next page and hides when there is none", async () => {
    await mountInbox();
    const more = screen.getByRole("button", { name: "Load more" });
    fireEvent.click(more);
    expect(screen.getByRole("button", { name: "Loading…" }).hasAttribute("disabled")).toBe(true);
    const page = socket.take("list_chats");
    expect(page.payload).toEqual({ limit: 20, cursor: "p2" });
    await act(async () => {
      page.ack(null, { ok: true, chats: [listed("c4", 1, { members: ["alice", "finn"] })], nextCursor: null });
      await flush();
    });
    expect(rows().at(-1)?.dataset.chatId).toBe("c4");
    expect(screen.queryByRole("button", { name: "Load more" })).toBeNull();
  });

  it("opens a conversation on click, marking it current; the modal shows its topic", async () => {
    const onOpen = vi.fn();
    await mountInbox({ onOpen });
    fireEvent.click(row("c1"));
    expect(onOpen).toHaveBeenCalledWith("c1");
    expect(row("c1").getAttribute("aria-current")).toBe("true");
    expect(socket.take("join_chat").payload).toEqual({ chatId: "c1" });
    const dialog = screen.getByRole("dialog", { name: "bob" });
    expect(within(dialog).getByText("About bike-42")).toBeTruthy();
    expect(within(dialog).getByRole("button", { name: "Block bob" })).toBeTruthy();
  });
});

describe("InboxView", () => {
  const noop = () => undefined;
  it("says when it is loading, empty, or failed (with a retry)", () => {
    const view = render(<InboxView entries={[]} status="loading" onOpen={noop} me="alice" />);
    expect(screen.getByRole("status").textContent).toBe("Loading conversations…");
    view.rerender(<InboxView entries={[]} status="loaded" onOpen={noop} me="alice" />);
    expect(screen.getByText("No conversations yet.")).toBeTruthy();
    const onRetry = vi.fn();
    view.rerender(<InboxView entries={[]} status="error" error={{ code: "UNAVAILABLE", message: "" }} onRetry={onRetry} onOpen={noop} me="alice" />);
    expect(screen.getByRole("alert").textContent).toContain("Could not load the conversations: the server is unavailable right now");
    fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(onRetry).toHaveBeenCalled();
  });

  it("shows today's times as times and older ones as dates; blocked chats say so", () => {
    const entry = (id: string, iso: string, over: Partial<InboxEntry> = {}): InboxEntry => ({
      chatId: id,
      chat: chat({ id }),
      type: "direct",
      title: "bob",
      topic: null,
      otherUserId: "bob",
      lastMessage: msg(1, { createdAt: iso }),
      preview: "hi",
      lastActivityAt: iso,
      unreadCount: 0,
      presence: null,
      blocked: false,
      isAdmin: false,
      ...over,
    });
    render(
      <InboxView
        entries={[entry("a", "2026-11-26T09:30:00.000Z"), entry("b", "2026-11-20T09:30:00.000Z", { blocked: true })]}
        status="loaded"
        onOpen={noop}
        me="alice"
        now={NOW}
      />,
    );
    const times = screen.getAllByRole("button").map((b) => b.querySelector("time")!.textContent);
    expect(times[0]).toMatch(/\d{1,2}:\d{2}/);
    expect(times[1]).toMatch(/Nov/);
    expect(screen.getAllByRole("button")[1]!.textContent).toContain("Blocked");
  });
});

describe("ChatModal: conversations", () => {
  async function openGroup(over: Partial<Chat> = {}) {
    await mountInbox();
    fireEvent.click(row("g1"));
    await act(async () => {
      socket.take("join_chat").ack(null, { ok: true, chat: { ...PAGE[2]!, ...over }, messages: [], hasMore: false });
      await flush();
    });
    return screen.getByRole("dialog", { name: (over.title as string | undefined) ?? "Hikers" });
  }

  it("a group's admin gets the members panel: add, remove, rename, leave", async () => {
    const dialog = await openGroup();
    expect(within(dialog).getByText("3 members")).toBeTruthy();
    const toggle = within(dialog).getByRole("button", { name: "Members" });
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    fireEvent.click(toggle);
    expect(toggle.getAttribute("aria-expanded")).toBe("true");
    const panel = within(dialog).getByRole("region", { name: "Members" });
    expect(toggle.getAttribute("aria-controls")).toBe(panel.id);
    expect(within(panel).getAllByRole("listitem").map((li) => li.dataset.userId)).toEqual(["alice", "bob", "dan"]);

    fireEvent.change(within(panel).getByLabelText("Add a member by user id"), { target: { value: "erin" } });
    fireEvent.click(within(panel).getByRole("button", { name: "Add" }));
    const add = socket.take("add_members");
    expect(add.payload).toEqual({ chatId: "g1", userIds: ["erin"] });
    await act(async () => {
      add.ack(null, { ok: true, chat: { ...PAGE[2]!, members: ["alice", "bob", "dan", "erin"], version: 2 } });
      await flush();
    });
    expect(within(panel).getAllByRole("listitem")).toHaveLength(4);

    fireEvent.click(within(panel).getByRole("button", { name: "Remove bob" }));
    const remove = socket.take("remove_member");
    expect(remove.payload).toEqual({ chatId: "g1", userId: "bob" });
    await act(async () => {
      remove.ack(null, { ok: false, error: { code: "FORBIDDEN", message: "only admins" } });
      await flush();
    });
    expect(within(dialog).getByRole("alert").textContent).toBe("Could not remove bob: only admins.");

    fireEvent.change(within(panel).getByLabelText("Group name"), { target: { value: "Climbers" } });
    fireEvent.click(within(panel).getByRole("button", { name: "Rename" }));
    const rename = socket.take("update_chat");
    expect(rename.payload).toEqual({ chatId: "g1", title: "Climbers" });
    await act(async () => {
      rename.ack(null, { ok: true, chat: { ...PAGE[2]!, title: "Climbers", members: ["alice", "bob", "dan", "erin"], version: 3 } });
      await flush();
    });
    expect(screen.getByRole("dialog", { name: "Climbers" })).toBeTruthy();
    expect(row("g1").querySelector(".chat-inbox__name")?.textContent).toBe("Climbers");

    fireEvent.click(within(panel).getByRole("button", { name: "Leave group" }));
    fireEvent.click(within(within(panel).getByRole("group", { name: "Leave this group?" })).getByRole("button", { name: "Leave" }));
    const leave = socket.take("leave_chat");
    expect(leave.payload).toEqual({ chatId: "g1", leaveGroup: true });
    await act(async () => {
      leave.ack(null, { ok: true });
      await flush();
    });
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(list().querySelector('[data-chat-id="g1"]')).toBeNull();
  });

  it("a member who is not an admin sees the members, and can only leave", async () => {
    const dialog = await openGroup({ admins: ["bob"] });
    fireEvent.click(within(dialog).getByRole("button", { name: "Members" }));
    const panel = within(dialog).getByRole("region", { name: "Members" });
    expect(within(panel).queryByRole("button", { name: /Remove/ })).toBeNull();
    expect(within(panel).queryByLabelText("Group name")).toBeNull();
    expect(within(panel).queryByLabelText("Add a member by user id")).toBeNull();
    expect(within(panel).getByText("admin").closest("li")?.dataset.userId).toBe("bob");
    expect(within(panel).getByRole("button", { name: "Leave group" })).toBeTruthy();
  });

  it("a blocked chat says so and locks the composer; the blocker can unblock", async () => {
    await mountInbox();
    fireEvent.click(row("c1"));
    await act(async () => {
      socket.take("join_chat").ack(null, { ok: true, chat: PAGE[0]!, messages: [], hasMore: false });
      await flush();
    });
    const dialog = screen.getByRole("dialog", { name: "bob" });
    fireEvent.click(within(dialog).getByRole("button", { name: "Block bob" }));
    await act(async () => {
      socket.take("block_user").ack(null, { ok: true });
      await flush();
    });
    expect(within(dialog).getByTestId("blocked-banner").textContent).toBe("You blocked bob. You can't message this person.");
    const input = within(dialog).getByRole("textbox", { name: "Message" }) as HTMLTextAreaElement;
    expect(input.disabled).toBe(true);
    expect(input.placeholder).toBe("You can't message this person.");
    expect(within(dialog).getByRole("button", { name: "Send" }).hasAttribute("disabled")).toBe(true);
    expect(row("c1").textContent).toContain("Blocked");
    fireEvent.click(within(dialog).getByRole("button", { name: "Unblock bob" }));
    expect(socket.take("unblock_user").payload).toEqual({ userId: "bob" });
  });

  it("blocked by the other one: the banner comes with chat_updated, and asks whom the user blocks", async () => {
    await mountInbox();
    fireEvent.click(row("c1"));
    await act(async () => {
      socket.take("join_chat").ack(null, { ok: true, chat: PAGE[0]!, messages: [], hasMore: false });
      await flush();
    });
    const { unreadCount: _u, ...blocked } = { ...PAGE[0]!, blocked: true, version: 2 };
    act(() => socket.fire("chat_updated", { chat: blocked, change: { type: "blocked", by: "bob" } }));
    const dialog = screen.getByRole("dialog", { name: "bob" });
    expect(within(dialog).getByTestId("blocked-banner").textContent).toBe("You can't message this person.");
    await act(async () => {
      socket.take("get_blocked").ack(null, { ok: true, userIds: [] });
      await flush();
    });
    expect(within(dialog).getByRole("button", { name: "Block bob" })).toBeTruthy();
  });

  it("a send refused with BLOCKED says so under the message", async () => {
    await mountInbox();
    fireEvent.click(row("c2"));
    await act(async () => {
      socket.take("join_chat").ack(null, { ok: true, chat: PAGE[1]!, messages: [], hasMore: false });
      await flush();
    });
    const dialog = screen.getByRole("dialog", { name: "carol" });
    const input = within(dialog).getByRole("textbox", { name: "Message" });
    fireEvent.change(input, { target: { value: "hello?" } });
    fireEvent.keyDown(input, { key: "Enter" });
    await act(async () => {
      await flush();
    });
    await act(async () => {
      socket.take("send_message").ack(null, { ok: false, error: { code: "BLOCKED", message: "user is blocked" } });
      await flush();
    });
    const item = within(dialog).getByText("hello?").closest("li")!;
    expect(item.dataset.status).toBe("failed");
    expect(within(item).getByText("You can't message this person.")).toBeTruthy();
    expect(within(dialog).getByTestId("blocked-banner")).toBeTruthy();
  });
});

describe("ChatModal: a direct chat about a topic", () => {
  it("joins with recipientId and topic and shows the topic under the name", async () => {
    socket = new FakeSocket();
    function TopicHarness() {
      const client = useSocketChat({ getToken, socketFactory: factory, loadInbox: false });
      return <ChatModal client={client} isOpen onClose={() => undefined} recipientId="bob" recipientName="Bob" topic="lamp-7" currentUserId="alice" />;
    }
    render(<TopicHarness />);
    await act(async () => {
      socket.open();
      await flush();
    });
    expect(socket.has("list_chats")).toBe(false);
    const join = socket.take("join_chat");
    expect(join.payload).toEqual({ recipientId: "bob", topic: "lamp-7" });
    await act(async () => {
      join.ack(null, { ok: true, chat: chat({ id: "t1", topic: "lamp-7" }), messages: [msg(1, { chatId: "t1" })], hasMore: false });
      await flush();
    });
    const dialog = screen.getByRole("dialog", { name: "Bob" });
    expect(within(dialog).getByTestId("chat-topic").textContent).toBe("About lamp-7");
    expect(within(dialog).getAllByRole("listitem")).toHaveLength(1);
    expect(within(dialog).queryByRole("button", { name: /Block/ })).toBeNull();
  });

  it("a new chat refused with BLOCKED says so", async () => {
    socket = new FakeSocket();
    function TopicHarness() {
      const client = useSocketChat({ getToken, socketFactory: factory, loadInbox: false });
      return <ChatModal client={client} isOpen onClose={() => undefined} recipientId="bob" topic="lamp-7" currentUserId="alice" />;
    }
    render(<TopicHarness />);
    await act(async () => {
      socket.open();
      await flush();
    });
    await act(async () => {
      socket.take("join_chat").ack(null, { ok: false, error: { code: "BLOCKED", message: "blocked" } });
      await flush();
    });
    expect(screen.getByRole("alert").textContent).toBe("You can't message this person.");
  });
});

describe("useSocketChat: inbox names", () => {
  it("exposes the inbox, its status and paging", async () => {
    await mountInbox();
    expect(latest).not.toBeNull();
    expect(latest!.inboxStatus).toBe("loaded");
    expect(latest!.inbox.map((e) => e.chatId)).toEqual(["c1", "c2", "g1", "c3"]);
    expect(latest!.hasMoreChats).toBe(true);
    expect(latest!.loadingMoreChats).toBe(false);
    expect(latest!.blockedUsers).toEqual([]);
  });
});
