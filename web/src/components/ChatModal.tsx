import { useCallback, useEffect, useId, useRef, useState } from "react";
import { createPortal } from "react-dom";
import { ContentError } from "../chat/controller";
import { selectDirectChat, selectReadTarget, selectTimeline, selectTypingUsers } from "../chat/selectors";
import { type SocketChat, useSocketChat } from "../chat/useSocketChat";
import { Composer } from "./Composer";
import { ConnectionBanner, OnlineIndicator, TypingIndicator } from "./Indicators";
import { MessageList } from "./MessageList";
import { useFocusTrap } from "./useFocusTrap";
import "./chat.css";

export interface ChatModalProps {
  isOpen: boolean;
  onClose: () => void;
  /** The other user of the direct chat. */
  recipientId: string;
  recipientName?: string;
  /** Called with this chat's unread count whenever it changes (also while closed). */
  onUnreadCountUpdate?: (count: number) => void;
  /** Server origin; default the page's origin. Ignored when `client` is given. */
  serverUrl?: string;
  /** Socket.IO path; default "/socket.io/". */
  socketPath?: string;
  /** Returns a JWT for the current user; called on every (re)connect. Needed unless `client` is given. */
  getToken?: () => Promise<string>;
  /** The signed-in user's id (shown as "You" before the server confirms it). */
  currentUserId?: string;
  /** Share a connection made with useSocketChat instead of opening one. */
  client?: SocketChat;
}

/**
 * The direct chat with `recipientId` in a modal dialog. It keeps its connection (or
 * uses `client`) while closed, so the unread count stays live.
 */
export function ChatModal(props: ChatModalProps) {
  if (props.client) return <ChatModalView {...props} client={props.client} />;
  return <OwnConnectionChatModal {...props} />;
}

function missingToken(): Promise<string> {
  return Promise.reject(new Error("ChatModal needs getToken or client"));
}

function OwnConnectionChatModal(props: ChatModalProps) {
  const client = useSocketChat({ url: props.serverUrl, path: props.socketPath, getToken: props.getToken ?? missingToken });
  return <ChatModalView {...props} client={client} />;
}

export type ChatModalViewProps = Omit<ChatModalProps, "client" | "getToken" | "serverUrl" | "socketPath"> & {
  client: SocketChat;
};

export function ChatModalView({ isOpen, onClose, recipientId, recipientName, onUnreadCountUpdate, currentUserId, client }: ChatModalViewProps) {
  const { state } = client;
  const me = client.me ?? currentUserId ?? null;
  const chat = selectDirectChat(state, recipientId);
  const chatId = chat?.id ?? null;
  const name = recipientName || recipientId;
  const titleId = useId();
  const dialogRef = useRef<HTMLDivElement>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const [visible, setVisible] = useState(() => typeof document === "undefined" || document.visibilityState !== "hidden");
  const [sendError, setSendError] = useState<string | null>(null);

  // Viewing = this component is mounted: join now (or when connected), leave on unmount.
  const { openDirectChat, leaveChat } = client;
  useEffect(() => {
    let joinedId: string | null = null;
    openDirectChat(recipientId).then(
      (id) => {
        joinedId = id;
      },
      () => undefined,
    );
    return () => {
      if (joinedId) void leaveChat(joinedId);
    };
  }, [recipientId, openDirectChat, leaveChat]);

  const unread = chat?.unreadCount ?? 0;
  const onUnreadRef = useRef(onUnreadCountUpdate);
  onUnreadRef.current = onUnreadCountUpdate;
  useEffect(() => {
    onUnreadRef.current?.(unread);
  }, [unread]);

  useEffect(() => {
    const onVisibility = () => setVisible(document.visibilityState !== "hidden");
    document.addEventListener("visibilitychange", onVisibility);
    return () => document.removeEventListener("visibilitychange", onVisibility);
  }, []);

  // What is on screen counts as read.
  const readTarget = isOpen && visible && client.connection === "connected" ? selectReadTarget(chat, me) : null;
  const { markRead } = client;
  useEffect(() => {
    if (chatId && readTarget !== null) void markRead(chatId, readTarget);
  }, [chatId, readTarget, markRead]);

  useFocusTrap(dialogRef, isOpen, onClose, inputRef);

  const { sendMessage, setTyping } = client;
  const onSend = useCallback(
    (content: string) => {
      if (!chatId) return false;
      try {
        sendMessage(chatId, content);
        setSendError(null);
        return true;
      } catch (err) {
        setSendError(err instanceof ContentError ? err.message : String(err));
        return false;
      }
    },
    [chatId, sendMessage],
  );
  const onTypingChange = useCallback((isTyping: boolean) => chatId && setTyping(chatId, isTyping), [chatId, setTyping]);

  if (!isOpen) return null;

  const typingNames = selectTypingUsers(chat, Date.now()).map((u) => (u === recipientId ? name : u));
  const items = selectTimeline(chat, me);

  return createPortal(
    <div
      className="chat-overlay"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div className="chat-modal" role="dialog" aria-modal="true" aria-labelledby={titleId} ref={dialogRef} tabIndex={-1}>
        <header className="chat-modal__header">
          <div className="chat-modal__who">
            <span className="chat-avatar" aria-hidden="true">
              {name.slice(0, 1).toUpperCase()}
            </span>
            <div>
              <h2 id={titleId} className="chat-modal__title">
                {name}
              </h2>
              <OnlineIndicator presence={state.presence[recipientId]} name={name} />
            </div>
          </div>
          <button type="button" className="chat-icon-button" onClick={onClose} aria-label="Close chat">
            <span aria-hidden="true">×</span>
          </button>
        </header>
        <ConnectionBanner connection={client.connection} draining={state.draining} error={state.connectError} />
        <MessageList
          items={items}
          nameOf={(u) => (u === recipientId ? name : u)}
          hasOlder={chat?.hasOlder}
          loadingOlder={chat?.loadingOlder}
          onLoadOlder={() => chatId && void client.loadOlder(chatId)}
          onRetry={client.retrySend}
          onDiscard={client.discardSend}
        />
        <TypingIndicator names={typingNames} />
        {sendError && (
          <p className="chat-error" role="alert">
            {sendError}
          </p>
        )}
        <Composer onSend={onSend} onTypingChange={onTypingChange} disabled={!chatId} textareaRef={inputRef} />
      </div>
    </div>,
    document.body,
  );
}
