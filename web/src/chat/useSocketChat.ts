// React binding of ChatController: one connection per hook instance, state via
// useSyncExternalStore, methods stable for the controller's lifetime.
import { useEffect, useMemo, useRef, useSyncExternalStore } from "react";
import { ChatController, type ChatControllerOptions } from "./controller";
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
}

export function useSocketChat(options: UseSocketChatOptions): SocketChat {
  const { url, path, ackTimeoutMs, reconnectionDelayMs, reconnectionDelayMaxMs, socketFactory, enabled = true } = options;
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
        getToken: () => getTokenRef.current(),
      }),
    [url, path, ackTimeoutMs, reconnectionDelayMs, reconnectionDelayMaxMs, socketFactory],
  );

  useEffect(() => {
    if (!enabled) return undefined;
    controller.start();
    return () => controller.stop();
  }, [controller, enabled]);

  const state = useSyncExternalStore(controller.subscribe, controller.getState, controller.getState);

  const methods = useMemo(
    () => ({
      openDirectChat: controller.openDirectChat.bind(controller),
      joinChat: controller.joinChat.bind(controller),
      leaveChat: controller.leaveChat.bind(controller),
      sendMessage: controller.sendMessage.bind(controller),
      retrySend: controller.retrySend.bind(controller),
      discardSend: controller.discardSend.bind(controller),
      markRead: controller.markRead.bind(controller),
      setTyping: controller.setTyping.bind(controller),
      loadOlder: controller.loadOlder.bind(controller),
      refreshPresence: controller.refreshPresence.bind(controller),
    }),
    [controller],
  );

  return useMemo<SocketChat>(
    () => ({
      state,
      connection: state.connection,
      me: state.me,
      totalUnread: state.totalUnread,
      controller,
      ...methods,
    }),
    [state, controller, methods],
  );
}
