import type { TimelineAttachment } from "../chat/selectors";
import { fileSizeLabel } from "./format";

/** Largest box an image is drawn in, in CSS pixels. */
export const IMAGE_BOX = 240;

/** The size to draw an image at: its own, scaled down to fit IMAGE_BOX; a fixed box when unknown. */
export function imageSize(width: number | null | undefined, height: number | null | undefined): { width: number; height: number } {
  if (!width || !height) return { width: IMAGE_BOX, height: Math.round((IMAGE_BOX * 3) / 4) };
  const scale = Math.min(1, IMAGE_BOX / width, IMAGE_BOX / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

export function isImage(contentType: string): boolean {
  return contentType.startsWith("image/");
}

export interface AttachmentListProps {
  attachments: TimelineAttachment[];
  /** Makes a server url absolute (relative `/v1/attachments/...` against the chat server). */
  resolveUrl?: (url: string) => string;
  /** A local preview (object URL and size) for an attachment not confirmed yet. */
  localPreview?: (attachmentId: string) => LocalPreview | undefined;
}

export interface LocalPreview {
  url: string;
  width: number | null;
  height: number | null;
}

/**
 * Images drawn at their size (width and height set, so nothing jumps when they load), each a
 * link to the full file; other files as download links with their size.
 */
export function AttachmentList({ attachments, resolveUrl = (u) => u, localPreview }: AttachmentListProps) {
  if (attachments.length === 0) return null;
  return (
    <ul className="chat-attachments">
      {attachments.map((a) => {
        const local = a.url ? undefined : localPreview?.(a.id);
        const href = a.url ? resolveUrl(a.url) : local?.url;
        if (isImage(a.contentType) && href) {
          const size = imageSize(a.width ?? local?.width, a.height ?? local?.height);
          return (
            <li key={a.id} className="chat-attachment chat-attachment--image">
              <a href={href} target="_blank" rel="noopener noreferrer">
                <img src={href} alt={a.name} width={size.width} height={size.height} loading="lazy" decoding="async" />
              </a>
            </li>
          );
        }
        return (
          <li key={a.id} className="chat-attachment chat-attachment--file">
            <span aria-hidden="true">📎 </span>
            {href ? (
              <a href={href} target="_blank" rel="noopener noreferrer" download={a.name}>
                {a.name}
              </a>
            ) : (
              <span>{a.name}</span>
            )}{" "}
            <span className="chat-attachment__size">({fileSizeLabel(a.size)})</span>
          </li>
        );
      })}
    </ul>
  );
}
