import type { ConnectionState, DrainingNotice, Presence } from "../chat/reducer";
import type { ProtocolError } from "../chat/protocol";
import { lastSeenLabel } from "./format";

export function OnlineIndicator({ presence, name }: { presence: Presence | undefined; name: string }) {
  const online = presence?.online ?? false;
  const text = online ? "Online" : presence ? lastSeenLabel(presence.lastSeen) : "Offline";
  return (
    <span className={`chat-presence chat-presence--${online ? "online" : "offline"}`} data-online={online}>
      <span className="chat-presence__dot" aria-hidden="true" />
      <span className="chat-visually-hidden">{name} is </span>
      {text}
    </span>
  );
}

export function TypingIndicator({ names }: { names: string[] }) {
  const text =
    names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]} are typing…`;
  return (
    <div className="chat-typing" role="status" aria-live="polite">
      {text && (
        <>
          <span className="chat-typing__dots" aria-hidden="true">
            <span />
            <span />
            <span />
          </span>
          {text}
        </>
      )}
    </div>
  );
}

export interface ConnectionBannerProps {
  connection: ConnectionState;
  draining: DrainingNotice | null;
  error?: ProtocolError | null;
}

export function connectionMessage({ connection, draining, error }: ConnectionBannerProps): string {
  if (connection === "connected") return draining ? "The server is restarting. Reconnecting shortly…" : "";
  if (draining) return "The server is restarting. Reconnecting…";
  if (error?.code === "UNAUTHORIZED" && connection !== "offline") return "Sign-in was refused. Trying again…";
  switch (connection) {
    case "connecting":
      return "Connecting…";
    case "reconnecting":
      return "Connection lost. Reconnecting…";
    case "offline":
      return "You are offline. Messages will be sent when the connection is back.";
  }
}

/** Says what the connection is doing whenever it is not simply up. */
export function ConnectionBanner(props: ConnectionBannerProps) {
  const text = connectionMessage(props);
  return (
    <div className={`chat-banner chat-banner--${props.connection}${text ? "" : " chat-banner--hidden"}`} role="status" aria-live="polite" data-connection={props.connection}>
      {text}
    </div>
  );
}
