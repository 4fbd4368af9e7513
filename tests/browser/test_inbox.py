"""Conversations (protocol 1.1) in Chromium against a real server: a seller's inbox with two
buyers writing about two listings (topics), kept live; blocking; a group's members panel.

The seller's page is the demo with `?user=` alone (the inbox, no chat of its own); a buyer's is
`?user=&peer=&topic=`, the direct chat about that listing opened at once.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, Locator, expect

from tests.browser.conftest import ARTIFACTS, UI_TIMEOUT_MS, ChatPage, new_user
from tests.browser.test_accessibility import assert_accessible
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

BLOCKED_TEXT = "You can't message this person."

OpenPage = Callable[..., ChatPage]


@pytest.fixture
def open_page(browser: Browser, chat_server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[OpenPage]:
    """`open_page(user, peer=None, topic=None)`: the demo as `user`, connected.

    Without `peer` the page is the inbox alone; with one, the direct chat (about `topic`) is open.
    """
    pages: list[ChatPage] = []

    def _open(user: str, peer: str | None = None, topic: str | None = None) -> ChatPage:
        context = browser.new_context(viewport={"width": 1000, "height": 760}, locale="en-US", timezone_id="UTC")
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        chat_page = ChatPage(page, context, user, peer or "")
        page.on("pageerror", lambda exc: chat_page.errors.append(str(exc)))
        query = {"user": user}
        if peer:
            query["peer"] = peer
        if topic:
            query["topic"] = topic
        page.goto(f"{chat_server.url}/?{urlencode(query)}")
        chat_page.wait_connected()
        if peer:
            expect(chat_page.dialog).to_be_visible()
        pages.append(chat_page)
        return chat_page

    yield _open
    for chat_page in pages:
        with contextlib.suppress(Exception):  # a screenshot is an artifact, never a failure
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            chat_page.shot(f"{request.node.name}-{chat_page.user.split('-')[0]}-end")
        chat_page.context.close()
    errors = [e for p in pages for e in p.errors]
    assert not errors, f"uncaught errors in the page: {errors}"


def conversations(page: ChatPage) -> Locator:
    """The inbox's rows, in the order shown."""
    return page.page.locator(".chat-inbox button.chat-inbox__item")


def conversation(page: ChatPage, *texts: str) -> Locator:
    """The inbox row holding every one of `texts` (a user id, a topic)."""
    row = conversations(page)
    for text in texts:
        row = row.filter(has_text=text)
    return row


def wait_joined(page: ChatPage, *texts: str) -> None:
    """The page's chat is open on the server (its own inbox lists it): a send now goes out."""
    expect(conversation(page, *texts)).to_have_count(1, timeout=UI_TIMEOUT_MS)


def preview(row: Locator) -> Locator:
    return row.locator(".chat-inbox__preview")


def badge(row: Locator) -> Locator:
    return row.locator(".chat-inbox__badge")


class Api:
    """One user acting over the HTTP API (token from /dev/token)."""

    def __init__(self, base_url: str, user: str) -> None:
        self.base_url = base_url
        r = httpx.post(f"{base_url}/dev/token", json={"userId": user}, timeout=10)
        r.raise_for_status()
        self.headers = {"Authorization": f"Bearer {r.json()['token']}"}

    def chat(self, body: dict[str, object]) -> str:
        r = httpx.post(f"{self.base_url}/v1/chats", json=body, headers=self.headers, timeout=10)
        assert r.status_code in (200, 201), r.text
        return str(r.json()["id"])

    def send(self, chat_id: str, content: str) -> None:
        r = httpx.post(
            f"{self.base_url}/v1/chats/{chat_id}/messages",
            json={"content": content, "clientMessageId": secrets.token_hex(8)},
            headers=self.headers,
            timeout=10,
        )
        assert r.status_code == 201, r.text


