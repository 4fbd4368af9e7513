// React binding of ChatController: one connection per hook instance, state via
// useSyncExternalStore, methods stable for the controller's lifetime.
import { useEffect, useMemo, useRef, useSyncExternalStore } from "react";
import type { Socket } from "socket.io-client";
import { ChatController, type ChatControllerOptions } from "./controller";
import type { Message } from "./protocol";
import type { ChatClientState, ConnectionState, InboxStatus } from "./reducer";
import { type InboxEntry, selectInbox } from "./selectors";

export type UseSocketChatOptions = ChatControllerOptions & {
  /** Set false to hold the connection closed (e.g. before the user signs in). Default true. */
  enabled?: boolean;
};

export interface SocketChat {
  state: ChatClientState;
  connection: ConnectionState;
  /** The user id the server authenticated (from the `connected` event). */
  me: string | null;
  totalUnread: number;
  controller: ChatController;
  openDirectChat: ChatController["openDirectChat"];
  joinChat: ChatController["joinChat"];
  leaveChat: ChatController["leaveChat"];
  sendMessage: ChatController["sendMessage"];
  retrySend: ChatController["retrySend"];
  discardSend: ChatController["discardSend"];
  markRead: ChatController["markRead"];
  setTyping: ChatController["setTyping"];
  loadOlder: ChatController["loadOlder"];
  refreshPresence: ChatController["refreshPresence"];
  // Message changes (protocol v1.1). Each rejects with a RequestError (its `code` from the protocol).
  /** edit_message: one's own message; Enter-to-save editors call it. Rejects with ContentError too. */
  editMessage: ChatController["editMessage"];
  /** delete_message: one's own message; it stays as a tombstone (`deleted: true`). */
  deleteMessage: ChatController["deleteMessage"];
  /** react(chatId, messageId, emoji, add): add or remove one's reaction. */
  react: ChatController["react"];
  /** Start uploading a file for a message of the chat; returns the upload id (see `state.uploads`). */
  attach: ChatController["attach"];
  cancelUpload: ChatController["cancelUpload"];
  /** An attachment's (relative) url made absolute against the chat server. */
  resolveUrl: ChatController["resolveUrl"];
  /** The chat opened or joined last and not left (`openDirectChat`, `joinChat`); null if none. */
  currentChatId: string | null;

  // Conversations (protocol 1.1). Each action rejects with a RequestError (its `code` from the
  // protocol: BLOCKED, FORBIDDEN, INVALID, NOT_FOUND, ...); the failure is also in state.lastError.
  /** The user's conversations, newest activity first, kept live by events (selectInbox). */
  inbox: InboxEntry[];
  /** "idle" (not asked yet), "loading" (first load), "loaded", "error" (the first load failed). */
  inboxStatus: InboxStatus;
  /** The inbox has more (older) conversations: `loadMoreChats()`. */
  hasMoreChats: boolean;
  loadingMoreChats: boolean;
  /** (Re)load the first page (list_chats) and everyone's presence; done on every connect by default. */
  loadChats: ChatController["loadChats"];
  /** The next page of the inbox (list_chats {cursor}). */
  loadMoreChats: ChatController["loadMoreChats"];
  /** add_members {chatId, userIds} (group admins); resolves with the chat. */
  addMembers: ChatController["addMembers"];
  /** remove_member {chatId, userId} (group admins); resolves with the chat (null for one's own id: left). */
  removeMember: ChatController["removeMember"];
  /** leave_chat {chatId, leaveGroup: true}: the group leaves the inbox. */
  leaveGroup: ChatController["leaveGroup"];
  /** update_chat {chatId, title?, admins?} (group admins); resolves with the chat. */
  updateChat: ChatController["updateChat"];
  /** update_chat {chatId, title} (null clears it). */
  renameChat: ChatController["renameChat"];
  /** block_user {userId}. */
  blockUser: ChatController["blockUser"];
  /** unblock_user {userId}. */
  unblockUser: ChatController["unblockUser"];
  /** get_blocked: whom the user blocks (also `blockedUsers`). */
  getBlocked: ChatController["getBlocked"];
  /** Whom the user blocks, as far as known (`state.blocks.known` says whether get_blocked answered). */
  blockedUsers: string[];

  // The original hook's names (docs/migrating.md), derived from the state above.
  /** The Socket.IO socket (socket.io-client's; the fake when `socketFactory` made one); null while `enabled` is false. */
  socket: Socket | null;
  /** connection === "connected". */
  isConnected: boolean;
  /** Ids of the user's contacts who are online now (from presence), sorted; the user is not among them. */
  activeUsers: string[];
  /** = totalUnread. */
  unreadCount: number;
  /** The confirmed messages of the current chat (`currentChatId`), oldest first; [] without one. */
  messages: Message[];
  /** = markRead, under the original's name. */
  markMessagesAsRead: ChatController["markRead"];
  /** Refresh `activeUsers`: everyone who shares a chat with the user, or one chat's members. */
  getActiveUsers: (chatId?: string) => Promise<void>;
}

