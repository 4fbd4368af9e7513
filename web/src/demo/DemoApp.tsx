import { type FormEvent, useCallback, useEffect, useRef, useState } from "react";
import { selectDirectChat, selectTypingUsers } from "../chat/selectors";
import { useSocketChat } from "../chat/useSocketChat";
import { ChatModal } from "../components/ChatModal";
import { OnlineIndicator } from "../components/Indicators";
import { fetchDevToken, USER_ID } from "./devToken";

const CONNECTION_TEXT = {
  connecting: "Connecting",
  connected: "Connected",
  reconnecting: "Reconnecting",
  offline: "Offline",
} as const;

export function DemoApp() {
  const params = new URLSearchParams(window.location.search);
  const user = params.get("user") ?? "";
  const peer = params.get("peer") ?? "";
  if (!USER_ID.test(user) || !USER_ID.test(peer) || user === peer) {
    return <PickUsers user={user} peer={peer} />;
  }
  // The chat opens at once; `open=0` starts with it closed (the button opens it).
  return <DemoChat user={user} peer={peer} openAtStart={params.get("open") !== "0"} />;
}

function PickUsers({ user, peer }: { user: string; peer: string }) {
  const [me, setMe] = useState(user || "alice");
  const [other, setOther] = useState(peer || "bob");
  const valid = USER_ID.test(me) && USER_ID.test(other) && me !== other;
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    if (valid) window.location.search = `?user=${encodeURIComponent(me)}&peer=${encodeURIComponent(other)}`;
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
        {!valid && <p className="demo-form__error">Two different ids of letters, digits and _ . @ -</p>}
        <button type="submit" className="demo-button" disabled={!valid}>
          Start chatting
        </button>
      </form>
    </main>
  );
}

function DemoChat({ user, peer, openAtStart }: { user: string; peer: string; openAtStart: boolean }) {
  const getToken = useCallback(() => fetchDevToken(user), [user]);
  const client = useSocketChat({ getToken });
  const [open, setOpen] = useState(openAtStart);
  const [unread, setUnread] = useState(0);
  const toggleRef = useRef<HTMLButtonElement>(null);
  const wasOpen = useRef(open);
  const chat = selectDirectChat(client.state, peer);
  const peerTyping = selectTypingUsers(chat, Date.now()).includes(peer);

  // Opened at load, the dialog had no button to give focus back to: closing lands on the one that reopens it.
  useEffect(() => {
    if (wasOpen.current && !open) toggleRef.current?.focus();
    wasOpen.current = open;
  }, [open]);

  useEffect(() => {
    document.title = `${unread > 0 ? `(${unread}) ` : ""}${user} — Chat demo`;
  }, [unread, user]);

  return (
    <main className="demo">
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

      <section className="demo-card demo-peer" aria-label={`Chat with ${peer}`}>
        <span className="chat-avatar demo-peer__avatar" aria-hidden="true">
          {peer.slice(0, 1).toUpperCase()}
        </span>
        <div className="demo-peer__text">
          <strong className="demo-peer__name">{peer}</strong>
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
          onClick={() => setOpen((o) => !o)}
          aria-expanded={open}
          aria-label={unread > 0 ? `${open ? "Close" : "Open"} chat, ${unread} unread` : undefined}
          data-testid="chat-toggle"
        >
          {open ? "Close chat" : "Open chat"}
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

      <p className="demo__hint">
        Open <a href={`?user=${encodeURIComponent(peer)}&peer=${encodeURIComponent(user)}`} target="_blank" rel="noreferrer">{peer}'s view</a> in another window to chat with yourself.
      </p>

      <ChatModal
        client={client}
        isOpen={open}
        onClose={() => setOpen(false)}
        recipientId={peer}
        recipientName={peer}
        currentUserId={user}
        onUnreadCountUpdate={setUnread}
      />
    </main>
  );
}
