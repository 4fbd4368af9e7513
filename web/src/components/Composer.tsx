import { type FormEvent, type KeyboardEvent, type RefObject, useId, useRef, useState } from "react";
import { codePointLength, MAX_CONTENT_CODE_POINTS } from "../chat/protocol";

export interface ComposerProps {
  /** Returns false when the message was not taken (the text then stays). */
  onSend: (content: string) => boolean | void;
  onTypingChange?: (isTyping: boolean) => void;
  disabled?: boolean;
  placeholder?: string;
  textareaRef?: RefObject<HTMLTextAreaElement | null>;
}

const TYPING_IDLE_MS = 3000;

/** Enter sends, Shift+Enter starts a new line; at most 4000 code points. */
export function Composer({ onSend, onTypingChange, disabled, placeholder = "Write a message…", textareaRef }: ComposerProps) {
  const [text, setText] = useState("");
  const idle = useRef<ReturnType<typeof setTimeout> | null>(null);
  const id = useId();
  const length = codePointLength(text);
  const tooLong = length > MAX_CONTENT_CODE_POINTS;
  const blank = text.trim().length === 0;

  const stopTyping = () => {
    if (idle.current) clearTimeout(idle.current);
    idle.current = null;
    onTypingChange?.(false);
  };

  const submit = () => {
    if (blank || tooLong || disabled) return;
    if (onSend(text) === false) return;
    setText("");
    stopTyping();
  };

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
  return (
    <form className="chat-composer" onSubmit={onSubmit}>
      <label htmlFor={`${id}-input`} className="chat-visually-hidden">
        Message
      </label>
      <textarea
        id={`${id}-input`}
        ref={textareaRef}
        className="chat-composer__input"
        value={text}
        rows={1}
        placeholder={placeholder}
        aria-describedby={`${id}-hint`}
        aria-invalid={tooLong || undefined}
        onChange={(e) => onChange(e.target.value)}
        onKeyDown={onKeyDown}
        onBlur={stopTyping}
      />
      <button type="submit" className="chat-composer__send" disabled={blank || tooLong || disabled}>
        Send
      </button>
      <p id={`${id}-hint`} className={`chat-composer__hint${tooLong ? " chat-composer__hint--error" : ""}`} aria-live="polite">
        {tooLong
          ? `Too long by ${-remaining} characters (limit ${MAX_CONTENT_CODE_POINTS}).`
          : remaining <= 200
            ? `${remaining} characters left.`
            : <span className="chat-visually-hidden">Enter to send, Shift+Enter for a new line.</span>}
      </p>
    </form>
  );
}
