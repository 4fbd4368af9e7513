"""Who may change a group, and what each change becomes: pure rules over a chat as read.

The service reads the chat, asks one of these for the `ChatUpdate` to store (or for None when
nothing would change), and stores it only if the chat is still at the version it read; when
another change came first it reads again and asks again, so every rule is checked against the
state it changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import Forbidden, Invalid, NotFound
from .models import Chat, ChatUpdate
from .payloads import MAX_ADMINS, MAX_GROUP_MEMBERS


def _group(chat: Chat) -> None:
    if chat.type != "group":
        raise Invalid("the members of a direct chat cannot change")


def _admin(chat: Chat, user_id: str) -> None:
    _group(chat)
    if user_id not in chat.acting_admins:
        raise Forbidden("only the group's admins can do this")


def add(chat: Chat, actor: str, user_ids: Sequence[str], *, full_history: bool, now_ms: int) -> ChatUpdate | None:
    _admin(chat, actor)
    new = tuple(u for u in dict.fromkeys(user_ids) if u not in chat.members)
    if not new:
        return None
    if len(chat.members) + len(new) > MAX_GROUP_MEMBERS:
        raise Invalid(f"a group has at most {MAX_GROUP_MEMBERS} members")
    return ChatUpdate(
        chat.version, now_ms, add=new, admins=_keep_admins(chat, chat.acting_admins), full_history=full_history
    )


def remove(chat: Chat, actor: str, user_id: str, *, now_ms: int) -> ChatUpdate:
    _admin(chat, actor)
    if user_id not in chat.members:
        raise NotFound("that user is not a member of the chat")
    return _without(chat, user_id, now_ms)


def leave(chat: Chat, user_id: str, *, now_ms: int) -> ChatUpdate:
    _group(chat)
    if user_id not in chat.members:
        raise NotFound("chat not found")
    return _without(chat, user_id, now_ms)


def _without(chat: Chat, user_id: str, now_ms: int) -> ChatUpdate:
    """A member goes. The admins are never left empty while the group has members: when the
    last one goes, the member who has been in the group longest takes over."""
    left = [m for m in chat.members if m != user_id]
    admins = [a for a in chat.acting_admins if a != user_id]
    if not admins and left:
        admins = left[:1]  # the longest in the group: members keep the order they joined in
    return ChatUpdate(chat.version, now_ms, remove=(user_id,), admins=tuple(admins))


def update(
    chat: Chat, actor: str, *, title: str | None, set_title: bool, admins: Sequence[str] | None, now_ms: int
) -> ChatUpdate | None:
    _admin(chat, actor)
    new_admins: tuple[str, ...] | None = None
    if admins is not None:
        new_admins = tuple(dict.fromkeys(admins))
        if not 1 <= len(new_admins) <= MAX_ADMINS:
            raise Invalid(f"a group has 1 to {MAX_ADMINS} admins")
        strangers = [a for a in new_admins if a not in chat.members]
        if strangers:
            raise Invalid("admins must be members of the group")
        if new_admins == chat.acting_admins:
            new_admins = None
    if set_title and title == chat.title:
        set_title = False
    if new_admins is None and not set_title:
        return None
    if new_admins is None:
        new_admins = _keep_admins(chat, chat.acting_admins)
    return ChatUpdate(chat.version, now_ms, title=title, set_title=set_title, admins=new_admins)


def _keep_admins(chat: Chat, admins: tuple[str, ...]) -> tuple[str, ...] | None:
    """A group stored before admins existed gets its acting admin stored with its first change."""
    return admins if not chat.admins else None


def change_shown(kind: str, by: str, **fields: Any) -> dict[str, Any]:
    """The `change` of a chat_updated event."""
    return {"type": kind, "by": by, **fields}