const NO_MESSAGES: Message[] = [];

function onlineContacts(presence: ChatClientState["presence"], me: string | null): string[] {
  return Object.keys(presence)
    .filter((userId) => userId !== me && presence[userId]!.online)
    .sort();
}

export function useSocketChat(options: UseSocketChatOptions): SocketChat {
  const {
    url,
    path,
    ackTimeoutMs,
    reconnectionDelayMs,
    reconnectionDelayMaxMs,
    socketFactory,
    createXhr,
    loadInbox,
    inboxPageSize,
    enabled = true,
  } = options;
  // getToken may be a fresh closure each render; the connection must not restart for it.
  const getTokenRef = useRef(options.getToken);
  getTokenRef.current = options.getToken;

  const controller = useMemo(
    () =>
      new ChatController({
        url,
        path,
        ackTimeoutMs,
        reconnectionDelayMs,
        reconnectionDelayMaxMs,
        socketFactory,
        createXhr,
        loadInbox,
        inboxPageSize,
        getToken: () => getTokenRef.current(),
      }),
    [url, path, ackTimeoutMs, reconnectionDelayMs, reconnectionDelayMaxMs, socketFactory, createXhr, loadInbox, inboxPageSize],
  );

  useEffect(() => {
    if (!enabled) return undefined;
    controller.start();
    return () => controller.stop();
  }, [controller, enabled]);

  const state = useSyncExternalStore(controller.subscribe, controller.getState, controller.getState);

  const methods = useMemo(() => {
    const markRead = controller.markRead.bind(controller);
    const refreshPresence = controller.refreshPresence.bind(controller);
    return {
      openDirectChat: controller.openDirectChat.bind(controller),
      joinChat: controller.joinChat.bind(controller),
      leaveChat: controller.leaveChat.bind(controller),
      sendMessage: controller.sendMessage.bind(controller),
      retrySend: controller.retrySend.bind(controller),
      discardSend: controller.discardSend.bind(controller),
      markRead,
      setTyping: controller.setTyping.bind(controller),
      loadOlder: controller.loadOlder.bind(controller),
      refreshPresence,
      editMessage: controller.editMessage.bind(controller),
      deleteMessage: controller.deleteMessage.bind(controller),
      react: controller.react.bind(controller),
      attach: controller.attach.bind(controller),
      cancelUpload: controller.cancelUpload.bind(controller),
      resolveUrl: controller.resolveUrl,
      loadChats: controller.loadChats.bind(controller),
      loadMoreChats: controller.loadMoreChats.bind(controller),
      addMembers: controller.addMembers.bind(controller),
      removeMember: controller.removeMember.bind(controller),
      leaveGroup: controller.leaveGroup.bind(controller),
      updateChat: controller.updateChat.bind(controller),
      renameChat: controller.renameChat.bind(controller),
      blockUser: controller.blockUser.bind(controller),
      unblockUser: controller.unblockUser.bind(controller),
      getBlocked: controller.getBlocked.bind(controller),
      // The original's names for the same functions.
      markMessagesAsRead: markRead,
      getActiveUsers: refreshPresence,
    };
  }, [controller]);

  // The same array while the same people are online, so it can be an effect's dependency.
  const { presence, me, currentChatId } = state;
  const activeUsersRef = useRef<string[]>([]);
  const activeUsers = useMemo(() => {
    const next = onlineContacts(presence, me);
    const prev = activeUsersRef.current;
    return next.length === prev.length && next.every((u, i) => u === prev[i]) ? prev : next;
  }, [presence, me]);
  activeUsersRef.current = activeUsers;
  const currentMessages = currentChatId ? state.chats[currentChatId]?.messages : undefined;
  const { chats } = state;
  const inbox = useMemo(() => selectInbox({ chats, presence, me }), [chats, presence, me]);

  return useMemo<SocketChat>(
    () => ({
      state,
      connection: state.connection,
      me: state.me,
      totalUnread: state.totalUnread,
      controller,
      ...methods,
      currentChatId: state.currentChatId,
      socket: enabled ? (controller.socket as unknown as Socket) : null,
      isConnected: state.connection === "connected",
      activeUsers,
      unreadCount: state.totalUnread,
      messages: currentMessages ?? NO_MESSAGES,
      inbox,
      inboxStatus: state.inbox.status,
      hasMoreChats: state.inbox.nextCursor !== null,
      loadingMoreChats: state.inbox.loadingMore,
      blockedUsers: state.blocks.userIds,
    }),
    [state, controller, methods, enabled, activeUsers, currentMessages, inbox],
  );
}
