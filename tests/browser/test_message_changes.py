"""Edits, deletions, reactions, replies and a photo (protocol 1.1) in Chromium against a real
server: two people, each seeing the other's change live, and one who was offline catching up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, expect

from tests.browser.conftest import UI_TIMEOUT_MS, ChatPage, OpenDemo, new_user, png_bytes

pytestmark = pytest.mark.browser

PHOTO_SIZE = (40, 30)


def pair() -> tuple[str, str]:
    return new_user("alice"), new_user("bob")


def tool(item: Locator, name: str) -> Locator:
    """A button of a message's toolbar, revealed by hovering the message (as a mouse user does)."""
    item.hover()
    return item.get_by_role("button", name=name, exact=True)


def react(item: Locator, emoji: str) -> None:
    tool(item, "Add reaction").click()
    item.get_by_role("group", name="Add a reaction").get_by_role("button", name=f"React with {emoji}").click()


def edit(page: ChatPage, item: Locator, text: str) -> None:
    # by keyboard: the toolbar is reachable with focus, the editor saves on Enter
    item.get_by_role("button", name="Edit message").focus()
    page.page.keyboard.press("Enter")
    editor = item.get_by_role("textbox", name="Edit message")
    expect(editor).to_be_focused()
    editor.fill(text)
    editor.press("Enter")
    expect(editor).to_have_count(0)


def delete(item: Locator) -> None:
    tool(item, "Delete message").click()
    item.get_by_role("group", name="Delete this message?").get_by_role("button", name="Delete", exact=True).click()


def attach_photo(page: ChatPage, path: Path) -> None:
    with page.page.expect_file_chooser() as chooser:
        page.dialog.get_by_role("button", name="Attach a photo").click()
    chooser.value.set_files(str(path))


@pytest.mark.browser
def test_two_people_edit_delete_react_reply_and_send_a_photo(open_demo: OpenDemo, tmp_path: Path) -> None:
    # GIVEN alice and bob with the chat open, and alice's question delivered
    alice_id, bob_id = pair()
    alice = open_demo(alice_id, bob_id)
    bob = open_demo(bob_id, alice_id)
    alice.send("Dinner at eight?")
    expect(bob.message("Dinner at eight?")).to_be_visible()
    question = alice.message_id("Dinner at eight?")
    at_alice, at_bob = alice.message_by_id(question), bob.message_by_id(question)

    # WHEN alice edits it (Escape first cancels without closing the chat)
    at_alice.get_by_role("button", name="Edit message").focus()
    alice.page.keyboard.press("Enter")
    alice.page.keyboard.press("Escape")
    expect(alice.dialog).to_be_visible()
    expect(at_alice.get_by_role("textbox", name="Edit message")).to_have_count(0)
    edit(alice, at_alice, "Dinner at nine?")
    # THEN both see the new text, marked edited; bob cannot edit or delete it
    for item in (at_alice, at_bob):
        expect(item.locator(".chat-message__content")).to_have_text("Dinner at nine?")
        expect(item).to_have_attribute("data-edited", "true")
        expect(item.get_by_text("edited", exact=True)).to_be_visible()
    expect(at_bob.get_by_role("button", name="Edit message")).to_have_count(0)
    expect(at_bob.get_by_role("button", name="Delete message")).to_have_count(0)

    # WHEN bob reacts with 👍, THEN alice sees the count; only bob's is highlighted
    react(at_bob, "👍")
    expect(at_alice.get_by_role("button", name="👍 1")).to_have_attribute("aria-pressed", "false")
    expect(at_bob.get_by_role("button", name="👍 1")).to_have_attribute("aria-pressed", "true")
    # and when alice clicks the count she joins in; when bob clicks his, he leaves
    at_alice.get_by_role("button", name="👍 1").click()
    expect(at_alice.get_by_role("button", name="👍 2")).to_have_attribute("aria-pressed", "true")
    expect(at_bob.get_by_role("button", name="👍 2")).to_have_attribute("aria-pressed", "true")
    at_bob.get_by_role("button", name="👍 2").click()
    expect(at_bob.get_by_role("button", name="👍 1")).to_have_attribute("aria-pressed", "false")
    expect(at_alice.get_by_role("button", name="👍 1")).to_have_attribute("aria-pressed", "true")

    # WHEN bob replies to it: the quote shows above his composer, then in the sent message
    tool(at_bob, "Reply").click()
    preview = bob.dialog.get_by_test_id("reply-preview")
    expect(preview).to_contain_text("Dinner at nine?")
    expect(bob.composer).to_be_focused()
    bob.composer.fill("Nine works")
    bob.composer.press("Enter")
    expect(preview).to_have_count(0)
    for page in (alice, bob):
        expect(page.message("Nine works").locator(".chat-quote")).to_contain_text("Dinner at nine?")
    expect(alice.message("Nine works").locator(".chat-quote")).to_contain_text("You")

    # WHEN alice sends a photo: a thumbnail before sending, then the image at its size for both
    photo = tmp_path / "table.png"
    photo.write_bytes(png_bytes(*PHOTO_SIZE))
    attach_photo(alice, photo)
    draft = alice.dialog.locator(".chat-draft")
    expect(draft).to_have_attribute("data-status", "uploaded", timeout=UI_TIMEOUT_MS)
    expect(draft.locator("img.chat-draft__thumb")).to_be_visible()
    alice.composer.fill("our table")
    alice.composer.press("Enter")
    expect(draft).to_have_count(0)
    for page in (alice, bob):
        image = page.message("our table").get_by_role("img", name="table.png")
        expect(image).to_have_attribute("width", str(PHOTO_SIZE[0]))
        expect(image).to_have_attribute("height", str(PHOTO_SIZE[1]))
        # the signed URL serves the file itself: the browser loads and decodes it
        decoded = image.evaluate("img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])")
        assert decoded == list(PHOTO_SIZE)
    alice.shot("message-changes-alice")
    bob.shot("message-changes-bob")

    # WHEN alice deletes her question (after a confirmation), THEN both see the tombstone;
    # bob's reply keeps its quote as it was
    delete(at_alice)
    for item in (at_alice, at_bob):
        expect(item).to_have_attribute("data-deleted", "true")
        expect(item).to_contain_text("Message deleted")
        expect(item.locator(".chat-reaction")).to_have_count(0)
    expect(bob.message("Nine works").locator(".chat-quote")).to_contain_text("Dinner at nine?")
    expect(alice.composer).to_be_focused()


