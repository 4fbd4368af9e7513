import { type FormEvent, useCallback, useEffect, useRef, useState } from "react";
import { selectDirectChat, selectTypingUsers } from "../chat/selectors";
import { type SocketChat, useSocketChat } from "../chat/useSocketChat";
import { ChatModal } from "../components/ChatModal";
import { Inbox } from "../components/Inbox";
import { OnlineIndicator } from "../components/Indicators";
import { fetchDevToken, USER_ID } from "./devToken";

const CONNECTION_TEXT = {
  connecting: "Connecting",
  connected: "Connected",
  reconnecting: "Reconnecting",
  offline: "Offline",
} as const;

/** A topic as the server takes it: 1-128 printable characters. */
const TOPIC = /^[^\p{Cc}]{1,128}$/u;

export function DemoApp() {
  const params = new URLSearchParams(window.location.search);
  const user = params.get("user") ?? "";
  const peer = params.get("peer") ?? "";
  const topic = params.get("topic") || null;
  const topicOk = topic === null || TOPIC.test(topic);
  // `?user=x` alone: the inbox only, no chat opened by the page.
  if (USER_ID.test(user) && peer === "" && !params.has("peer")) {
    return <DemoChat user={user} peer={null} topic={null} openAtStart={false} />;
  }
  if (!USER_ID.test(user) || !USER_ID.test(peer) || user === peer || !topicOk) {
    return <PickUsers user={user} peer={peer} topic={topic ?? ""} />;
  }
  // The chat opens at once; `open=0` starts with it closed (the button opens it).
  return <DemoChat user={user} peer={peer} topic={topic} openAtStart={params.get("open") !== "0"} />;
}

function PickUsers({ user, peer, topic }: { user: string; peer: string; topic: string }) {
  const [me, setMe] = useState(user || "alice");
  const [other, setOther] = useState(peer || "bob");
  const [about, setAbout] = useState(topic);
  const valid = USER_ID.test(me) && USER_ID.test(other) && me !== other && (about === "" || TOPIC.test(about));
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    if (!valid) return;
    const query = new URLSearchParams({ user: me, peer: other });
    if (about) query.set("topic", about);
    window.location.search = `?${query.toString()}`;
  };
  return (
    <main className="demo">
      <h1 className="demo__title">Chat demo</h1>
      <p className="demo__lead">Pick who you are and who to talk to. Open a second window as the other person.</p>
      <form className="demo-card demo-form" onSubmit={onSubmit}>
        <label>
          You are
          <input value={me} onChange={(e) => setMe(e.target.value.trim())} autoComplete="off" required />
        </label>
        <label>
          Chat with
          <input value={other} onChange={(e) => setOther(e.target.value.trim())} autoComplete="off" required />
        </label>
        <label>
          About (optional, e.g. a listing)
          <input value={about} onChange={(e) => setAbout(e.target.value)} autoComplete="off" />
        </label>
        {!valid && <p className="demo-form__error">Two different ids of letters, digits and _ . @ -</p>}
        <button type="submit" className="demo-button" disabled={!valid}>
          Start chatting
        </button>
      </form>
    </main>
  );
}

/** What the modal shows: the page's own direct chat (peer, topic), or a chat picked in the inbox. */
type Target = { kind: "peer" } | { kind: "chat"; chatId: string };

