"""axe-core's WCAG 2.1 A and AA rules on the demo and the chat modal, in each state a person meets.

axe-core comes from tests/js (`make js-deps`); it is injected into the page and run on the
whole document. A violation fails the test with its rule, the elements and axe's summary.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, WebSocketRoute, expect

from tests.browser.conftest import REPO, UI_TIMEOUT_MS, OpenDemo, new_user, png_bytes
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

AXE_JS = REPO / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# Only what a report needs: rule, impact, help text, and each failing node's selector and summary.
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target, summary: n.failureSummary })),
  }));
}"""


def axe_violations(page: Page) -> list[dict[str, Any]]:
    if not AXE_JS.is_file():
        pytest.fail(f"{AXE_JS} is missing: run `make js-deps` (npm ci --prefix tests/js)")
    if page.evaluate("typeof window.axe") == "undefined":
        page.add_script_tag(path=str(AXE_JS))
    violations: list[dict[str, Any]] = page.evaluate(RUN_AXE, WCAG_TAGS)
    return violations


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"]:
            summary = " ".join(str(node["summary"]).split())
            lines.append(f"    {' > '.join(node['target'])}: {summary}")
    return "\n".join(lines)


def assert_accessible(page: Page, state: str) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe found WCAG 2.1 A/AA violations ({state}):\n{describe(violations)}"


def pair() -> tuple[str, str]:
    return new_user("alice"), new_user("bob")


@pytest.mark.browser
def test_user_picker_page(chat_server: ServerProcess, open_demo: OpenDemo) -> None:
    page = open_demo(*pair(), open_chat=False).context.new_page()
    page.goto(chat_server.url + "/")
    expect(page.get_by_role("button", name="Start chatting")).to_be_visible()
    assert_accessible(page, "user picker")

    # the form's error line, shown for two equal names
    page.get_by_label("Chat with").fill(page.get_by_label("You are").input_value())
    expect(page.get_by_text("Two different ids")).to_be_visible()
    assert_accessible(page, "user picker with its error")


@pytest.mark.browser
def test_open_chat_with_both_peoples_messages_ticks_and_typing(open_demo: OpenDemo) -> None:
    # GIVEN a conversation with messages from both, alice's read and bob's last one only sent
    alice_id, bob_id = pair()
    alice = open_demo(alice_id, bob_id)
    bob = open_demo(bob_id, alice_id)
    alice.send("Hi Bob! Dinner tonight?")
    expect(bob.message("Hi Bob! Dinner tonight?")).to_be_visible()
    bob.send("Sure, at eight")
    expect(alice.message("Hi Bob! Dinner tonight?")).to_have_attribute("data-status", "read", timeout=UI_TIMEOUT_MS)
    expect(bob.message("Sure, at eight")).to_have_attribute("data-status", "read", timeout=UI_TIMEOUT_MS)
    expect(alice.dialog.locator(".chat-presence")).to_have_attribute("data-online", "true")
    expect(alice.dialog.locator("time")).to_have_count(2)
    for page in (alice, bob):
        assert_accessible(page.page, f"{page.user}'s open chat")

    # WHEN bob types, alice's modal shows it (and the card behind it too)
    bob.composer.fill("Shall I book a table?")
    expect(alice.dialog.get_by_role("status").filter(has_text=f"{bob_id} is typing")).to_be_visible()
    assert_accessible(alice.page, "typing indicator")

    # and when alice's draft nears the limit, the counter shows
    alice.composer.fill("x" * 3900)
    expect(alice.dialog.get_by_text("100 characters left.")).to_be_visible()
    assert_accessible(alice.page, "characters-left hint")
    alice.composer.fill("x" * 4001)
    expect(alice.dialog.get_by_text(re.compile("Too long by 1 characters"))).to_be_visible()
    assert_accessible(alice.page, "too-long hint")


@pytest.mark.browser
def test_closed_chat_with_unread_badge(open_demo: OpenDemo) -> None:
    alice_id, bob_id = pair()
    alice = open_demo(alice_id, bob_id)
    bob = open_demo(bob_id, alice_id, open_chat=False)
    assert_accessible(bob.page, "demo with the chat closed")
    alice.send("first")
    alice.send("second")
    expect(bob.badge).to_have_text("2")
    expect(alice.message("second")).to_have_attribute("data-status", "sent")
    assert_accessible(bob.page, "unread badge")
    assert_accessible(alice.page, "own messages sent, not read")


@pytest.mark.browser
def test_offline_banner_and_pending_send(open_demo: OpenDemo) -> None:
    alice_id, bob_id = pair()
    alice = open_demo(alice_id, bob_id)
    expect(alice.dialog.get_by_text("No messages yet. Say hello!")).to_be_visible()
    assert_accessible(alice.page, "empty chat")

    # offline: the banner, and a message waiting as pending
    alice.context.set_offline(True)
    expect(alice.connection).to_have_attribute("data-state", "offline", timeout=UI_TIMEOUT_MS)
    expect(alice.banner).to_have_text(re.compile("You are offline"))
    alice.send("written offline")
    expect(alice.message("written offline")).to_have_attribute("data-status", "pending")
    assert_accessible(alice.page, "offline banner and a pending message")
    alice.shot("a11y-offline-pending-alice")
    alice.context.set_offline(False)
    alice.wait_connected()
    expect(alice.message("written offline")).to_have_attribute("data-status", re.compile("sent|read"))


