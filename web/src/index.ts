// Public surface of the browser client.
export { useSocketChat, type SocketChat, type UseSocketChatOptions } from "./chat/useSocketChat";
export { ChatController, ContentError, RequestError, type ChatControllerOptions, type ChatSocket } from "./chat/controller";
export * from "./chat/reducer";
export * from "./chat/selectors";
export * from "./chat/protocol";
export { ChatModal, ChatModalView, type ChatModalProps, type ChatModalViewProps } from "./components/ChatModal";
// The original Node.js chat's name for the modal, with the same props (isOpen, onClose, recipientId,
// recipientName, onUnreadCountUpdate); what a front end adds is getToken (or a shared client).
export { ChatModal as ChatModalSocketIO, type ChatModalProps as ChatModalSocketIOProps } from "./components/ChatModal";
export { MessageList, ReadTicks, type MessageListProps } from "./components/MessageList";
export { Composer, type ComposerProps } from "./components/Composer";
export { ConnectionBanner, OnlineIndicator, TypingIndicator, connectionMessage } from "./components/Indicators";
