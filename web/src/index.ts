// Public surface of the browser client.
export { useSocketChat, type SocketChat, type UseSocketChatOptions } from "./chat/useSocketChat";
export { ChatController, ContentError, RequestError, type ChatControllerOptions, type ChatSocket, type SendOptions } from "./chat/controller";
export { sendUpload, UploadError, uploadErrorOf, type UploadXhr } from "./chat/upload";
export * from "./chat/reducer";
export * from "./chat/selectors";
export * from "./chat/protocol";
export { ChatModal, ChatModalView, type ChatModalProps, type ChatModalViewProps } from "./components/ChatModal";
// The original Node.js chat's name for the modal, with the same props (isOpen, onClose, recipientId,
// recipientName, onUnreadCountUpdate); what a front end adds is getToken (or a shared client).
export { ChatModal as ChatModalSocketIO, type ChatModalProps as ChatModalSocketIOProps } from "./components/ChatModal";
export { MessageList, ReadTicks, type MessageListProps } from "./components/MessageList";
export { MessageItem, type MessageActions, type MessageItemProps } from "./components/MessageItem";
export { ReactionBar, ReactionPicker, QUICK_REACTIONS, type ReactionBarProps, type ReactionPickerProps } from "./components/Reactions";
export { AttachmentList, imageSize, type AttachmentListProps, type LocalPreview } from "./components/Attachments";
export { BLOCKED_TEXT, problemText, sendErrorText } from "./components/errors";
export { Inbox, InboxView, type InboxProps, type InboxViewProps } from "./components/Inbox";
export { MembersPanel, type MembersPanelProps } from "./components/MembersPanel";
export { Composer, type ComposerProps, type DraftAttachment } from "./components/Composer";
export { ConnectionBanner, OnlineIndicator, TypingIndicator, connectionMessage } from "./components/Indicators";