@pytest.mark.browser
def test_seller_inbox_two_listings_live_and_blocking(open_page: OpenPage, chat_server: ServerProcess) -> None:
    # GIVEN a seller with the inbox open, and nobody has written yet
    seller_id, buyer1_id, buyer2_id = new_user("seller"), new_user("anna"), new_user("ben")
    seller = open_page(seller_id)
    expect(seller.page.get_by_text("No conversations yet.")).to_be_visible()
    rows = conversations(seller)

    # WHEN the first buyer asks about the bike (the chat opened with its topic)
    buyer1 = open_page(buyer1_id, seller_id, "bike-42")
    expect(buyer1.dialog.get_by_test_id("chat-topic")).to_have_text("About bike-42")
    wait_joined(buyer1, seller_id, "bike-42")
    buyer1.send("Is the bike still available?")
    # THEN it appears in the seller's inbox: buyer, topic, preview, one unread, online
    bike = conversation(seller, buyer1_id, "bike-42")
    expect(rows).to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(preview(bike)).to_have_text("Is the bike still available?")
    expect(badge(bike)).to_have_text("1 unread")
    expect(bike.locator(".chat-inbox__dot--online")).to_have_count(1, timeout=UI_TIMEOUT_MS)

    # WHEN the second buyer asks about the lamp
    buyer2 = open_page(buyer2_id, seller_id, "lamp-7")
    wait_joined(buyer2, seller_id, "lamp-7")
    buyer2.send("Would you take 20 for the lamp?")
    # THEN a second, separate conversation, on top
    lamp = conversation(seller, buyer2_id, "lamp-7")
    expect(rows).to_have_count(2, timeout=UI_TIMEOUT_MS)
    expect(rows.nth(0)).to_contain_text("lamp-7")
    expect(rows.nth(1)).to_contain_text("bike-42")
    expect(preview(lamp)).to_have_text("Would you take 20 for the lamp?")
    expect(badge(lamp)).to_have_text("1 unread")

    # WHEN the first buyer writes again, THEN the bike moves back to the top with its new preview
    buyer1.send("I can pick it up today")
    expect(rows.nth(0)).to_contain_text("bike-42")
    expect(preview(bike)).to_have_text("I can pick it up today")
    expect(badge(bike)).to_have_text("2 unread")
    expect(badge(lamp)).to_have_text("1 unread")

    # WHEN the first buyer asks about the lamp too (over HTTP), THEN that is a third conversation:
    # one per pair and topic
    api1 = Api(chat_server.url, buyer1_id)
    api1.send(api1.chat({"type": "direct", "recipientId": seller_id, "topic": "lamp-7"}), "And the lamp?")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text(buyer1_id)
    expect(rows.nth(0)).to_contain_text("lamp-7")
    expect(preview(rows.nth(0))).to_have_text("And the lamp?")
    expect(preview(bike)).to_have_text("I can pick it up today")
    seller.shot("inbox-seller-three-conversations")
    assert_accessible(seller.page, "seller's inbox with three conversations")

    # WHEN the seller opens the bike conversation from the inbox
    bike.click()
    expect(seller.dialog).to_be_visible()
    expect(seller.page.get_by_role("dialog", name=buyer1_id)).to_be_visible()
    expect(seller.dialog.get_by_test_id("chat-topic")).to_have_text("About bike-42")
    expect(seller.message("Is the bike still available?")).to_be_visible()
    expect(seller.message("I can pick it up today")).to_be_visible()
    # THEN it is read: the badge goes, and the buyer's ticks turn to read
    expect(badge(bike)).to_have_count(0)
    expect(buyer1.message("I can pick it up today")).to_have_attribute("data-status", "read")
    assert_accessible(seller.page, "a conversation opened from the inbox")

    # WHEN the buyer goes offline and writes, and meanwhile the seller blocks them
    buyer1.context.set_offline(True)
    expect(buyer1.connection).to_have_attribute("data-state", "offline", timeout=UI_TIMEOUT_MS)
    buyer1.send("Still there?")
    expect(buyer1.message("Still there?")).to_have_attribute("data-status", "pending")
    seller.dialog.get_by_role("button", name=f"Block {buyer1_id}").click()
    expect(seller.dialog.get_by_test_id("blocked-banner")).to_contain_text(BLOCKED_TEXT)
    expect(seller.composer).to_be_disabled()
    expect(seller.dialog.get_by_role("button", name=f"Unblock {buyer1_id}")).to_be_visible()

    # THEN once back, the buyer's message is refused with the BLOCKED text, and the chat says so
    buyer1.context.set_offline(False)
    buyer1.wait_connected()
    refused = buyer1.message("Still there?")
    expect(refused).to_have_attribute("data-status", "failed", timeout=UI_TIMEOUT_MS)
    expect(refused).to_contain_text(BLOCKED_TEXT)
    expect(buyer1.dialog.get_by_test_id("blocked-banner")).to_contain_text(BLOCKED_TEXT)
    expect(buyer1.composer).to_be_disabled()
    buyer1.shot("inbox-blocked-buyer")
    assert_accessible(buyer1.page, "a blocked chat with a refused message")
    # and the seller never got it: the bike's preview is unchanged
    seller.page.keyboard.press("Escape")
    expect(seller.dialog).to_have_count(0)
    expect(preview(bike)).to_contain_text("I can pick it up today")
    expect(bike).to_contain_text("Blocked")
    # the other buyer is not affected
    buyer2.send("Deal?")
    expect(preview(lamp)).to_have_text("Deal?")
    expect(rows.nth(0)).to_contain_text(buyer2_id)


