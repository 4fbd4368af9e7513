import { useEffect, useRef } from "react";
import type { Reaction } from "../chat/protocol";
import { useEscapeKey } from "./useEscapeKey";

/** The quick reactions the picker offers. */
export const QUICK_REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🎉"];

export interface ReactionBarProps {
  reactions: Reaction[];
  /** Toggle the user's reaction; without it the counts are shown read-only. */
  onToggle?: (emoji: string, add: boolean) => void;
  /** Display names, for the tooltip of who reacted. */
  nameOf?: (userId: string) => string;
}

/** A message's reactions with their counts; the user's own are highlighted (and pressed). */
export function ReactionBar({ reactions, onToggle, nameOf = (u) => u }: ReactionBarProps) {
  if (reactions.length === 0) return null;
  return (
    <ul className="chat-reactions" aria-label="Reactions">
      {reactions.map((r) => {
        const who = r.userIds.map(nameOf).join(", ") + (r.count > r.userIds.length ? ` and ${r.count - r.userIds.length} more` : "");
        const content = (
          <>
            <span aria-hidden="true">{r.emoji}</span> <span className="chat-reaction__count">{r.count}</span>
          </>
        );
        return (
          <li key={r.emoji}>
            {onToggle ? (
              <button
                type="button"
                className={`chat-reaction${r.mine ? " chat-reaction--mine" : ""}`}
                aria-pressed={Boolean(r.mine)}
                aria-label={`${r.emoji} ${r.count}`}
                title={who}
                onClick={() => onToggle(r.emoji, !r.mine)}
              >
                {content}
              </button>
            ) : (
              <span className={`chat-reaction${r.mine ? " chat-reaction--mine" : ""}`} title={who} aria-label={`${r.emoji} ${r.count}`} role="img">
                {content}
              </span>
            )}
          </li>
        );
      })}
    </ul>
  );
}

export interface ReactionPickerProps {
  reactions: Reaction[];
  onPick: (emoji: string, add: boolean) => void;
  onClose: () => void;
}

/** The quick reactions, the user's own pressed; Escape closes it. */
export function ReactionPicker({ reactions, onPick, onClose }: ReactionPickerProps) {
  const ref = useRef<HTMLDivElement>(null);
  useEscapeKey(ref, onClose);
  useEffect(() => {
    ref.current?.querySelector("button")?.focus();
  }, []);
  const mine = (emoji: string) => reactions.some((r) => r.emoji === emoji && r.mine);
  return (
    <div className="chat-reaction-picker" role="group" aria-label="Add a reaction" ref={ref}>
      {QUICK_REACTIONS.map((emoji) => (
        <button
          key={emoji}
          type="button"
          className={`chat-reaction-picker__emoji${mine(emoji) ? " chat-reaction--mine" : ""}`}
          aria-label={`React with ${emoji}`}
          aria-pressed={mine(emoji)}
          onClick={() => onPick(emoji, !mine(emoji))}
        >
          {emoji}
        </button>
      ))}
    </div>
  );
}
