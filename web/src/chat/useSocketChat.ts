// React binding of ChatController: one connection per hook instance, state via
// useSyncExternalStore, methods stable for the controller's lifetime.
import { useEffect, useMemo, useRef, useSyncExternalStore } from "react";
import type { Socket } from "socket.io-client";
import { ChatController, type ChatControllerOptions } from "./controller";
import type { Message } from "./protocol";
import type { ChatClientState, ConnectionState } from "./reducer";

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
  const { url, path, ackTimeoutMs, reconnectionDelayMs, reconnectionDelayMaxMs, socketFactory, createXhr, enabled = true } = options;
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
        getToken: () => getTokenRef.current(),
      }),
    [url, path, ackTimeoutMs, reconnectionDelayMs, reconnectionDelayMaxMs, socketFactory, createXhr],
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
    }),
    [state, controller, methods, enabled, activeUsers, currentMessages],
  );
}
