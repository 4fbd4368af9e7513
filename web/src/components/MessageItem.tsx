import { type FormEvent, type KeyboardEvent, useEffect, useId, useRef, useState } from "react";
import { codePointLength, MAX_CONTENT_CODE_POINTS, type Message } from "../chat/protocol";
import type { DeliveryStatus, TimelineItem } from "../chat/selectors";
import { AttachmentList, type LocalPreview } from "./Attachments";
import { sendErrorText } from "./errors";
import { timeLabel } from "./format";
import { Icon } from "./icons";
import { ReactionBar, ReactionPicker } from "./Reactions";
import { useEscapeKey } from "./useEscapeKey";

/** What can be done to a confirmed message; each is offered only when given. */
export interface MessageActions {
  /** Own messages. Rejecting keeps the editor open. */
  edit?: (messageId: string, content: string) => Promise<unknown>;
  /** Own messages, after a confirmation. */
  remove?: (messageId: string) => Promise<unknown>;
  react?: (messageId: string, emoji: string, add: boolean) => void;
  reply?: (message: Message) => void;
}

export interface MessageItemProps {
  item: TimelineItem;
  nameOf: (userId: string) => string;
  actions?: MessageActions;
  resolveUrl?: (url: string) => string;
  localPreview?: (attachmentId: string) => LocalPreview | undefined;
  onRetry?: (clientMessageId: string) => void;
  onDiscard?: (clientMessageId: string) => void;
}

const STATUS_TEXT: Record<DeliveryStatus, string> = {
  pending: "Sending",
  failed: "Not sent",
  sent: "Sent",
  read: "Read",
};

const STATUS_MARK: Record<DeliveryStatus, string> = {
  pending: "\u{1F552}",
  failed: "!",
  sent: "\u2713",
  read: "\u2713\u2713",
};

export function ReadTicks({ status }: { status: DeliveryStatus }) {
  return (
    <span className={`chat-ticks chat-ticks--${status}`} data-status={status} title={STATUS_TEXT[status]}>
      <span aria-hidden="true">{STATUS_MARK[status]}</span>
      <span className="chat-visually-hidden">{STATUS_TEXT[status]}</span>
    </span>
  );
}

type Mode = "view" | "edit" | "confirm-delete" | "react";

/** One message: quote, attachments, text (or its editor, or a tombstone), time, ticks, reactions, actions. */
export function MessageItem({ item, nameOf, actions, resolveUrl, localPreview, onRetry, onDiscard }: MessageItemProps) {
  const [mode, setMode] = useState<Mode>("view");
  const message = item.message;
  const deleted = item.deleted === true;
  const live = message !== null && !deleted;
  const editedAt = item.editedAt ?? null;
  const reactions = item.reactions ?? [];
  const toolbarRef = useRef<HTMLDivElement>(null);
  const canEdit = live && item.mine && !!actions?.edit;
  const canDelete = live && item.mine && !!actions?.remove;
  const canReact = live && !!actions?.react;
  const canReply = live && !!actions?.reply;

  // Back to the toolbar after an edit, a cancelled delete or a reaction (not after a delete: the toolbar is gone).
  const backToToolbar = (name: string) => {
    setMode("view");
    requestAnimationFrame(() => toolbarRef.current?.querySelector<HTMLElement>(`[data-action="${name}"]`)?.focus());
  };

  const react = (emoji: string, add: boolean) => {
    if (message) actions?.react?.(message.id, emoji, add);
  };

  return (
    <li
      className={`chat-message ${item.mine ? "chat-message--mine" : "chat-message--theirs"}`}
      data-seq={message?.seq}
      data-message-id={message?.id}
      data-status={item.status ?? undefined}
      data-deleted={deleted || undefined}
      data-edited={editedAt ? true : undefined}
      data-editing={mode === "edit" || undefined}
    >
      <span className="chat-visually-hidden">{item.mine ? "You" : nameOf(item.senderId)}: </span>
      <div className="chat-bubble">
        {!deleted && item.replyTo && (
          <blockquote className="chat-quote">
            <span className="chat-visually-hidden">In reply to </span>
            <span className="chat-quote__who">{nameOf(item.replyTo.senderId)}</span>
            <span className="chat-visually-hidden">: </span>
            <span className="chat-quote__text">{item.replyTo.snippet || "…"}</span>
          </blockquote>
        )}
        {!deleted && item.attachments && (
          <AttachmentList attachments={item.attachments} resolveUrl={resolveUrl} localPreview={localPreview} />
        )}
        {deleted ? (
          <p className="chat-message__content chat-message__tombstone">Message deleted</p>
        ) : mode === "edit" && message ? (
          <EditForm
            initial={message.content}
            onCancel={() => backToToolbar("edit")}
            onSave={async (content) => {
              if (content === message.content) return backToToolbar("edit");
              try {
                await actions?.edit?.(message.id, content);
                backToToolbar("edit");
              } catch {
                // the modal shows why; the editor stays open with the text
              }
            }}
          />
        ) : (
          item.content.length > 0 && <p className="chat-message__content">{item.content}</p>
        )}
        <span className="chat-message__meta">
          <time dateTime={item.createdAt}>{timeLabel(item.createdAt)}</time>
          {editedAt && !deleted && (
            <span className="chat-message__edited" title={`Edited at ${timeLabel(editedAt)}`}>
              edited
            </span>
          )}
          {item.status && <ReadTicks status={item.status} />}
        </span>
      </div>
      {!deleted && (
        <ReactionBar reactions={reactions} nameOf={nameOf} onToggle={canReact ? react : undefined} />
      )}
      {mode === "react" && canReact && (
        <ReactionPicker
          reactions={reactions}
          onPick={(emoji, add) => {
            react(emoji, add);
            backToToolbar("react");
          }}
          onClose={() => backToToolbar("react")}
        />
      )}
      {mode === "confirm-delete" && live && (
        <ConfirmDelete
          onCancel={() => backToToolbar("delete")}
          onConfirm={async () => {
            try {
              await actions?.remove?.(message!.id);
            } catch {
              // shown by the modal
            }
            setMode("view");
          }}
        />
      )}
      {live && mode !== "edit" && mode !== "confirm-delete" && (canReact || canReply || canEdit || canDelete) && (
        <div className="chat-message__toolbar" role="group" aria-label="Message actions" ref={toolbarRef}>
          {canReact && (
            <button
              type="button"
              className="chat-tool"
              data-action="react"
              aria-label="Add reaction"
              aria-expanded={mode === "react"}
              title="Add reaction"
              onClick={() => setMode(mode === "react" ? "view" : "react")}
            >
              <Icon name="smile" />
            </button>
          )}
          {canReply && (
            <button type="button" className="chat-tool" data-action="reply" aria-label="Reply" title="Reply" onClick={() => actions?.reply?.(message!)}>
              <Icon name="reply" />
            </button>
          )}
          {canEdit && (
            <button type="button" className="chat-tool" data-action="edit" aria-label="Edit message" title="Edit" onClick={() => setMode("edit")}>
              <Icon name="edit" />
            </button>
          )}
          {canDelete && (
            <button
              type="button"
              className="chat-tool"
              data-action="delete"
              aria-label="Delete message"
              title="Delete"
              onClick={() => setMode("confirm-delete")}
            >
              <Icon name="trash" />
            </button>
          )}
        </div>
      )}
      {item.pending?.status === "failed" && (
        <div className="chat-message__actions">
          <span className="chat-message__error">{sendErrorText(item.pending.error)}</span>
          <button type="button" className="chat-link-button" onClick={() => onRetry?.(item.pending!.clientMessageId)}>
            Retry
          </button>
          <button type="button" className="chat-link-button" onClick={() => onDiscard?.(item.pending!.clientMessageId)}>
            Delete
          </button>
        </div>
      )}
    </li>
  );
}

