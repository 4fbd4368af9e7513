// Sending a file to the slot `request_upload` answered (docs/protocol.md, "Attachments"):
// XMLHttpRequest, because fetch reports no upload progress.
import type { ProtocolError, UploadSlot } from "./protocol";

/** The part of XMLHttpRequest an upload uses (a fake fits it in tests). */
export interface UploadXhr {
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  send(body: Blob | FormData): void;
  abort(): void;
  readonly status: number;
  readonly responseText: string;
  readonly upload: { onprogress: ((event: { loaded: number; total: number; lengthComputable: boolean }) => void) | null };
  onload: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
  ontimeout: (() => void) | null;
}

export class UploadError extends Error implements ProtocolError {
  readonly code: string;
  constructor(error: ProtocolError) {
    super(error.message);
    this.code = error.code;
  }
}

const STATUS_CODES: Record<number, string> = {
  400: "INVALID",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  413: "TOO_LARGE",
  429: "RATE_LIMITED",
};

/**
 * What a refused upload means, in the protocol's codes: this server answers
 * `{"error": {code, message}}`; S3 answers XML, so its status decides.
 */
export function uploadErrorOf(status: number, body: string): ProtocolError {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    if (parsed.error && typeof parsed.error.code === "string") {
      return { code: parsed.error.code, message: String(parsed.error.message ?? parsed.error.code) };
    }
  } catch {
    // not JSON: S3's XML or a proxy's page
  }
  const s3Message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1];
  const code = STATUS_CODES[status] ?? (status >= 500 ? "UNAVAILABLE" : "INTERNAL");
  return { code, message: s3Message ?? `upload refused (HTTP ${status})` };
}

/**
 * Send `file` as `slot` says: POST a multipart form (`fields` first, then the file as `file`;
 * a presigned S3 POST), or PUT the raw bytes with `slot.headers` (the embedded server).
 * Resolves when the server took it; rejects with an UploadError (`CANCELLED` when `signal` aborts).
 */
export function sendUpload(
  xhr: UploadXhr,
  url: string,
  slot: UploadSlot,
  file: Blob,
  onProgress: (loaded: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fail = (error: ProtocolError) => {
      signal?.removeEventListener("abort", onAbort);
      reject(new UploadError(error));
    };
    const onAbort = () => xhr.abort();
    if (signal?.aborted) {
      fail({ code: "CANCELLED", message: "upload cancelled" });
      return;
    }
    signal?.addEventListener("abort", onAbort);
    const method = slot.method.toUpperCase();
    xhr.open(method, url);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        signal?.removeEventListener("abort", onAbort);
        onProgress(file.size);
        resolve();
      } else fail(uploadErrorOf(xhr.status, xhr.responseText ?? ""));
    };
    xhr.onerror = () => fail({ code: "UNAVAILABLE", message: "the upload did not get through (network error)" });
    xhr.ontimeout = () => fail({ code: "TIMEOUT", message: "the upload timed out" });
    xhr.onabort = () => fail({ code: "CANCELLED", message: "upload cancelled" });
    if (method === "POST") {
      const form = new FormData();
      for (const [name, value] of Object.entries(slot.fields ?? {})) form.append(name, value);
      form.append("file", file);
      // The browser writes the multipart Content-Type (with its boundary) itself.
      for (const [name, value] of Object.entries(slot.headers ?? {})) {
        if (name.toLowerCase() !== "content-type") xhr.setRequestHeader(name, value);
      }
      xhr.send(form);
    } else {
      for (const [name, value] of Object.entries(slot.headers ?? {})) xhr.setRequestHeader(name, value);
      xhr.send(file);
    }
  });
}
