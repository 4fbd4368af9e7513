import { describe, expect, it } from "vitest";
import { sendUpload, uploadErrorOf } from "../src/chat/upload";
import { FakeXhr } from "./fixtures";

const slot = { method: "PUT", url: "/v1/uploads/a1", fields: {}, headers: { "Content-Type": "text/plain" } };
const file = () => new Blob(["hello"], { type: "text/plain" });

describe("uploadErrorOf", () => {
  it("takes this server's JSON error, else S3's message with a code from the status", () => {
    expect(uploadErrorOf(400, '{"error": {"code": "INVALID", "message": "size differs"}}')).toEqual({ code: "INVALID", message: "size differs" });
    expect(uploadErrorOf(400, "<Error><Code>EntityTooLarge</Code><Message>Your proposed upload exceeds the maximum allowed size</Message></Error>")).toEqual({
      code: "INVALID",
      message: "Your proposed upload exceeds the maximum allowed size",
    });
    expect(uploadErrorOf(413, "")).toMatchObject({ code: "TOO_LARGE" });
    expect(uploadErrorOf(503, "<html>")).toMatchObject({ code: "UNAVAILABLE", message: "upload refused (HTTP 503)" });
  });
});

describe("sendUpload", () => {
  it("reports progress and resolves on a 2xx", async () => {
    const xhr = new FakeXhr();
    const seen: number[] = [];
    const done = sendUpload(xhr, "https://x/v1/uploads/a1", slot, file(), (n) => seen.push(n));
    xhr.progress(2, 5);
    xhr.respond(201);
    await done;
    expect(seen).toEqual([2, 5]);
    expect(xhr.headers).toEqual({ "Content-Type": "text/plain" });
  });

  it("a network error is UNAVAILABLE, an abort CANCELLED, an aborted signal sends nothing", async () => {
    const broken = new FakeXhr();
    const failed = sendUpload(broken, "u", slot, file(), () => undefined);
    broken.onerror?.();
    await expect(failed).rejects.toMatchObject({ code: "UNAVAILABLE" });

    const abort = new AbortController();
    const cancelled = new FakeXhr();
    const going = sendUpload(cancelled, "u", slot, file(), () => undefined, abort.signal);
    abort.abort();
    await expect(going).rejects.toMatchObject({ code: "CANCELLED" });
    expect(cancelled.aborted).toBe(true);

    const never = new FakeXhr();
    await expect(sendUpload(never, "u", slot, file(), () => undefined, abort.signal)).rejects.toMatchObject({ code: "CANCELLED" });
    expect(never.method).toBe("");
  });

  it("a POST form keeps a Content-Type header out (the browser writes the multipart boundary)", async () => {
    const xhr = new FakeXhr();
    const done = sendUpload(xhr, "https://bucket/", { method: "post", url: "https://bucket/", fields: { key: "k" }, headers: { "Content-Type": "image/png", "x-extra": "1" } }, file(), () => undefined);
    expect(xhr.method).toBe("POST");
    expect(xhr.headers).toEqual({ "x-extra": "1" });
    expect([...(xhr.body as FormData).keys()]).toEqual(["key", "file"]);
    xhr.respond(204);
    await done;
  });
});
