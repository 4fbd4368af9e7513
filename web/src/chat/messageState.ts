// Message states in a chat's list (protocol 1.1): per message the state with the highest
// changeSeq wins, whatever order states arrive in; reactions' `mine` by how much the source
// knows; states of messages not loaded yet wait detached; the contiguous seq mark (syncedSeq)
// counts change seqs like message seqs. Pure functions over ChatState, used by the reducer.
import type { Message, MessageChange } from "./protocol";
import { changeSeqOf } from "./protocol";
import type { ChatState } from "./reducer";

/** At most this many detached message states are kept per chat (the oldest changes go first). */
export const MAX_DETACHED = 200;

export function lastSeqOf(messages: Message[]): number {
  return messages.length > 0 ? messages[messages.length - 1]!.seq : 0;
}

export function maxChangeSeq(messages: Message[]): number {
  let max = 0;
  for (const m of messages) max = Math.max(max, changeSeqOf(m));
  return max;
}

export function maxSeq(messages: Message[]): number {
  let max = 0;
  for (const m of messages) max = Math.max(max, m.seq);
  return max;
}

/**
 * Where a message state comes from, which says how much its reactions' `mine` can be trusted:
 * answers addressed to the user carry it exactly; live events (to every member) carry none.
 */
export type Knowledge = { exact: true } | { exact: false; change: MessageChange | null };

export const EXACT: Knowledge = { exact: true };
export const LIVE: Knowledge = { exact: false, change: null };

/**
 * `incoming` with `mine` set on each reaction. Exact answers say it (absent: derived from
 * userIds). For a live state: the user's own reaction change says it for its emoji; otherwise
 * userIds holding the user says yes, a complete userIds (as long as count) without them says
 * no, and else what was known before stays.
 */
export function withMine(incoming: Message, previous: Message | undefined, me: string | null, how: Knowledge): Message {
  const reactions = incoming.reactions;
  if (!reactions || reactions.length === 0) return incoming;
  const mineOf = (emoji: string, userIds: string[], count: number, given: boolean | undefined): boolean => {
    const listed = me !== null && userIds.includes(me);
    if (how.exact) return given ?? listed;
    const { change } = how;
    if (change && change.type === "react" && me !== null && change.userId === me && change.emoji === emoji) {
      return change.add !== false;
    }
    if (listed) return true;
    if (userIds.length >= count) return false;
    return previous?.reactions?.find((r) => r.emoji === emoji)?.mine ?? false;
  };
  let changed = false;
  const out = reactions.map((r) => {
    const mine = mineOf(r.emoji, r.userIds ?? [], r.count, r.mine);
    if (r.mine === mine) return r;
    changed = true;
    return { ...r, mine };
  });
  return changed ? { ...incoming, reactions: out } : incoming;
}

function sameMine(a: Message, b: Message): boolean {
  const ra = a.reactions ?? [];
  const rb = b.reactions ?? [];
  return ra.length === rb.length && ra.every((r, i) => r.emoji === rb[i]!.emoji && r.count === rb[i]!.count && !!r.mine === !!rb[i]!.mine);
}

/**
 * The state to keep of one message: the one with the higher changeSeq. At an equal changeSeq
 * the state held stays, unless an exact answer knows `mine` better.
 */
function newerState(held: Message, incoming: Message, me: string | null, how: Knowledge): Message {
  const a = changeSeqOf(held);
  const b = changeSeqOf(incoming);
  if (b < a) return held;
  const next = withMine(incoming, held, me, how);
  if (b === a && (!how.exact || sameMine(held, next))) return held;
  return next;
}

/**
 * Merge `incoming` into the sorted list, unique by seq and id, keeping per message the state
 * with the highest changeSeq; returns the same array when nothing changed.
 */