@pytest.mark.browser
def test_changes_made_while_offline_arrive_after_reconnect(open_demo: OpenDemo) -> None:
    # GIVEN three messages from alice that bob has seen
    alice_id, bob_id = pair()
    alice = open_demo(alice_id, bob_id)
    bob = open_demo(bob_id, alice_id)
    for text in ("one", "two", "three"):
        alice.send(text)
    for text in ("one", "two", "three"):
        expect(bob.message(text)).to_be_visible()
    one, two, three = (alice.message_id(text) for text in ("one", "two", "three"))

    # WHEN bob's browser goes offline
    bob.context.set_offline(True)
    expect(bob.connection).to_have_attribute("data-state", "offline", timeout=UI_TIMEOUT_MS)
    # and meanwhile alice edits one, deletes two, reacts to three and writes four
    edit(alice, alice.message_by_id(one), "one, edited")
    delete(alice.message_by_id(two))
    react(alice.message_by_id(three), "❤️")
    expect(alice.message_by_id(three).get_by_role("button", name="❤️ 1")).to_have_attribute("aria-pressed", "true")
    alice.send("four")
    expect(alice.message("four")).to_have_attribute("data-status", re.compile("sent|read"))
    # bob still shows the old state
    expect(bob.message_by_id(one).locator(".chat-message__content")).to_have_text("one")

    # THEN once bob is back, he sees every change and the new message
    bob.context.set_offline(False)
    bob.wait_connected()
    expect(bob.message_by_id(one).locator(".chat-message__content")).to_have_text("one, edited", timeout=UI_TIMEOUT_MS)
    expect(bob.message_by_id(one)).to_have_attribute("data-edited", "true")
    expect(bob.message_by_id(two)).to_have_attribute("data-deleted", "true")
    expect(bob.message_by_id(two)).to_contain_text("Message deleted")
    expect(bob.message_by_id(three).get_by_role("button", name="❤️ 1")).to_have_attribute("aria-pressed", "false")
    expect(bob.message("four")).to_be_visible()
    contents = bob.dialog.locator("li.chat-message .chat-message__content").all_inner_texts()
    assert contents == ["one, edited", "Message deleted", "three", "four"]
    bob.shot("message-changes-reconnected-bob")