@pytest.mark.browser
def test_failed_send_with_retry_and_delete(chat_server: ServerProcess, open_demo: OpenDemo) -> None:
    # GIVEN a page whose sends the server refuses for good: the socket points them at a chat
    # that does not exist (NOT_FOUND is not retried)
    alice_id, bob_id = pair()
    alice = open_demo(alice_id, bob_id, open_chat=False)

    def refuse_sends(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def to_server(frame: str | bytes) -> None:
            if isinstance(frame, str) and '"send_message"' in frame:
                frame = re.sub(r'"chatId":"[^"]*"', '"chatId":"no-such-chat"', frame)
            server.send(frame)

        ws.on_message(to_server)

    alice.page.route_web_socket(re.compile(r"/socket\.io/"), refuse_sends)
    alice.page.goto(f"{chat_server.url}/?user={alice_id}&peer={bob_id}")
    alice.wait_connected()
    expect(alice.composer).to_be_editable()

    # WHEN alice sends, THEN the message is marked failed with Retry and Delete
    alice.send("refused")
    expect(alice.message("refused")).to_have_attribute("data-status", "failed", timeout=UI_TIMEOUT_MS)
    expect(alice.message("refused").get_by_role("button", name="Retry")).to_be_visible()
    assert_accessible(alice.page, "failed send")


@pytest.mark.browser
def test_message_changes_edit_delete_reactions_reply_and_photos(open_demo: OpenDemo, tmp_path: Path) -> None:
    # GIVEN a conversation with an edited message, a deleted one, reactions (alice's own
    # highlighted), a reply quoting a message and a photo
    alice_id, bob_id = pair()
    alice = open_demo(alice_id, bob_id)
    bob = open_demo(bob_id, alice_id)
    for text in ("Dinner at eight?", "wrong chat, sorry"):
        alice.send(text)
    expect(bob.message("wrong chat, sorry")).to_be_visible()
    question = alice.message_by_id(alice.message_id("Dinner at eight?"))
    mistake = alice.message_by_id(alice.message_id("wrong chat, sorry"))

    question.get_by_role("button", name="Edit message").focus()
    alice.page.keyboard.press("Enter")
    editor = question.get_by_role("textbox", name="Edit message")
    editor.fill("Dinner at nine?")
    assert_accessible(alice.page, "inline editor")
    editor.press("Enter")
    expect(question).to_have_attribute("data-edited", "true")

    mistake.hover()
    mistake.get_by_role("button", name="Delete message").click()
    expect(mistake.get_by_role("group", name="Delete this message?")).to_be_visible()
    assert_accessible(alice.page, "delete confirmation")
    mistake.get_by_role("button", name="Delete", exact=True).click()
    expect(mistake).to_have_attribute("data-deleted", "true")

    at_bob = bob.message_by_id(alice.message_id("Dinner at nine?"))
    at_bob.hover()
    at_bob.get_by_role("button", name="Add reaction").click()
    expect(at_bob.get_by_role("group", name="Add a reaction")).to_be_visible()
    assert_accessible(bob.page, "reaction picker")
    at_bob.get_by_role("button", name="React with 👍").click()
    question.get_by_role("button", name="👍 1").click()
    expect(question.get_by_role("button", name="👍 2")).to_have_attribute("aria-pressed", "true")

    at_bob.hover()
    at_bob.get_by_role("button", name="Reply").click()
    expect(bob.dialog.get_by_test_id("reply-preview")).to_be_visible()
    assert_accessible(bob.page, "reply preview above the composer")
    bob.send("Nine works")
    expect(alice.message("Nine works").locator(".chat-quote")).to_be_visible()

    photo = tmp_path / "table.png"
    photo.write_bytes(png_bytes(40, 30))
    # the upload waits (the route holds it) so the progress bar can be checked
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    alice.page.route(re.compile(r"/v1/uploads/"), hold)
    with alice.page.expect_file_chooser() as chooser:
        alice.dialog.get_by_role("button", name="Attach a photo").click()
    chooser.value.set_files(str(photo))
    expect(alice.dialog.get_by_role("progressbar", name="Uploading table.png")).to_be_visible()
    assert_accessible(alice.page, "photo uploading, with its thumbnail and progress")
    for _ in range(100):
        if held:
            break
        alice.page.wait_for_timeout(50)
    assert held, "the upload never reached the server"
    held[0].continue_()
    alice.page.unroute(re.compile(r"/v1/uploads/"))
    expect(alice.dialog.locator(".chat-draft")).to_have_attribute("data-status", "uploaded", timeout=UI_TIMEOUT_MS)
    assert_accessible(alice.page, "photo ready to send")
    alice.composer.press("Enter")
    expect(bob.dialog.get_by_role("img", name="table.png")).to_be_visible()
    alice.page.mouse.move(0, 0)  # no toolbar shown by hovering
    for page in (alice, bob):
        assert_accessible(page.page, f"{page.user}'s chat with an edit, a tombstone, reactions, a reply and a photo")
    alice.shot("a11y-message-changes-alice")

    # a refused upload: its error is said, with a button to remove it
    def refuse(route: Route) -> None:
        body = '{"error": {"code": "TOO_LARGE", "message": "too large"}}'
        route.fulfill(status=413, content_type="application/json", body=body)

    alice.page.route(re.compile(r"/v1/uploads/"), refuse)
    with alice.page.expect_file_chooser() as chooser:
        alice.dialog.get_by_role("button", name="Attach a photo").click()
    chooser.value.set_files(str(photo))
    expect(alice.dialog.get_by_role("alert")).to_contain_text("Upload failed")
    assert_accessible(alice.page, "failed upload")
