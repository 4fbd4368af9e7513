"""Domain objects in their JSON wire shape (camelCase, ISO times), as PROTOCOL.md defines them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .attachments.blobs import UploadSlot
from .clock import iso_ms
from .models import Attachment, Chat, ChatView, Message, MessagePage, Presence, Reaction

Json = dict[str, Any]
UrlFor = Callable[[Attachment], str]
"""The signed, expiring URL members fetch an attachment with."""

REACTION_USERS_SHOWN = 20


def message(m: Message, viewer: str | None = None, url_for: UrlFor | None = None) -> Json:
    """A message as the protocol shows it. `viewer`: the one user the answer is for (their
    reactions carry `mine`); None for an event every member gets alike."""
    return {
        "id": m.id,
        "chatId": m.chat_id,
        "seq": m.seq,
        "senderId": m.sender_id,
        "content": m.content,
        "clientMessageId": m.client_message_id,
        "createdAt": iso_ms(m.created_at_ms),
        "changeSeq": m.change_seq,
        "editedAt": iso_ms(m.edited_at_ms) if m.edited_at_ms is not None else None,
        "deleted": m.deleted,
        "replyTo": (
            {"id": m.reply_to.id, "senderId": m.reply_to.sender_id, "snippet": m.reply_to.snippet}
            if m.reply_to is not None
            else None
        ),
        "reactions": [reaction(r, viewer) for r in m.reactions],
        "attachments": [attachment(a, url_for) for a in m.attachments],
    }


def reaction(r: Reaction, viewer: str | None) -> Json:
    shaped: Json = {"emoji": r.emoji, "count": len(r.user_ids), "userIds": list(r.user_ids[:REACTION_USERS_SHOWN])}
    if viewer is not None:
        shaped["mine"] = viewer in r.user_ids
    return shaped


def attachment(a: Attachment, url_for: UrlFor | None) -> Json:
    shaped: Json = {
        "id": a.id,
        "name": a.name,
        "contentType": a.content_type,
        "size": a.size,
        "url": url_for(a) if url_for is not None else None,
    }
    if a.width is not None and a.height is not None:
        shaped["width"] = a.width
        shaped["height"] = a.height
    return shaped


def chat(view: ChatView, viewer: str | None = None, url_for: UrlFor | None = None) -> Json:
    """A chat as one member sees it, with their unread count."""
    shaped = chat_shared(view.chat, url_for, viewer)
    shaped["unreadCount"] = view.unread_count
    return shaped


def chat_shared(c: Chat, url_for: UrlFor | None = None, viewer: str | None = None) -> Json:
    """A chat as every member sees it (`chat_updated`): no unread count. `viewer`: the one user
    it is for; their joined seq hides a last message from before they joined."""
    last = c.last_message
    if last is not None and viewer is not None and not c.can_see(viewer, last.seq):
        last = None
    return {
        "id": c.id,
        "type": c.type,
        "title": c.title,
        "topic": c.topic,
        "members": list(c.members),
        "admins": list(c.acting_admins),
        "blocked": bool(c.blocked_by),
        "version": c.version,
        "createdAt": iso_ms(c.created_at_ms),
        "lastSeq": c.last_seq,
        "lastMessage": message(last, viewer, url_for) if last else None,
        "lastActivityAt": iso_ms(c.last_activity_ms),
        "readSeqs": dict(c.read_seqs),
    }


def page(p: MessagePage, viewer: str | None = None, url_for: UrlFor | None = None) -> Json:
    return {
        "messages": [message(m, viewer, url_for) for m in p.messages],
        "updates": [message(m, viewer, url_for) for m in p.updates],
        "hasMore": p.has_more,
    }


def presence(p: Presence) -> Json:
    return {
        "userId": p.user_id,
        "online": p.online,
        "lastSeen": iso_ms(p.last_seen_ms) if p.last_seen_ms is not None else None,
    }


def upload_offer(attachment_id: str, slot: UploadSlot) -> Json:
    return {
        "attachmentId": attachment_id,
        "upload": {"method": slot.method, "url": slot.url, "fields": dict(slot.fields), "headers": dict(slot.headers)},
        "expiresAt": iso_ms(slot.expires_at_ms),
    }
