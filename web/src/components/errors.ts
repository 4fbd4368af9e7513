// What to tell the user when a request fails, by the protocol's error codes (docs/protocol.md).
import type { ProtocolError } from "../chat/protocol";

const GENERIC: Record<string, string> = {
  OFFLINE: "you are offline; try again when the connection is back",
  TIMEOUT: "the server did not answer; try again",
  RATE_LIMITED: "too many at once; wait a moment and try again",
  UNAVAILABLE: "the server is unavailable right now; try again",
  INTERNAL: "something went wrong on the server; try again",
  UNAUTHORIZED: "you are signed out; reload the page",
  NOT_FOUND: "that message or chat is gone",
  TOO_LARGE: "the file is too large",
  CANCELLED: "cancelled",
};

/** What a BLOCKED refusal says (a send, opening a direct chat): either user blocks the other. */
export const BLOCKED_TEXT = "You can't message this person.";

/**
 * "Could not edit the message: edit window passed." The server's message where it says more than
 * the code; BLOCKED says BLOCKED_TEXT alone.
 */
export function problemText(what: string, error: unknown): string {
  const e = toProblem(error);
  if (e.code === "BLOCKED") return BLOCKED_TEXT;
  const specific = e.code === "FORBIDDEN" || e.code === "INVALID" || (e.code === "TOO_LARGE" && e.message);
  const reason = (specific ? e.message : GENERIC[e.code]) || e.message || e.code;
  return `${what}: ${reason.replace(/\.$/, "")}.`;
}

/** Why a send failed, under the message: BLOCKED_TEXT for BLOCKED, else the server's message. */
export function sendErrorText(error: ProtocolError | null | undefined): string {
  if (!error) return "Not sent";
  if (error.code === "BLOCKED") return BLOCKED_TEXT;
  return error.message || GENERIC[error.code] || "Not sent";
}

function toProblem(error: unknown): ProtocolError {
  if (error && typeof error === "object" && "code" in error) {
    const e = error as { code: unknown; message?: unknown };
    return { code: String(e.code), message: typeof e.message === "string" ? e.message : "" };
  }
  return { code: "INTERNAL", message: error instanceof Error ? error.message : String(error) };
}