export function mergeMessages(existing: Message[], incoming: Message[], me: string | null = null, how: Knowledge = EXACT): Message[] {
  if (incoming.length === 0) return existing;
  const bySeq = new Map<number, Message>();
  const byId = new Map<string, Message>();
  for (const m of existing) {
    bySeq.set(m.seq, m);
    byId.set(m.id, m);
  }
  let changed = false;
  for (const m of incoming) {
    const held = byId.get(m.id);
    if (held) {
      // A message keeps its seq for life: another seq under the same id is not a state of it.
      if (held.seq !== m.seq) continue;
      const next = newerState(held, m, me, how);
      if (next !== held) {
        bySeq.set(held.seq, next);
        byId.set(m.id, next);
        changed = true;
      }
      continue;
    }
    if (bySeq.has(m.seq)) continue;
    const next = withMine(m, undefined, me, how);
    bySeq.set(m.seq, next);
    byId.set(m.id, next);
    changed = true;
  }
  if (!changed) return existing;
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** Merge into the chat's list, taking a newer detached state of an arriving message instead. */
export function mergeInto(chat: ChatState, incoming: Message[], me: string | null, how: Knowledge): ChatState {
  if (incoming.length === 0) return chat;
  let detached = chat.detached;
  const fresh: Message[] = [];
  const kept: Message[] = [];
  for (const m of incoming) {
    const d = detached[m.id];
    if (d) {
      if (detached === chat.detached) detached = { ...detached };
      delete detached[m.id];
      if (changeSeqOf(d) > changeSeqOf(m)) {
        kept.push(d);
        continue;
      }
    }
    fresh.push(m);
  }
  // A detached state already has its `mine` worked out: taken as it is.
  const messages = mergeMessages(mergeMessages(chat.messages, fresh, me, how), kept, me, EXACT);
  return messages === chat.messages && detached === chat.detached ? chat : { ...chat, messages, detached };
}

/** Is `seq` within the history held (a message there missing from the list was missed, not unloaded)? */
function inLoadedRange(chat: ChatState, seq: number): boolean {
  if (!chat.loaded) return false;
  const first = chat.messages[0];
  return !chat.hasOlder || (first !== undefined && seq >= first.seq);
}

/**
 * Current states of messages (changes, recovery updates): into the list when the message is
 * held or within the loaded history, else kept detached until the message arrives.
 */
export function applyStates(chat: ChatState, states: Message[], me: string | null, how: Knowledge): ChatState {
  if (states.length === 0) return chat;
  const held = new Set(chat.messages.map((m) => m.id));
  const toList = states.filter((m) => held.has(m.id) || inLoadedRange(chat, m.seq));
  let c = mergeInto(chat, toList, me, how);
  if (toList.length === states.length) return c;
  let detached = c.detached;
  for (const m of states) {
    if (held.has(m.id) || inLoadedRange(chat, m.seq)) continue;
    const before = detached[m.id];
    const next = before ? newerState(before, m, me, how) : withMine(m, undefined, me, how);
    if (next !== before) detached = { ...detached, [m.id]: next };
  }
  const ids = Object.keys(detached);
  if (ids.length > MAX_DETACHED) {
    const keep = ids.sort((a, b) => changeSeqOf(detached[b]!) - changeSeqOf(detached[a]!)).slice(0, MAX_DETACHED);
    detached = Object.fromEntries(keep.map((id) => [id, detached[id]!]));
  }
  if (detached !== c.detached) c = { ...c, detached };
  return c;
}

/**
 * Advance syncedSeq over the seqs known just above it (messages, and changes seen live); a
 * seq further ahead is a gap to fill with get_messages {afterSeq}.
 */
export function advanceSynced(chat: ChatState): ChatState {
  if (!chat.loaded) return chat;
  const ahead = new Set<number>();
  for (const m of chat.messages) if (m.seq > chat.syncedSeq) ahead.add(m.seq);
  for (const seq of chat.seenChangeSeqs) if (seq > chat.syncedSeq) ahead.add(seq);
  if (ahead.size === 0) return chat;
  let { syncedSeq, gap } = chat;
  // Seqs may legitimately skip numbers, so a jump is only a suspicion: one
  // get_messages {afterSeq: syncedSeq} settles it.
  for (const seq of [...ahead].sort((a, b) => a - b)) {
    if (seq === syncedSeq + 1) syncedSeq = seq;
    else {
      gap = true;
      break;
    }
  }
  if (syncedSeq === chat.syncedSeq && gap === chat.gap) return chat;
  return { ...chat, syncedSeq, gap, seenChangeSeqs: chat.seenChangeSeqs.filter((seq) => seq > syncedSeq) };
}

/** The chat is complete up to `syncedSeq`: forget the change seqs seen below it. */
export function settledAt(chat: ChatState, syncedSeq: number, gap: boolean): ChatState {
  const seenChangeSeqs = chat.seenChangeSeqs.some((seq) => seq <= syncedSeq)
    ? chat.seenChangeSeqs.filter((seq) => seq > syncedSeq)
    : chat.seenChangeSeqs;
  return { ...chat, syncedSeq, gap, seenChangeSeqs };
}

/** The highest seq of anything this client knows of the chat: messages, their changes, changes seen. */
export function highestKnownSeq(chat: ChatState): number {
  return Math.max(chat.syncedSeq, lastSeqOf(chat.messages), maxChangeSeq(chat.messages), ...chat.seenChangeSeqs);
}
