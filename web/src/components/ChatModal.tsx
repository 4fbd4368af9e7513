import { useCallback, useEffect, useId, useMemo, useRef, useState } from "react";
import { createPortal } from "react-dom";
import { ContentError } from "../chat/controller";
import { type Message, replySnippet } from "../chat/protocol";
import { selectDirectChat, selectReadTarget, selectTimeline, selectTypingUsers } from "../chat/selectors";
import { type SocketChat, useSocketChat } from "../chat/useSocketChat";
import { Composer, type DraftAttachment } from "./Composer";
import { BLOCKED_TEXT, problemText } from "./errors";
import { ConnectionBanner, OnlineIndicator, TypingIndicator } from "./Indicators";
import { MembersPanel } from "./MembersPanel";
import type { MessageActions } from "./MessageItem";
import { MessageList } from "./MessageList";
import { useFocusTrap } from "./useFocusTrap";
import { useLocalPreviews } from "./useLocalPreviews";
import "./chat.css";

export interface ChatModalProps {
  isOpen: boolean;
  onClose: () => void;
  /** The other user of the direct chat (opened with join_chat {recipientId}). Or give `chatId`. */
  recipientId?: string;
  recipientName?: string;
  /** With `recipientId`: the direct chat about this subject (a listing, an order): join_chat {recipientId, topic}. */
  topic?: string | null;
  /** Instead of `recipientId`: a chat by id (direct or group, e.g. picked in the Inbox): join_chat {chatId}. */
  chatId?: string;
  /** Offer Block / Unblock in a direct chat's header. Default false. */
  allowBlocking?: boolean;
  /** Display names by user id (senders, members); default the id (`recipientName` for the recipient). */
  nameOf?: (userId: string) => string;
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
 * The direct chat with `recipientId` (about `topic`), or the chat `chatId`, in a modal dialog. It
 * keeps its connection (or uses `client`) while closed, so the unread count stays live.
 */
export function ChatModal(props: ChatModalProps) {
  if (props.client) return <ChatModalView {...props} client={props.client} />;
  return <OwnConnectionChatModal {...props} />;
}

function missingToken(): Promise<string> {
  return Promise.reject(new Error("ChatModal needs getToken or client"));
}

function OwnConnectionChatModal(props: ChatModalProps) {
  // One chat: no inbox to load.
  const client = useSocketChat({ url: props.serverUrl, path: props.socketPath, getToken: props.getToken ?? missingToken, loadInbox: false });
  return <ChatModalView {...props} client={client} />;
}

export type ChatModalViewProps = Omit<ChatModalProps, "client" | "getToken" | "serverUrl" | "socketPath"> & {
  client: SocketChat;
};

export function ChatModalView({
  isOpen,
  onClose,
  recipientId,
  recipientName,
  topic,
  chatId: chatIdProp,
  allowBlocking = false,
  nameOf: nameOfProp,
  onUnreadCountUpdate,
  currentUserId,
  client,
}: ChatModalViewProps) {
  const { state } = client;
  const me = client.me ?? currentUserId ?? null;
  const chat = chatIdProp ? state.chats[chatIdProp] : recipientId ? selectDirectChat(state, recipientId, topic) : undefined;
  const chatId = chatIdProp ?? chat?.id ?? null;
  const info = chat?.info ?? null;
  const isGroup = info?.type === "group";
  const other = recipientId ?? (info?.type === "direct" ? (info.members.find((u) => u !== me) ?? null) : null);
  const displayName = useCallback((u: string) => (u === recipientId && recipientName ? recipientName : (nameOfProp?.(u) ?? u)), [recipientId, recipientName, nameOfProp]);
  const name = isGroup || !other ? (info ? (info.title || info.members.filter((u) => u !== me).map(displayName).join(", ") || "Group") : "Chat") : displayName(other);
  const shownTopic = topic ?? info?.topic ?? null;
  const blocked = info?.blocked === true;
  const removed = chat?.removed === true;
  const iBlocked = other !== null && client.blockedUsers.includes(other);
  const locked = blocked || removed;
  const titleId = useId();
  const membersId = useId();
  const [showMembers, setShowMembers] = useState(false);
  const dialogRef = useRef<HTMLDivElement>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const [visible, setVisible] = useState(() => typeof document === "undefined" || document.visibilityState !== "hidden");
  const [sendError, setSendError] = useState<string | null>(null);
  const [replyToId, setReplyToId] = useState<string | null>(null);
  const [draftIds, setDraftIds] = useState<string[]>([]);
  const { previews, add: addPreview, alias: aliasPreview, get: localPreview, retain: retainPreviews } = useLocalPreviews();
  // The message being answered, while it is there to answer (not deleted).
  const replyingTo = replyToId ? chat?.messages.find((m) => m.id === replyToId && !m.deleted) : undefined;

  // Viewing = this component is mounted: join now (or when connected), leave on unmount.
  const { openDirectChat, joinChat, leaveChat } = client;
  useEffect(() => {
    let joinedId: string | null = null;
    const opening = chatIdProp
      ? joinChat(chatIdProp).then(() => chatIdProp)
      : recipientId
        ? openDirectChat(recipientId, topic ?? null)
        : Promise.reject(new Error("ChatModal needs recipientId or chatId"));
    opening.then(
      (id) => {
        joinedId = id;
      },
      (err: unknown) => {
        // BLOCKED (a new chat between two who block), NOT_FOUND (no longer a member), ...
        if (err && typeof err === "object" && "code" in err) setSendError(problemText("Could not open the chat", err));
      },
    );
    return () => {
      if (joinedId) void leaveChat(joinedId);
    };
  }, [chatIdProp, recipientId, topic, openDirectChat, joinChat, leaveChat]);

  // A blocked chat: is it the user who blocks? (get_blocked once, if not known yet.)
  const { getBlocked } = client;
  const blocksKnown = state.blocks.known;
  useEffect(() => {
    if (blocked && !blocksKnown && client.connection === "connected") getBlocked().catch(() => undefined);
  }, [blocked, blocksKnown, client.connection, getBlocked]);

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

  // A locked composer cannot take focus: the trap starts at the first button instead.
  useFocusTrap(dialogRef, isOpen, onClose, locked ? undefined : inputRef);

  const { sendMessage, setTyping, editMessage, deleteMessage, react, attach, cancelUpload } = client;
  const uploads = state.uploads;
  const onSend = useCallback(
    (content: string) => {
      if (!chatId) return false;
      try {
        const ready = draftIds.filter((id) => uploads[id]?.status === "uploaded");
        for (const id of ready) aliasPreview(uploads[id]!.attachmentId!, id);
        sendMessage(chatId, content, { replyTo: replyingTo?.id ?? null, uploadIds: ready });
        setSendError(null);
        setReplyToId(null);
        setDraftIds([]);
        return true;
      } catch (err) {
        setSendError(err instanceof ContentError ? err.message : String(err));
        return false;
      }
    },
    [chatId, sendMessage, draftIds, uploads, replyingTo, aliasPreview],
  );

  // A chat's actions report their failure here (role="alert"); the editor stays open on a failed edit.
  const actions = useMemo<MessageActions | undefined>(() => {
    if (!chatId) return undefined;
    const failed = (what: string) => (err: unknown) => {
      setSendError(problemText(what, err));
      throw err;
    };
    return {
      edit: (messageId, content) =>
        editMessage(chatId, messageId, content).then(() => setSendError(null), failed("Could not edit the message")),
      remove: (messageId) =>
        deleteMessage(chatId, messageId).then(() => {
          setSendError(null);
          inputRef.current?.focus();
        }, failed("Could not delete the message")),
      react: (messageId, emoji, add) => {
        react(chatId, messageId, emoji, add).then(
          () => setSendError(null),
          (err: unknown) => setSendError(problemText(add ? "Could not add the reaction" : "Could not remove the reaction", err)),
        );
      },
      reply: (message: Message) => {
        setReplyToId(message.id);
        inputRef.current?.focus();
      },
    };
  }, [chatId, editMessage, deleteMessage, react]);

  const onAttach = useCallback(
    (file: File) => {
      if (!chatId) return;
      const uploadId = attach(chatId, file);
      addPreview(uploadId, file);
      setDraftIds((ids) => [...ids, uploadId]);
    },
    [chatId, attach, addPreview],
  );
  const onRemoveAttachment = useCallback(
    (uploadId: string) => {
      cancelUpload(uploadId);
      setDraftIds((ids) => ids.filter((id) => id !== uploadId));
      inputRef.current?.focus();
    },
    [cancelUpload],
  );

  // Previews live while their draft or pending message does.
  const pending = chat?.pending;
  useEffect(() => {
    const wanted = new Set(draftIds);
    for (const p of pending ?? []) for (const a of p.attachments) wanted.add(a.id);
    retainPreviews(wanted);
  }, [draftIds, pending, retainPreviews]);
  const onTypingChange = useCallback((isTyping: boolean) => chatId && setTyping(chatId, isTyping), [chatId, setTyping]);

  // Conversation actions (groups, blocking): failures are said in the alert line.
  const { addMembers, removeMember, renameChat, leaveGroup, blockUser, unblockUser } = client;
  const report = (what: string) => (err: unknown) => {
    setSendError(problemText(what, err));
    throw err;
  };
  const done = () => setSendError(null);
  const onBlockToggle = () => {
    if (!other) return;
    const action = iBlocked ? unblockUser(other) : blockUser(other);
    action.then(done, (err: unknown) => setSendError(problemText(iBlocked ? "Could not unblock" : "Could not block", err)));
  };

  if (!isOpen) return null;

  const typingNames = selectTypingUsers(chat, Date.now()).map(displayName);
  const items = selectTimeline(chat, me);
  const nameOf = (u: string) => (u === me ? "You" : displayName(u));
  const drafts: DraftAttachment[] = draftIds.flatMap((id) => {
    const u = uploads[id];
    if (!u) return [];
    return [
      {
        id,
        name: u.fileName,
        size: u.size,
        loaded: u.loaded,
        status: u.status,
        error: u.error ? problemText("Upload failed", u.error) : null,
        previewUrl: previews[id]?.url ?? null,
      },
    ];
  });

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
            <div className="chat-modal__names">
              <h2 id={titleId} className="chat-modal__title">
                {name}
              </h2>
              {shownTopic && (
                <p className="chat-modal__topic" data-testid="chat-topic">
                  About {shownTopic}
                </p>
              )}
              {isGroup ? (
                <span className="chat-presence chat-members-count">
                  {info.members.length} {info.members.length === 1 ? "member" : "members"}
                </span>
              ) : (
                other && <OnlineIndicator presence={state.presence[other]} name={name} />
              )}
            </div>
          </div>
          <div className="chat-modal__tools">
            {isGroup && !removed && (
              <button
                type="button"
                className="chat-header-button"
                aria-expanded={showMembers}
                aria-controls={showMembers ? membersId : undefined}
                onClick={() => setShowMembers((v) => !v)}
              >
                Members
              </button>
            )}
            {allowBlocking && !isGroup && other && (
              <button type="button" className="chat-header-button" onClick={onBlockToggle} aria-label={`${iBlocked ? "Unblock" : "Block"} ${name}`}>
                {iBlocked ? "Unblock" : "Block"}
              </button>
            )}
            <button type="button" className="chat-icon-button" onClick={onClose} aria-label="Close chat">
              <span aria-hidden="true">×</span>
            </button>
          </div>
        </header>
        <ConnectionBanner connection={client.connection} draining={state.draining} error={state.connectError} />
        {blocked && !removed && (
          <div className="chat-blocked" role="status" data-testid="blocked-banner">
            {iBlocked ? `You blocked ${name}. ` : ""}
            {BLOCKED_TEXT}
          </div>
        )}
        {removed && (
          <div className="chat-blocked" role="status" data-testid="removed-banner">
            You are no longer a member of this chat.
          </div>
        )}
        {isGroup && showMembers && !removed && chatId && (
          <MembersPanel
            id={membersId}
            chat={info}
            me={me}
            nameOf={displayName}
            onAdd={(userId) => addMembers(chatId, [userId]).then(done, report(`Could not add ${userId}`))}
            onRemove={(userId) => removeMember(chatId, userId).then(done, report(`Could not remove ${displayName(userId)}`))}
            onRename={(title) => renameChat(chatId, title).then(done, report("Could not rename the group"))}
            onLeave={() =>
              leaveGroup(chatId).then(() => {
                done();
                onClose();
              }, report("Could not leave the group"))
            }
          />
        )}
        <MessageList
          items={items}
          nameOf={nameOf}
          hasOlder={chat?.hasOlder}
          loadingOlder={chat?.loadingOlder}
          onLoadOlder={() => chatId && void client.loadOlder(chatId)}
          onRetry={client.retrySend}
          onDiscard={client.discardSend}
          actions={actions}
          resolveUrl={client.resolveUrl}
          localPreview={localPreview}
        />
        <TypingIndicator names={typingNames} />
        {sendError && (
          <p className="chat-error" role="alert">
            {sendError}
          </p>
        )}
        <Composer
          // one composer per conversation: a draft, or a message waiting for its chat to open,
          // never moves to the next chat shown in this modal
          key={`${chatIdProp ?? ""}\n${recipientId ?? ""}\n${topic ?? ""}`}
          onSend={onSend}
          onTypingChange={onTypingChange}
          disabled={!chatId}
          locked={locked}
          placeholder={blocked && !removed ? BLOCKED_TEXT : undefined}
          textareaRef={inputRef}
          replyTo={replyingTo ? { name: nameOf(replyingTo.senderId), snippet: replySnippet(replyingTo) } : null}
          onCancelReply={() => setReplyToId(null)}
          attachments={drafts}
          onAttach={onAttach}
          onRemoveAttachment={onRemoveAttachment}
        />
      </div>
    </div>,
    document.body,
  );
}
