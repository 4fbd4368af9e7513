"""What an edit, a delete or a reaction does to a message: the rules, once, as a pure function.

The SQLite store applies them inside its transaction; the DynamoDB store writes them as the
conditions of one UpdateItem and, when a condition fails, asks `apply_change` which rule it was.
"""

from __future__ import annotations

from dataclasses import replace

from .errors import Forbidden, Invalid
from .models import Message, MessageChange, Reaction
from .ports import MAX_REACTION_KINDS


def apply_change(message: Message, change: MessageChange, seq: int, now_ms: int) -> Message | None:
    """The message after the change, which takes `seq`; None when it would change nothing.

    Raises Forbidden (edit/delete by someone other than the sender; an edit outside the edit
    window) or Invalid (an edit or an added reaction on a deleted message; too many emojis)."""
    if change.kind in ("edit", "delete") and change.user_id != message.sender_id:
        raise Forbidden(f"only the sender can {change.kind} a message")
    if change.kind == "edit":
        assert change.content is not None
        if message.deleted:
            raise Invalid("the message was deleted")
        if change.created_after_ms is not None and message.created_at_ms < change.created_after_ms:
            raise Forbidden("edit window passed")
        if change.content == message.content:
            return None
        return replace(message, content=change.content, edited_at_ms=now_ms, change_seq=seq)
    if change.kind == "delete":
        if message.deleted:
            return None
        return replace(
            message, content="", deleted=True, reply_to=None, attachments=(), reactions=(), change_seq=seq
        )
    assert change.emoji is not None
    reactions = {r.emoji: r.user_ids for r in message.reactions}
    users = reactions.get(change.emoji, ())
    if change.kind == "react":
        if message.deleted:
            raise Invalid("the message was deleted")
        if change.user_id in users:
            return None
        if change.emoji not in reactions and len(reactions) >= MAX_REACTION_KINDS:
            raise Invalid(f"a message carries at most {MAX_REACTION_KINDS} different reactions")
        reactions[change.emoji] = (*users, change.user_id)
    else:
        if change.user_id not in users:
            return None
        left = tuple(u for u in users if u != change.user_id)
        if left:
            reactions[change.emoji] = left
        else:
            del reactions[change.emoji]
    return replace(message, reactions=reactions_in_order(reactions), change_seq=seq)


def reactions_in_order(by_emoji: dict[str, tuple[str, ...]] | dict[str, list[str]]) -> tuple[Reaction, ...]:
    """Reactions as a message carries them: most reacted first (ties by emoji), users sorted."""
    ordered = sorted(((e, sorted(u)) for e, u in by_emoji.items() if u), key=lambda item: (-len(item[1]), item[0]))
    return tuple(Reaction(emoji, tuple(users)) for emoji, users in ordered)
