/** The dev server's token endpoint (CHAT_DEV=1 only): POST /dev/token {userId} -> {token}. */
export async function fetchDevToken(userId: string, origin = ""): Promise<string> {
  const res = await fetch(`${origin}/dev/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ userId }),
  });
  if (!res.ok) throw new Error(`POST /dev/token answered ${res.status}`);
  const body = (await res.json()) as { token?: unknown };
  if (typeof body.token !== "string") throw new Error("POST /dev/token gave no token");
  return body.token;
}

export const USER_ID = /^[A-Za-z0-9_.@-]{1,128}$/;
