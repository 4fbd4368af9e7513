import { type FormEvent, useEffect, useId, useState } from "react";
import type { Chat } from "../chat/protocol";

export interface MembersPanelProps {
  /** The group. */
  chat: Chat;
  me: string | null;
  nameOf: (userId: string) => string;
  /** Each resolves when done and rejects when refused (the caller says why). */
  onAdd: (userId: string) => Promise<unknown>;
  onRemove: (userId: string) => Promise<unknown>;
  onRename: (title: string | null) => Promise<unknown>;
  onLeave: () => Promise<unknown>;
  id?: string;
}

const USER_ID = /^[A-Za-z0-9_.@-]{1,128}$/;

/**
 * A group's members, admins marked. Admins rename the group, add a member by user id and
 * remove members; anyone leaves (after a confirmation).
 */
export function MembersPanel({ chat, me, nameOf, onAdd, onRemove, onRename, onLeave, id }: MembersPanelProps) {
  const admins = chat.admins ?? [];
  const isAdmin = me !== null && admins.includes(me);
  const formId = useId();
  const [title, setTitle] = useState(chat.title ?? "");
  const [newMember, setNewMember] = useState("");
  const [busy, setBusy] = useState(false);
  const [confirmLeave, setConfirmLeave] = useState(false);
  // Renamed elsewhere (another admin, another tab): the field follows.
  useEffect(() => setTitle(chat.title ?? ""), [chat.title]);
  const memberInvalid = newMember.trim() !== "" && !USER_ID.test(newMember.trim());

  const run = (action: () => Promise<unknown>, after?: () => void) => {
    setBusy(true);
    action().then(
      () => {
        setBusy(false);
        after?.();
      },
      () => setBusy(false),
    );
  };

  const rename = (event: FormEvent) => {
    event.preventDefault();
    const next = title.trim();
    if (next === (chat.title ?? "")) return;
    run(() => onRename(next === "" ? null : next));
  };

  const add = (event: FormEvent) => {
    event.preventDefault();
    const userId = newMember.trim();
    if (!USER_ID.test(userId)) return;
    run(() => onAdd(userId), () => setNewMember(""));
  };

  // Admins first, then by id; the user among them as "You".
  const members = [...chat.members].sort((a, b) => Number(admins.includes(b)) - Number(admins.includes(a)) || a.localeCompare(b));
  return (
    <section id={id} className="chat-members" aria-label="Members" aria-busy={busy || undefined}>
      {isAdmin && (
        <form className="chat-members__form" onSubmit={rename}>
          <label htmlFor={`${formId}-title`} className="chat-members__label">
            Group name
          </label>
          <input
            id={`${formId}-title`}
            className="chat-members__input"
            value={title}
            maxLength={200}
            onChange={(e) => setTitle(e.target.value)}
            autoComplete="off"
          />
          <button type="submit" className="chat-small-button" disabled={busy || title.trim() === (chat.title ?? "")}>
            Rename
          </button>
        </form>
      )}
      <h3 className="chat-members__heading">
        {chat.members.length} {chat.members.length === 1 ? "member" : "members"}
      </h3>
      <ul className="chat-members__list">
        {members.map((userId) => (
          <li key={userId} className="chat-members__member" data-user-id={userId}>
            <span className="chat-members__name">{userId === me ? "You" : nameOf(userId)}</span>
            {admins.includes(userId) && <span className="chat-members__role">admin</span>}
            {isAdmin && userId !== me && (
              <button
                type="button"
                className="chat-link-button chat-members__remove"
                aria-label={`Remove ${nameOf(userId)}`}
                disabled={busy}
                onClick={() => run(() => onRemove(userId))}
              >
                Remove
              </button>
            )}
          </li>
        ))}
      </ul>
      {isAdmin && (
        <form className="chat-members__form" onSubmit={add}>
          <label htmlFor={`${formId}-add`} className="chat-members__label">
            Add a member by user id
          </label>
          <input
            id={`${formId}-add`}
            className="chat-members__input"
            value={newMember}
            onChange={(e) => setNewMember(e.target.value)}
            aria-invalid={memberInvalid || undefined}
            aria-describedby={memberInvalid ? `${formId}-add-error` : undefined}
            autoComplete="off"
          />
          <button type="submit" className="chat-small-button" disabled={busy || !USER_ID.test(newMember.trim())}>
            Add
          </button>
          {memberInvalid && (
            <p id={`${formId}-add-error`} className="chat-members__error">
              Letters, digits and _ . @ - only.
            </p>
          )}
        </form>
      )}
      {confirmLeave ? (
        <div className="chat-confirm" role="group" aria-label="Leave this group?">
          <span>Leave this group?</span>
          <button type="button" className="chat-small-button chat-small-button--danger" disabled={busy} onClick={() => run(onLeave)}>
            Leave
          </button>
          <button type="button" className="chat-link-button" onClick={() => setConfirmLeave(false)}>
            Cancel
          </button>
        </div>
      ) : (
        <button type="button" className="chat-link-button chat-members__leave" onClick={() => setConfirmLeave(true)}>
          Leave group
        </button>
      )}
    </section>
  );
}
