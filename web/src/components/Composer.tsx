import { type FormEvent, type KeyboardEvent, type RefObject, useEffect, useId, useRef, useState } from "react";
import { codePointLength, MAX_CONTENT_CODE_POINTS } from "../chat/protocol";
import type { UploadStatus } from "../chat/reducer";
import { fileSizeLabel } from "./format";
import { Icon } from "./icons";
import { useEscapeKey } from "./useEscapeKey";

/** A file of the draft: uploading (with progress), uploaded, or failed. */
export interface DraftAttachment {
  /** The upload's id (`attach` returned it). */
  id: string;
  name: string;
  size: number;
  loaded: number;
  status: UploadStatus;
  /** Why it failed, for the user. */
  error: string | null;
  /** A local object URL of an image, for the thumbnail. */
  previewUrl: string | null;
}

export interface ComposerProps {
  /** Returns false when the message was not taken (the text then stays). */
  onSend: (content: string) => boolean | void;
  onTypingChange?: (isTyping: boolean) => void;
  /** Nothing can be sent yet (the chat is being opened): the input still takes text, and a message
   * sent meanwhile (Enter, Send) goes as soon as this turns false. */
  disabled?: boolean;
  /** Nothing can be written at all (a blocked chat, a group one was removed from): the input is disabled too. */
  locked?: boolean;
  placeholder?: string;
  textareaRef?: RefObject<HTMLTextAreaElement | null>;
  /** The message being answered, quoted above the input; Escape or its button cancels. */
  replyTo?: { name: string; snippet: string } | null;
  onCancelReply?: () => void;
  attachments?: DraftAttachment[];
  /** Shows the "Attach a photo" button; called with the file picked. */
  onAttach?: (file: File) => void;
  /** Cancels an upload, or takes an uploaded or failed file out of the draft. */
  onRemoveAttachment?: (id: string) => void;
  /** The file picker's types (default: the images the server takes by default). */
  accept?: string;
}

const TYPING_IDLE_MS = 3000;
const NO_ATTACHMENTS: DraftAttachment[] = [];
export const IMAGE_TYPES = "image/png,image/jpeg,image/gif,image/webp";

