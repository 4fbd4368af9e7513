"""The demo page in Chromium against a real server: what two people see."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.browser.conftest import ARTIFACTS, UI_TIMEOUT_MS, HttpUser, OpenDemo, new_user
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

HOSTILE = '<img src=x onerror="window.__pwned=1">'


def pair() -> tuple[str, str]:
    return new_user("alice"), new_user("bob")


@pytest.mark.browser
def test_without_query_params_the_page_asks_who_you_are(chat_server: ServerProcess, open_demo: OpenDemo) -> None:
    # GIVEN the bare demo page
    alice, bob = pair()
    page: Page = open_demo(alice, bob).context.new_page()
    page.goto(chat_server.url + "/")
    # WHEN the form is filled in
    page.get_by_label("You are").fill(alice)
    page.get_by_label("Chat with").fill(bob)
    page.get_by_role("button", name="Start chatting").click()
    # THEN the chat page for that pair opens and connects
    expect(page).to_have_url(re.compile(rf"\?user={alice}&peer={bob}$"))
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected", timeout=UI_TIMEOUT_MS)


@pytest.mark.browser
def test_user_and_peer_in_the_query_open_the_chat_at_once(chat_server: ServerProcess, open_demo: OpenDemo) -> None:
    # GIVEN a fresh browser
    alice, bob = pair()
    page: Page = open_demo(alice, bob).context.new_page()
    # WHEN it loads the demo with both names, and nothing is clicked
    page.goto(f"{chat_server.url}/?user={alice}&peer={bob}")
    # THEN the chat with bob is open, its composer focused and usable once connected
    dialog = page.get_by_role("dialog", name=bob)
    composer = dialog.get_by_role("textbox", name="Message")
    expect(composer).to_be_visible()
    expect(composer).to_be_focused()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected", timeout=UI_TIMEOUT_MS)
    expect(composer).to_be_editable()

    # WHEN the chat is closed with its button, focus lands on the button that reopens it
    dialog.get_by_role("button", name="Close chat").click()
    expect(dialog).to_have_count(0)
    toggle = page.get_by_test_id("chat-toggle")
    expect(toggle).to_be_focused()
    expect(toggle).to_have_accessible_name("Open chat")
    # and that button opens it again
    toggle.click()
    expect(composer).to_be_focused()


@pytest.mark.browser
def test_two_people_chat_with_presence_and_typing(open_demo: OpenDemo) -> None:
    # GIVEN alice and bob on the demo, each in their own browser
    alice_id, bob_id = pair()
    alice = open_demo(alice_id, bob_id)
    bob = open_demo(bob_id, alice_id)
    expect(alice.dialog).to_have_attribute("aria-modal", "true")
    expect(alice.dialog.locator(".chat-presence")).to_have_attribute("data-online", "true", timeout=UI_TIMEOUT_MS)
    expect(bob.page.get_by_test_id("peer-presence")).to_have_attribute("data-online", "true")

    # WHEN alice writes
    alice.send("Hi Bob! Dinner tonight?")
    # THEN bob gets it and the ticks say sent
    expect(alice.message("Hi Bob! Dinner tonight?")).to_have_attribute("data-status", re.compile("sent|read"))
    bob.open_chat()
    expect(bob.message("Hi Bob! Dinner tonight?")).to_be_visible()

    # WHEN bob types, alice sees it; when he sends, it arrives
    bob.composer.fill("Sure, at eight")
    expect(alice.dialog.get_by_role("status").filter(has_text=f"{bob_id} is typing")).to_be_visible()
    bob.composer.press("Enter")
    expect(alice.message("Sure, at eight")).to_be_visible()
    expect(alice.dialog.get_by_role("status").filter(has_text="is typing")).to_have_count(0)

    # Shift+Enter makes a new line instead of sending
    alice.composer.fill("See you")
    alice.composer.press("Shift+Enter")
    alice.composer.press_sequentially("there")
    alice.composer.press("Enter")
    expect(bob.message("See you\nthere")).to_be_visible()
    expect(alice.message("See you\nthere")).to_have_attribute("data-status", "read", timeout=UI_TIMEOUT_MS)
    alice.shot("two-people-alice")
    bob.shot("two-people-bob")

    # The picture for the docs: ticks, presence, and bob typing again.
    bob.composer.fill("Shall I book a table?")
    expect(alice.dialog.get_by_role("status").filter(has_text=f"{bob_id} is typing")).to_be_visible()
    alice.shot("demo")

    # WHEN bob leaves, alice sees him go offline (after the grace period)
    bob.context.close()
    expect(alice.dialog.locator(".chat-presence")).to_have_attribute("data-online", "false", timeout=UI_TIMEOUT_MS)
    expect(alice.dialog.locator(".chat-presence")).to_contain_text("Last seen")


@pytest.mark.browser
def test_unread_badge_and_read_ticks(open_demo: OpenDemo) -> None:
    # GIVEN bob has the demo open with the chat closed
    alice_id, bob_id = pair()
    alice = open_demo(alice_id, bob_id)
    bob = open_demo(bob_id, alice_id, open_chat=False)
    expect(bob.badge).to_have_count(0)

    # WHEN alice sends two messages
    alice.send("first")
    alice.send("second")

    # THEN bob's badge counts them, the title too, and alice's ticks stay at "sent"
    expect(bob.badge).to_have_text("2")
    expect(bob.page).to_have_title(re.compile(r"^\(2\) "))
    expect(bob.page.get_by_test_id("chat-toggle")).to_have_accessible_name("Open chat, 2 unread")
    expect(alice.message("second")).to_have_attribute("data-status", "sent")
    expect(alice.message("second").get_by_text("Sent", exact=True)).to_be_attached()
    bob.shot("unread-badge-bob")

    # WHEN bob opens the chat
    bob.open_chat()
    # THEN the badge clears and alice's ticks turn to "read"
    expect(bob.badge).to_have_count(0)
    expect(alice.message("first")).to_have_attribute("data-status", "read")
    expect(alice.message("second")).to_have_attribute("data-status", "read")
    expect(alice.message("second").get_by_text("Read", exact=True)).to_be_attached()

    # WHEN bob closes it and alice writes again, the badge comes back with 1
    bob.page.keyboard.press("Escape")
    expect(bob.dialog).to_have_count(0)
    expect(bob.page.get_by_test_id("chat-toggle")).to_be_focused()
    alice.send("third")
    expect(bob.badge).to_have_text("1")
    expect(alice.message("third")).to_have_attribute("data-status", "sent")


@pytest.mark.browser
def test_reload_keeps_the_conversation_and_its_ticks(open_demo: OpenDemo) -> None:
    # GIVEN a short conversation that bob has read
    alice_id, bob_id = pair()
    alice = open_demo(alice_id, bob_id)
    bob = open_demo(bob_id, alice_id)
    alice.send("remember me")
    expect(bob.message("remember me")).to_be_visible()
    bob.send("I will")
    expect(alice.message("remember me")).to_have_attribute("data-status", "read")

    # WHEN alice reloads the page
    alice.page.reload()
    alice.wait_connected()
    expect(alice.dialog).to_be_visible()

    # THEN the conversation is there, in order, with the read tick kept
    items = alice.dialog.locator("li.chat-message .chat-message__content")
    expect(items).to_have_text(["remember me", "I will"])
    expect(alice.message("remember me")).to_have_attribute("data-status", "read")
    expect(alice.badge).to_have_count(0)


@pytest.mark.browser
def test_hostile_message_is_shown_as_text(open_demo: OpenDemo, http_user: Callable[[str], HttpUser]) -> None:
    # GIVEN bob looking at the chat
    alice_id, bob_id = pair()
    alice = open_demo(alice_id, bob_id)
    bob = open_demo(bob_id, alice_id)

    # WHEN markup arrives through the socket and through the HTTP API
    alice.send(HOSTILE)
    api = http_user(alice_id)
    api.send(api.direct_chat_id(bob_id), f"<script>window.__pwned=2</script>{HOSTILE}")

    # THEN both show the literal text, nothing was parsed and nothing ran
    for page in (alice, bob):
        expect(page.message(HOSTILE)).to_be_visible()
        expect(page.message(f"<script>window.__pwned=2</script>{HOSTILE}")).to_be_visible()
        expect(page.dialog.locator(".chat-messages img")).to_have_count(0)
        expect(page.dialog.locator(".chat-messages script")).to_have_count(0)
        assert page.page.evaluate("typeof window.__pwned") == "undefined"
    bob.shot("hostile-bob")


@pytest.mark.browser
def test_server_restart_shows_the_banner_then_what_was_missed(
    chat_server: ServerProcess, open_demo: OpenDemo, http_user: Callable[[str], HttpUser]
) -> None:
    # GIVEN alice and bob in a conversation
    alice_id, bob_id = pair()
    alice = open_demo(alice_id, bob_id)
    bob = open_demo(bob_id, alice_id)
    alice.send("before the restart")
    expect(bob.message("before the restart")).to_be_visible()

    # WHEN the server stops (SIGTERM: it drains and closes the transports)
    chat_server.stop()
    # THEN alice sees the reconnecting banner
    expect(alice.banner).to_be_visible()
    expect(alice.banner).to_have_text(re.compile("Reconnecting"))
    expect(alice.connection).to_have_attribute("data-state", "reconnecting")
    alice.shot("restart-banner-alice")

    # WHEN alice writes while the server is down, the message waits as pending
    alice.send("written while it was down")
    expect(alice.message("written while it was down")).to_have_attribute("data-status", "pending")

    # and while alice cannot reach it, the server comes back and bob writes over HTTP
    alice.context.set_offline(True)
    chat_server.start()
    api = http_user(bob_id)
    api.send(api.direct_chat_id(alice_id), "sent while you were away")
    alice.context.set_offline(False)

    # THEN alice reconnects, catches up, and her pending message goes out exactly once
    alice.wait_connected()
    expect(alice.message("sent while you were away")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(alice.message("written while it was down")).to_have_attribute("data-status", re.compile("sent|read"))
    expect(alice.banner).to_be_hidden()
    bob.wait_connected()
    expect(bob.message("written while it was down")).to_have_count(1)
    expect(bob.message("sent while you were away")).to_have_count(1)
    expect(alice.message("written while it was down")).to_have_count(1)
    contents = alice.dialog.locator("li.chat-message .chat-message__content").all_inner_texts()
    assert contents[0] == "before the restart"
    assert sorted(contents[1:]) == sorted(["written while it was down", "sent while you were away"])
    alice.shot("restart-recovered-alice")
    assert (ARTIFACTS / "restart-banner-alice.png").exists()


@pytest.mark.browser
def test_a_message_written_while_the_chat_opens_goes_once_it_is_open(
    chat_server: ServerProcess, open_demo: OpenDemo
) -> None:
    # GIVEN alice's page whose chat with bob (new: no chat yet) is still being opened: its
    # join_chat is held back on the way to the server
    alice_id, bob_id = pair()
    # (a page opens its chat even while closed: alice's page starts on a chat with someone else)
    alice = open_demo(alice_id, new_user("carol"), open_chat=False)
    servers: list[WebSocketRoute] = []
    held: list[str] = []

    def hold_joins(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        servers.append(server)

        def to_server(frame: str | bytes) -> None:
            if isinstance(frame, str) and re.match(r'42\d*\["join_chat"', frame):
                held.append(frame)
                return
            server.send(frame)

        ws.on_message(to_server)

    alice.page.route_web_socket(re.compile(r"/socket\.io/"), hold_joins)
    alice.page.goto(f"{chat_server.url}/?user={alice_id}&peer={bob_id}")
    alice.wait_connected()
    for _ in range(200):
        if held:
            break
        alice.page.wait_for_timeout(50)
    assert held, "the page never asked to join the chat"

    # WHEN alice writes and presses Enter before the chat is open
    alice.send("typed before it opened")
    # THEN the composer says it goes once open, and keeps the text (nothing can be sent: the
    # chat does not exist yet)
    expect(alice.dialog.get_by_text("Opening the chat… Your message goes as soon as it is open.")).to_be_visible()
    expect(alice.composer).to_have_value("typed before it opened")
    expect(alice.message("typed before it opened")).to_have_count(0)

    # WHEN the chat opens, THEN the message is sent and bob gets it
    for frame in held:
        servers[-1].send(frame)
    expect(alice.message("typed before it opened")).to_have_attribute("data-status", re.compile("sent|read"))
    expect(alice.composer).to_have_value("")
    bob = open_demo(bob_id, alice_id)
    expect(bob.message("typed before it opened")).to_be_visible()
