"""Node-local state: which sockets each user has here, who views which chat, who is typing.

Nothing here is shared between nodes; the periodic cleanup drops what went idle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TYPING_EXPIRES_MS = 8_000


@dataclass
class ViewerRegistry:
    sids_by_user: dict[str, set[str]] = field(default_factory=dict)
    user_by_sid: dict[str, str] = field(default_factory=dict)
    chats_by_sid: dict[str, set[str]] = field(default_factory=dict)
    viewers: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    typing_until: dict[tuple[str, str], int] = field(default_factory=dict)

    def add_socket(self, user_id: str, sid: str) -> None:
        self.sids_by_user.setdefault(user_id, set()).add(sid)
        self.user_by_sid[sid] = user_id

    def remove_socket(self, sid: str) -> list[str]:
        """Forget a socket; return the chats its user no longer views from this node."""
        user_id = self.user_by_sid.get(sid)
        if user_id is None:
            return []
        left = [chat_id for chat_id in list(self.chats_by_sid.get(sid, ())) if self.leave(chat_id, sid)]
        self.chats_by_sid.pop(sid, None)
        del self.user_by_sid[sid]
        sids = self.sids_by_user.get(user_id)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                del self.sids_by_user[user_id]
        return left

    def local_sids(self, user_id: str) -> list[str]:
        return list(self.sids_by_user.get(user_id, ()))

    def join(self, chat_id: str, sid: str) -> bool:
        """Mark the socket as viewing the chat; True when it is the user's first socket on it."""
        user_id = self.user_by_sid[sid]
        by_user = self.viewers.setdefault(chat_id, {})
        sids = by_user.setdefault(user_id, set())
        first = not sids
        sids.add(sid)
        self.chats_by_sid.setdefault(sid, set()).add(chat_id)
        return first

    def leave(self, chat_id: str, sid: str) -> bool:
        """The socket stops viewing the chat; True when it was the user's last socket on it."""
        user_id = self.user_by_sid.get(sid)
        chats = self.chats_by_sid.get(sid)
        if chats is not None:
            chats.discard(chat_id)
        by_user = self.viewers.get(chat_id)
        if user_id is None or by_user is None or sid not in by_user.get(user_id, ()):
            return False
        sids = by_user[user_id]
        sids.discard(sid)
        if sids:
            return False
        del by_user[user_id]
        if not by_user:
            del self.viewers[chat_id]
        return True

    def is_viewing(self, chat_id: str, sid: str) -> bool:
        return chat_id in self.chats_by_sid.get(sid, ())

    def set_typing(self, chat_id: str, user_id: str, is_typing: bool, now_ms: int) -> bool:
        """Record typing state; True when it changed (start, or stop of an active one)."""
        key = (chat_id, user_id)
        if is_typing:
            was = key in self.typing_until
            self.typing_until[key] = now_ms + TYPING_EXPIRES_MS
            return not was
        return self.typing_until.pop(key, None) is not None

    def expired_typing(self, now_ms: int) -> list[tuple[str, str]]:
        """Drop and return (chat, user) typing entries that outlived their expiry."""
        expired = [key for key, until in self.typing_until.items() if until <= now_ms]
        for key in expired:
            del self.typing_until[key]
        return expired

    def prune(self) -> int:
        """Drop empty containers left behind; return how many were dropped."""
        empty_chats = [chat_id for chat_id, by_user in self.viewers.items() if not by_user]
        for chat_id in empty_chats:
            del self.viewers[chat_id]
        empty_sids = [sid for sid, chats in self.chats_by_sid.items() if not chats]
        for sid in empty_sids:
            del self.chats_by_sid[sid]
        return len(empty_chats) + len(empty_sids)