function DemoChat({ user, peer, topic, openAtStart }: { user: string; peer: string | null; topic: string | null; openAtStart: boolean }) {
  const getToken = useCallback(() => fetchDevToken(user), [user]);
  const client = useSocketChat({ getToken });
  const [target, setTarget] = useState<Target | null>(peer ? { kind: "peer" } : null);
  const [open, setOpen] = useState(peer !== null && openAtStart);
  const toggleRef = useRef<HTMLButtonElement>(null);
  const wasOpen = useRef(open);
  const peerChat = peer ? selectDirectChat(client.state, peer, topic) : undefined;
  const unread = peerChat?.unreadCount ?? 0;
  const peerTyping = peer !== null && selectTypingUsers(peerChat, Date.now()).includes(peer);
  const shownChatId = target?.kind === "chat" ? target.chatId : (peerChat?.id ?? null);

  // Opened at load, the dialog had no button to give focus back to: closing lands on the one that reopens it.
  useEffect(() => {
    const nowhere = document.activeElement === null || document.activeElement === document.body;
    if (wasOpen.current && !open && nowhere) toggleRef.current?.focus();
    wasOpen.current = open;
  }, [open]);

  const total = client.totalUnread;
  useEffect(() => {
    document.title = `${total > 0 ? `(${total}) ` : ""}${user} — Chat demo`;
  }, [total, user]);

  const openChat = useCallback(
    (chatId: string) => {
      setTarget(peerChat?.id === chatId ? { kind: "peer" } : { kind: "chat", chatId });
      setOpen(true);
    },
    [peerChat?.id],
  );

  const togglePeer = () => {
    if (target?.kind !== "peer") {
      setTarget({ kind: "peer" });
      setOpen(true);
    } else setOpen((o) => !o);
  };
  const peerOpen = open && target?.kind === "peer";

  return (
    <main className="demo demo--wide">
      <header className="demo__bar">
        <h1 className="demo__title">Chat demo</h1>
        <div className="demo__me">
          <span>
            Signed in as <strong data-testid="me">{user}</strong>
          </span>
          <span className={`demo-pill demo-pill--${client.connection}`} data-testid="connection" data-state={client.connection} role="status">
            {CONNECTION_TEXT[client.connection]}
          </span>
          <a href="./" className="demo__switch">
            Switch
          </a>
        </div>
      </header>

      <div className="demo__layout">
        <div className="demo-card demo-inbox">
          <Inbox client={client} onOpen={openChat} selectedChatId={shownChatId} />
        </div>

        <div className="demo__side">
          {peer !== null && (
            <section className="demo-card demo-peer" aria-label={`Chat with ${peer}`}>
              <span className="chat-avatar demo-peer__avatar" aria-hidden="true">
                {peer.slice(0, 1).toUpperCase()}
              </span>
              <div className="demo-peer__text">
                <strong className="demo-peer__name">{peer}</strong>
                {topic && <span className="demo-peer__topic">About {topic}</span>}
                <span data-testid="peer-presence" data-online={client.state.presence[peer]?.online ?? false}>
                  <OnlineIndicator presence={client.state.presence[peer]} name={peer} />
                </span>
                <span className="demo-peer__typing" data-testid="peer-typing" aria-live="polite">
                  {peerTyping ? `${peer} is typing…` : ""}
                </span>
              </div>
              <button
                ref={toggleRef}
                type="button"
                className="demo-button demo-chat-button"
                onClick={togglePeer}
                aria-expanded={peerOpen}
                aria-label={unread > 0 ? `${peerOpen ? "Close" : "Open"} chat, ${unread} unread` : undefined}
                data-testid="chat-toggle"
              >
                {peerOpen ? "Close chat" : "Open chat"}
                {/* The space keeps the visible words ("Open chat 2") inside the name, for speech input (WCAG 2.5.3). */}
                {unread > 0 && (
                  <>
                    {" "}
                    <span className="demo-badge" data-testid="unread-badge" aria-hidden="true">
                      {unread}
                    </span>
                  </>
                )}
              </button>
            </section>
          )}

          {peer !== null ? (
            <p className="demo__hint">
              Open <a href={peerViewUrl(peer, user, topic)} target="_blank" rel="noreferrer">{peer}'s view</a> in another window to chat with yourself.
            </p>
          ) : (
            <p className="demo__hint">Conversations appear here as people write to you. Pick one to open it.</p>
          )}

          <NewGroup user={user} client={client} onCreated={openChat} />
        </div>
      </div>

      {target?.kind === "peer" && peer !== null && (
        <ChatModal
          key="peer"
          client={client}
          isOpen={open}
          onClose={() => setOpen(false)}
          recipientId={peer}
          recipientName={peer}
          topic={topic}
          currentUserId={user}
          allowBlocking
        />
      )}
      {target?.kind === "chat" && (
        <ChatModal key={target.chatId} client={client} isOpen={open} onClose={() => setOpen(false)} chatId={target.chatId} currentUserId={user} allowBlocking />
      )}
    </main>
  );
}

function peerViewUrl(peer: string, user: string, topic: string | null): string {
  const query = new URLSearchParams({ user: peer, peer: user });
  if (topic) query.set("topic", topic);
  return `?${query.toString()}`;
}

/** Groups are made over HTTP (POST /v1/chats); then the page opens the new group. */
function NewGroup({ user, client, onCreated }: { user: string; client: SocketChat; onCreated: (chatId: string) => void }) {
  const [title, setTitle] = useState("");
  const [members, setMembers] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ids = members
    .split(/[\s,]+/)
    .map((m) => m.trim())
    .filter(Boolean);
  const valid = ids.length > 0 && ids.every((m) => USER_ID.test(m)) && ids.some((m) => m !== user) && title.trim().length <= 200;

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    if (!valid || busy) return;
    setBusy(true);
    setError(null);
    try {
      const token = await fetchDevToken(user);
      const res = await fetch(client.controller.resolveUrl("/v1/chats"), {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify({ type: "group", title: title.trim() || null, members: ids }),
      });
      const body = (await res.json().catch(() => ({}))) as { id?: string; error?: { message?: string } };
      if (!res.ok || !body.id) throw new Error(body.error?.message ?? `POST /v1/chats answered ${res.status}`);
      setTitle("");
      setMembers("");
      onCreated(body.id);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <details className="demo-card demo-group">
      <summary>New group</summary>
      <form className="demo-form" onSubmit={onSubmit}>
        <label>
          Group name
          <input value={title} onChange={(e) => setTitle(e.target.value)} autoComplete="off" maxLength={200} />
        </label>
        <label>
          Members (user ids, comma-separated)
          <input value={members} onChange={(e) => setMembers(e.target.value)} autoComplete="off" />
        </label>
        {error && (
          <p className="demo-form__error" role="alert">
            Could not create the group: {error}
          </p>
        )}
        <button type="submit" className="demo-button" disabled={!valid || busy}>
          Create group
        </button>
      </form>
    </details>
  );
}
