"""Domain objects in their JSON wire shape (camelCase, ISO times), as PROTOCOL.md defines them."""

from __future__ import annotations

from typing import Any

from .clock import iso_ms
from .models import ChatView, Message, MessagePage, Presence

Json = dict[str, Any]


def message(m: Message) -> Json:
    return {
        "id": m.id,
        "chatId": m.chat_id,
        "seq": m.seq,
        "senderId": m.sender_id,
        "content": m.content,
        "clientMessageId": m.client_message_id,
        "createdAt": iso_ms(m.created_at_ms),
    }


def chat(view: ChatView) -> Json:
    c = view.chat
    return {
        "id": c.id,
        "type": c.type,
        "title": c.title,
        "members": list(c.members),
        "createdAt": iso_ms(c.created_at_ms),
        "lastSeq": c.last_seq,
        "lastMessage": message(c.last_message) if c.last_message else None,
        "unreadCount": view.unread_count,
        "lastActivityAt": iso_ms(c.last_activity_ms),
        "readSeqs": dict(c.read_seqs),
    }


def page(p: MessagePage) -> Json:
    return {"messages": [message(m) for m in p.messages], "hasMore": p.has_more}


def presence(p: Presence) -> Json:
    return {
        "userId": p.user_id,
        "online": p.online,
        "lastSeen": iso_ms(p.last_seen_ms) if p.last_seen_ms is not None else None,
    }