/** Enter sends, Shift+Enter starts a new line; at most 4000 code points; a photo may go with it. */
export function Composer({
  onSend,
  onTypingChange,
  disabled: notReady,
  locked = false,
  placeholder: placeholderProp,
  textareaRef,
  replyTo,
  onCancelReply,
  attachments = NO_ATTACHMENTS,
  onAttach,
  onRemoveAttachment,
  accept = IMAGE_TYPES,
}: ComposerProps) {
  const disabled = notReady || locked;
  const placeholder = placeholderProp ?? "Write a message…";
  const [text, setText] = useState("");
  const idle = useRef<ReturnType<typeof setTimeout> | null>(null);
  const ownRef = useRef<HTMLTextAreaElement>(null);
  const inputRef = textareaRef ?? ownRef;
  const fileRef = useRef<HTMLInputElement>(null);
  const id = useId();
  const length = codePointLength(text);
  const tooLong = length > MAX_CONTENT_CODE_POINTS;
  const blank = text.trim().length === 0;
  const uploading = attachments.some((a) => a.status === "requesting" || a.status === "uploading");
  const failed = attachments.some((a) => a.status === "failed");
  const ready = attachments.some((a) => a.status === "uploaded");
  const complete = !tooLong && !uploading && !failed && (!blank || ready);
  const canSend = complete && !disabled;
  // Sent while the chat is still being opened: it goes when the chat is open (the text stays
  // editable until then; what is in the box at that moment is what is sent).
  const canQueue = complete && !locked && !!notReady;
  const [queued, setQueued] = useState(false);
  useEscapeKey(inputRef, replyTo ? onCancelReply : null);

  const stopTyping = () => {
    if (idle.current) clearTimeout(idle.current);
    idle.current = null;
    onTypingChange?.(false);
  };

  const submit = () => {
    if (canQueue) {
      setQueued(true);
      return;
    }
    if (!canSend) return;
    if (onSend(text) === false) return;
    setText("");
    stopTyping();
  };

  useEffect(() => {
    if (!queued || notReady) return;
    setQueued(false);
    submit();
    // submit is this render's: it sends the text in the box now that the chat is open
  }, [queued, notReady]);

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    submit();
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      submit();
    }
  };

  const onChange = (value: string) => {
    setText(value);
    if (value.trim().length === 0) {
      stopTyping();
      return;
    }
    onTypingChange?.(true);
    if (idle.current) clearTimeout(idle.current);
    idle.current = setTimeout(stopTyping, TYPING_IDLE_MS);
  };

  const remaining = MAX_CONTENT_CODE_POINTS - length;
  const hint = tooLong
    ? `Too long by ${-remaining} characters (limit ${MAX_CONTENT_CODE_POINTS}).`
    : queued && notReady && !locked
      ? "Opening the chat… Your message goes as soon as it is open."
      : uploading
      ? "Uploading… Send when it is done."
      : remaining <= 200
        ? `${remaining} characters left.`
        : null;
  return (
    <form className={`chat-composer${onAttach ? " chat-composer--attach" : ""}`} onSubmit={onSubmit}>
      {replyTo && (
        <div className="chat-composer__reply" data-testid="reply-preview">
          <div className="chat-composer__reply-text">
            <span className="chat-composer__reply-who">Replying to {replyTo.name}</span>
            <span className="chat-composer__reply-snippet">{replyTo.snippet || "…"}</span>
          </div>
          <button type="button" className="chat-tool" aria-label="Cancel reply" title="Cancel reply" onClick={onCancelReply}>
            <span aria-hidden="true">×</span>
          </button>
        </div>
      )}
      {attachments.length > 0 && (
        <ul className="chat-drafts" aria-label="Attachments to send">
          {attachments.map((a) => {
            const busy = a.status === "requesting" || a.status === "uploading";
            return (
              <li key={a.id} className="chat-draft" data-status={a.status}>
                {a.previewUrl ? (
                  <img className="chat-draft__thumb" src={a.previewUrl} alt="" width={48} height={48} />
                ) : (
                  <span className="chat-draft__thumb chat-draft__thumb--file" aria-hidden="true">
                    <Icon name="paperclip" />
                  </span>
                )}
                <div className="chat-draft__info">
                  <span className="chat-draft__name">{a.name}</span>
                  {busy ? (
                    <progress className="chat-draft__progress" max={Math.max(1, a.size)} value={a.loaded} aria-label={`Uploading ${a.name}`} />
                  ) : a.status === "failed" ? (
                    <span className="chat-draft__error" role="alert">
                      {a.error ?? "Upload failed."}
                    </span>
                  ) : (
                    <span className="chat-draft__size">Ready, {fileSizeLabel(a.size)}</span>
                  )}
                </div>
                <button
                  type="button"
                  className="chat-tool"
                  aria-label={busy ? `Cancel upload of ${a.name}` : `Remove ${a.name}`}
                  title={busy ? "Cancel upload" : "Remove"}
                  onClick={() => onRemoveAttachment?.(a.id)}
                >
                  <span aria-hidden="true">×</span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {onAttach && (
        <>
          <input
            ref={fileRef}
            type="file"
            accept={accept}
            hidden
            tabIndex={-1}
            data-testid="attach-input"
            onChange={(e) => {
              const file = e.target.files?.[0];
              e.target.value = "";
              if (file) onAttach(file);
            }}
          />
          <button
            type="button"
            className="chat-composer__attach"
            aria-label="Attach a photo"
            title="Attach a photo"
            disabled={disabled}
            onClick={() => fileRef.current?.click()}
          >
            <Icon name="paperclip" size={20} />
          </button>
        </>
      )}
      <label htmlFor={`${id}-input`} className="chat-visually-hidden">
        Message
      </label>
      <textarea
        id={`${id}-input`}
        ref={inputRef}
        className="chat-composer__input"
        value={text}
        rows={1}
        placeholder={placeholder}
        disabled={locked}
        aria-describedby={`${id}-hint`}
        aria-invalid={tooLong || undefined}
        onChange={(e) => onChange(e.target.value)}
        onKeyDown={onKeyDown}
        onBlur={stopTyping}
      />
      <button type="submit" className="chat-composer__send" disabled={!(canSend || canQueue)}>
        Send
      </button>
      <p id={`${id}-hint`} className={`chat-composer__hint${tooLong ? " chat-composer__hint--error" : ""}`} aria-live="polite">
        {hint ?? <span className="chat-visually-hidden">Enter to send, Shift+Enter for a new line.</span>}
      </p>
    </form>
  );
}
