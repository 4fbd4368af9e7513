"""Attachments end to end, on a real `chat serve`: request an upload slot, upload the file the way
the slot says (a PUT to the node in the embedded mode; a presigned POST to S3, moto behind S3's
POST rules, with the DynamoDB store on moto_server), send a message that refers to it, fetch it
through the signed URL the recipient got, delete the message and the file is gone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.attachments.imagebytes import png
from tests.support.clients import Recorder, disconnect_all, unique
from tests.support.moto_server import MotoServer
from tests.support.s3_endpoint import S3Endpoint
from tests.support.server import ServerProcess

from .conftest import E2E_ENV

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[S3Endpoint]:
    endpoint = S3Endpoint().start()
    yield endpoint
    endpoint.close()


@pytest.fixture(scope="module", params=["sqlite-disk", "dynamodb-s3"])
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    env: dict[str, str | None] = {**E2E_ENV, "CHAT_ATTACHMENT_MAX_BYTES": "100000"}
    if request.param == "dynamodb-s3":
        moto: MotoServer = request.getfixturevalue("moto_endpoint")
        s3: S3Endpoint = request.getfixturevalue("s3_endpoint")
        table, bucket = "e2e-attachments", f"attachments-{uuid.uuid4().hex[:12]}"
        moto.create_table(table)
        s3.client().create_bucket(Bucket=bucket)
        env.update({**moto.env(), "CHAT_STORE": "dynamodb", "CHAT_DYNAMODB_TABLE": table})
        env.update({"AWS_ENDPOINT_URL_S3": s3.endpoint, "CHAT_ATTACHMENT_BUCKET": bucket})
    node = ServerProcess(env).start()
    yield node
    node.close()


async def upload(http: httpx.AsyncClient, offer: dict[str, Any], body: bytes, content_type: str) -> httpx.Response:
    """Send the file exactly as the upload slot says."""
    slot = offer["upload"]
    if slot["method"] == "PUT":
        return await http.put(slot["url"], content=body, headers=slot["headers"])
    assert slot["method"] == "POST"
    files = {"file": ("upload", body, content_type)}
    return await http.post(slot["url"], data=slot["fields"], files=files)


async def test_a_photo_goes_from_one_member_to_another(server: ServerProcess) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    alice = await Recorder(server.url, server.token(alice_id), name="alice").connect()
    bob = await Recorder(server.url, server.token(bob_id), name="bob").connect()
    image = png(48, 32)
    try:
        chat_id = (await alice.ok("join_chat", {"recipientId": bob_id}))["chat"]["id"]
        offer = await alice.ok(
            "request_upload", {"chatId": chat_id, "fileName": "cat.png", "contentType": "image/png", "size": len(image)}
        )
        async with httpx.AsyncClient(base_url=server.url) as http:
            uploaded = await upload(http, offer, image, "image/png")
            assert uploaded.status_code in (200, 201, 204), uploaded.text

            # bob did not upload it: he cannot send it
            stolen = await bob.call(
                "send_message",
                {"chatId": chat_id, "content": "", "clientMessageId": "s1", "attachmentIds": [offer["attachmentId"]]},
            )
            assert stolen["error"]["code"] == "NOT_FOUND"

            sent = await alice.ok(
                "send_message",
                {"chatId": chat_id, "content": "", "clientMessageId": "p1", "attachmentIds": [offer["attachmentId"]]},
            )
            (attachment,) = sent["message"]["attachments"]
            assert {k: attachment[k] for k in ("id", "name", "contentType", "size", "width", "height")} == {
                "id": offer["attachmentId"],
                "name": "cat.png",
                "contentType": "image/png",
                "size": len(image),
                "width": 48,
                "height": 32,
            }
            # a retry of the send (its ack lost) is the same message, the file claimed once
            again = await alice.ok(
                "send_message",
                {"chatId": chat_id, "content": "", "clientMessageId": "p1", "attachmentIds": [offer["attachmentId"]]},
            )
            assert again["message"]["id"] == sent["message"]["id"] and again["message"]["seq"] == sent["message"]["seq"]
            received = await bob.wait_for("new_message", lambda m: m["id"] == sent["message"]["id"])
            url = received["attachments"][0]["url"]
            fetched = await http.get(url, follow_redirects=True)
            assert fetched.status_code == 200 and fetched.content == image
            # the URL is the credential: tampered, it opens nothing
            forged = await http.get(url.replace("sig=", "sig=x"), follow_redirects=True)
            assert forged.status_code == 403

            await alice.ok("delete_message", {"chatId": chat_id, "messageId": sent["message"]["id"]})
            update = await bob.wait_for("message_updated", lambda u: u["message"]["id"] == sent["message"]["id"])
            assert update["message"]["attachments"] == [] and update["message"]["deleted"]
            # the file goes in the background: ask until it is gone (the old URL is still signed;
            # on S3 it redirects, and moto answers a presigned GET of a missing key with 403)
            deadline = asyncio.get_running_loop().time() + 30
            while (gone := await http.get(url, follow_redirects=True)).status_code == 200:
                assert asyncio.get_running_loop().time() < deadline, "the deleted message's file is still served"
                await asyncio.sleep(0.05)
            assert gone.status_code in (403, 404)
    finally:
        await disconnect_all(alice, bob)


async def test_sending_before_the_file_arrived_or_a_lie_about_it_is_refused(server: ServerProcess) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    alice = await Recorder(server.url, server.token(alice_id), name="alice").connect()
    try:
        chat_id = (await alice.ok("join_chat", {"recipientId": bob_id}))["chat"]["id"]
        too_big = await alice.call(
            "request_upload", {"chatId": chat_id, "fileName": "big.png", "contentType": "image/png", "size": 100001}
        )
        assert too_big["error"]["code"] == "TOO_LARGE"
        wrong_type = await alice.call(
            "request_upload",
            {"chatId": chat_id, "fileName": "x.exe", "contentType": "application/x-msdownload", "size": 9},
        )
        assert wrong_type["error"]["code"] == "INVALID"
        text = b"not a png at all"
        offer = await alice.ok(
            "request_upload", {"chatId": chat_id, "fileName": "fake.png", "contentType": "image/png", "size": len(text)}
        )
        early = await alice.call(
            "send_message",
            {"chatId": chat_id, "content": "look", "clientMessageId": "e1", "attachmentIds": [offer["attachmentId"]]},
        )
        assert early["error"]["code"] == "INVALID" and "not been uploaded" in early["error"]["message"]
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await upload(http, offer, text, "image/png")).status_code in (200, 201, 204)
        fake = await alice.call(
            "send_message",
            {"chatId": chat_id, "content": "look", "clientMessageId": "e2", "attachmentIds": [offer["attachmentId"]]},
        )
        assert fake["error"]["code"] == "INVALID" and "PNG" in fake["error"]["message"]
        # nothing was stored by the refused sends
        history = await alice.ok("get_messages", {"chatId": chat_id})
        assert history["messages"] == []
    finally:
        await alice.disconnect()


async def test_http_upload_slot_for_members_only(server: ServerProcess) -> None:
    alice_id, bob_id, mallory_id = unique("alice"), unique("bob"), unique("mallory")
    async with httpx.AsyncClient(base_url=server.url) as http:
        alice = {"authorization": f"Bearer {server.token(alice_id)}"}
        chat = (await http.post("/v1/chats", json={"type": "direct", "recipientId": bob_id}, headers=alice)).json()
        body = {"fileName": "notes.txt", "contentType": "text/plain", "size": 5}
        offered = await http.post(f"/v1/chats/{chat['id']}/attachments", json=body, headers=alice)
        assert offered.status_code == 201
        assert set(offered.json()) == {"attachmentId", "upload", "expiresAt"}
        mallory = {"authorization": f"Bearer {server.token(mallory_id)}"}
        refused = await http.post(f"/v1/chats/{chat['id']}/attachments", json=body, headers=mallory)
        assert refused.status_code == 404
        uploaded = await upload(http, offered.json(), b"hello", "text/plain")
        assert uploaded.status_code in (200, 201, 204)
        sent = await http.post(
            f"/v1/chats/{chat['id']}/messages",
            json={"content": "notes", "clientMessageId": "h1", "attachmentIds": [offered.json()["attachmentId"]]},
            headers=alice,
        )
        assert sent.status_code == 201
        url = sent.json()["attachments"][0]["url"]
        fetched = await http.get(url, follow_redirects=True)
        assert fetched.status_code == 200 and fetched.content == b"hello"
        assert "attachment" in fetched.headers.get("content-disposition", "")