@pytest.mark.browser
def test_group_members_panel_add_rename_remove_live(open_page: OpenPage, chat_server: ServerProcess) -> None:
    # GIVEN a group made by its admin (over HTTP), with one member
    admin_id, member_id, newcomer_id = new_user("admin"), new_user("mia"), new_user("noah")
    group_id = Api(chat_server.url, admin_id).chat({"type": "group", "title": "Book club", "members": [member_id]})
    admin = open_page(admin_id)
    newcomer = open_page(newcomer_id)
    group = conversation(admin, "Book club")
    expect(group).to_have_count(1)
    expect(group).to_have_attribute("data-chat-id", group_id)

    # WHEN the admin opens it and the members panel
    group.click()
    expect(admin.page.get_by_role("dialog", name="Book club")).to_be_visible()
    dialog = admin.dialog  # by role only: its name changes with the rename below
    dialog.get_by_role("button", name="Members").click()
    panel = dialog.get_by_role("region", name="Members")
    expect(panel.get_by_role("listitem")).to_have_count(2)
    assert_accessible(admin.page, "a group's members panel")

    # and adds someone by user id, THEN the newcomer sees the group arrive in their inbox
    panel.get_by_label("Add a member by user id").fill(newcomer_id)
    panel.get_by_role("button", name="Add", exact=True).click()
    expect(panel.get_by_role("listitem")).to_have_count(3)
    expect(conversation(newcomer, "Book club")).to_have_count(1, timeout=UI_TIMEOUT_MS)

    # WHEN the admin renames the group, THEN both inboxes follow
    panel.get_by_label("Group name").fill("Reading circle")
    panel.get_by_role("button", name="Rename").click()
    expect(admin.page.get_by_role("dialog", name="Reading circle")).to_be_visible()
    expect(conversation(newcomer, "Reading circle")).to_have_count(1, timeout=UI_TIMEOUT_MS)

    # WHEN the admin removes the newcomer, THEN the group leaves the newcomer's inbox
    panel.get_by_role("button", name=f"Remove {newcomer_id}").click()
    expect(panel.get_by_role("listitem")).to_have_count(2)
    expect(conversation(newcomer, "Reading circle")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    expect(dialog.get_by_role("alert")).to_have_count(0)