/** Inline editor: Enter saves, Shift+Enter starts a new line, Escape cancels. */
function EditForm({ initial, onSave, onCancel }: { initial: string; onSave: (content: string) => void; onCancel: () => void }) {
  const [text, setText] = useState(initial);
  const [saving, setSaving] = useState(false);
  const ref = useRef<HTMLTextAreaElement>(null);
  const id = useId();
  useEscapeKey(ref, onCancel);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.focus();
    el.setSelectionRange(el.value.length, el.value.length);
  }, []);
  const tooLong = codePointLength(text) > MAX_CONTENT_CODE_POINTS;
  const blank = text.trim().length === 0;

  const save = async () => {
    if (blank || tooLong || saving) return;
    setSaving(true);
    try {
      await onSave(text);
    } finally {
      setSaving(false);
    }
  };
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    void save();
  };
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void save();
    }
  };

  return (
    <form className="chat-edit" onSubmit={onSubmit}>
      <label htmlFor={`${id}-edit`} className="chat-visually-hidden">
        Edit message
      </label>
      <textarea
        id={`${id}-edit`}
        ref={ref}
        className="chat-edit__input"
        value={text}
        rows={2}
        aria-describedby={`${id}-edit-hint`}
        aria-invalid={tooLong || undefined}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
      />
      <p id={`${id}-edit-hint`} className="chat-edit__hint">
        {tooLong ? `Too long (limit ${MAX_CONTENT_CODE_POINTS}).` : "Enter to save, Escape to cancel."}
      </p>
      <div className="chat-edit__buttons">
        <button type="button" className="chat-link-button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="chat-small-button" disabled={blank || tooLong || saving}>
          Save
        </button>
      </div>
    </form>
  );
}

function ConfirmDelete({ onConfirm, onCancel }: { onConfirm: () => void; onCancel: () => void }) {
  const ref = useRef<HTMLDivElement>(null);
  const id = useId();
  useEscapeKey(ref, onCancel);
  useEffect(() => {
    ref.current?.querySelector<HTMLElement>("[data-cancel]")?.focus();
  }, []);
  return (
    <div className="chat-confirm" role="group" aria-labelledby={`${id}-q`} ref={ref}>
      <span id={`${id}-q`}>Delete this message?</span>
      <button type="button" className="chat-small-button chat-small-button--danger" onClick={onConfirm}>
        Delete
      </button>
      <button type="button" className="chat-link-button" data-cancel onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
}
