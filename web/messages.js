// One channel's messages as this client holds them: one copy per seq, in seq
// order, the newest the server has shown; and where a reconnect resumes. Plain
// functions on the store's channel objects; no events, no DOM, no socket.
//
// Invariants kept here:
// - A channel's messages are sorted by `seq` and hold each `seq` once, however
//   often the server (replay after reconnect, history pages, ack + message,
//   updates) sends it.
// - Per seq the copy with the highest `rev` is kept (docs/protocol.md,
//   "Messages that change"): `message`, `update`, `changed`, history pages and
//   replays may arrive in any order and still end in the same state. A copy
//   built from my own `ack` has no rev and gives way to any copy from the server.
// - The resume point (`streamSeq`) is the highest seq up to which every
//   message from the first page held on was received from the server (live or
//   replayed `message` frames, history pages), with no hole. It is not simply the
//   newest seq held: a copy built from my own `ack` may come before the `message`
//   frames of earlier seqs (the server writes the ack first), and a live message
//   may skip seqs; resuming from either would skip messages for good.
// - The resume rev (`streamRev`) is the highest rev of the `message` and
//   `update` frames received on the stream (live or replayed, which the server
//   sends in rev order) and of the first page. Older pages, gap pages and
//   `changed` replies do not move it: they may show a change whose predecessors
//   are still on their way, and resuming after it would skip those for good.
//   Resuming from too low a rev costs only repeated updates, which the merge
//   rule ignores.

export function newestSeq(channel) {
  const last = channel.messages[channel.messages.length - 1];
  return last ? last.seq : 0;
}

export function oldestSeq(channel) {
  return channel.messages.length ? channel.messages[0].seq : null;
}

/** The newest seq held as the server sent it (ack-built copies not counted). */
export function newestReceivedSeq(channel) {
  for (let i = channel.messages.length - 1; i >= 0; i -= 1) {
    const { seq } = channel.messages[i];
    if (!channel.ackOnly.has(seq)) return seq;
  }
  return 0;
}

/** The oldest seq held as the server sent it (0 when none is). */
export function heldFrom(channel) {
  for (const { seq } of channel.messages) if (!channel.ackOnly.has(seq)) return seq;
  return 0;
}

/**
 * Where a reconnect resumes a channel (`hello`'s resume value): `seq`, the last
 * seq received without a hole; `rev`, the last change received on the stream;
 * `held_from`, the oldest seq held, so the server replays the changes of every
 * message shown and of none that is not.
 */
export function resumePoint(channel) {
  return { seq: channel.streamSeq, rev: channel.streamRev, held_from: heldFrom(channel) };
}

/** Empties a channel of messages and everything that follows from holding them. */
export function dropMessages(channel) {
  channel.messages = [];
  channel.bySeq.clear();
  channel.ackOnly.clear();
  channel.streamSeq = 0;
  channel.streamRev = 0;
  channel.earlyUpdates = [];
}

/**
 * Whether a loaded channel keeps a copy of the message at `seq` (an update, a
 * `changed` reply): not below the oldest held while older ones exist, since
 * "Load older" asks for what lies below the oldest held and would skip the rest.
 */
export function wanted(channel, seq) {
  if (channel.bySeq.has(seq) || !channel.hasMore) return true;
  const oldest = oldestSeq(channel);
  return oldest == null || seq >= oldest;
}

/**
 * Merges messages into a channel, keeping seq order and one copy per seq: the
 * one with the highest rev (the server's over one built from my ack). Returns
 * whether anything changed.
 * `fromAck`: the copies were built from my ack, not sent by the server.
 */
export function insertMessages(channel, messages, { fromAck = false } = {}) {
  let changed = false;
  let appendOnly = true;
  for (const { type, ...message } of messages) {
    const existing = channel.bySeq.get(message.seq);
    if (existing) {
      // Same seq seen again (replay, ack then message, an update): keep one
      // copy, the server's newest. Equal revs are the same state; taking the
      // later copy keeps the server's fields over an ack-built copy's.
      if (fromAck) continue;
      if (!channel.ackOnly.has(message.seq) && (message.rev ?? 0) < (existing.rev ?? 0)) continue;
      // The same object stays (the list holds it), with exactly the new fields.
      for (const key of Object.keys(existing)) if (!(key in message)) delete existing[key];
      Object.assign(existing, message);
      channel.ackOnly.delete(message.seq);
      changed = true;
      continue;
    }
    if (fromAck) channel.ackOnly.add(message.seq);
    const copy = { ...message };
    channel.bySeq.set(copy.seq, copy);
    const last = channel.messages[channel.messages.length - 1];
    if (!last || last.seq < copy.seq) channel.messages.push(copy);
    else {
      channel.messages.push(copy);
      appendOnly = false;
    }
    changed = true;
  }
  if (!appendOnly) channel.messages.sort((a, b) => a.seq - b.seq);
  return changed;
}

/** Moves the resume point over every following seq received from the server. */
export function advanceStream(channel) {
  let seq = channel.streamSeq;
  while (channel.bySeq.has(seq + 1) && !channel.ackOnly.has(seq + 1)) seq += 1;
  channel.streamSeq = seq;
}

// ---- what a message shows beyond its text --------------------------------------
//
// Reactions and reply quotes are read from the copy held (the merge rule keeps
// the newest), with my own requests not yet answered laid over them, like edits.

/** The key of my reaction request for one emoji of one message. */
export function reactionKey(seq, emoji) {
  return `${seq}\u0000${emoji}`;
}

/**
 * A message's reactions as shown to `me`: each {emoji, count, users, mine},
 * in the server's order. `mine` is whether my name is in `users` (the server
 * lists the first 50 who reacted; past them, a reaction of mine still waiting
 * says so). `waiting` maps reactionKey -> {add} for my requests not yet answered:
 * they are shown at once, as the state I asked for.
 */
export function shownReactions(message, me, waiting = new Map()) {
  const shown = (message.reactions || []).map((reaction) => ({
    emoji: reaction.emoji,
    count: reaction.count,
    users: [...(reaction.users || [])],
    mine: Boolean(me && (reaction.users || []).includes(me)),
  }));
  for (const request of waiting.values()) {
    if (request.seq !== message.seq) continue;
    let reaction = shown.find((r) => r.emoji === request.emoji);
    if (request.add && !reaction) {
      reaction = { emoji: request.emoji, count: 0, users: [], mine: false };
      shown.push(reaction);
    }
    if (!reaction || reaction.mine === request.add) continue;
    reaction.mine = request.add;
    reaction.count += request.add ? 1 : -1;
    reaction.users = request.add ? [...reaction.users, me] : reaction.users.filter((name) => name !== me);
  }
  return shown.filter((reaction) => reaction.count > 0);
}

/** Names listed in a reaction's title before "and N others". */
export const REACTION_NAMES_SHOWN = 10;

/** Who reacted, for a chip's title: "alice, bob and 3 others reacted with 👍". */
export function reactionTitle(reaction) {
  const names = reaction.users.slice(0, REACTION_NAMES_SHOWN);
  const others = reaction.count - names.length;
  let who = names.join(', ');
  if (others > 0) who = names.length ? `${who} and ${others} other${others === 1 ? '' : 's'}` : `${others} ${others === 1 ? 'person' : 'people'}`;
  return `${who} reacted with ${reaction.emoji}`;
}

/**
 * The quote above a reply: {seq, sender, text, deleted, held}. When the parent
 * is held, its current text (so the quote follows edits and deletion); else
 * the server's excerpt, as it stood when the reply was read. Null for a
 * message that is no reply.
 */
export function replyQuote(channel, message) {
  const parent = message.reply_to;
  if (!parent) return null;
  const held = channel.bySeq.get(parent.seq);
  if (held) {
    // A message of files alone is quoted by their names.
    const firstLine = (held.body || (held.files || []).map((file) => file.name).join(', ')).split('\n')[0];
    return { seq: parent.seq, sender: held.sender, text: held.deleted ? '' : [...firstLine].slice(0, 100).join(''), deleted: Boolean(held.deleted), held: true };
  }
  return { seq: parent.seq, sender: parent.sender, text: parent.deleted ? '' : parent.excerpt || '', deleted: Boolean(parent.deleted), held: false };
}

/** Whether a message mentions `me`: by name or @channel, and not my own. */
export function mentionsMe(message, me) {
  if (!me || message.sender === me || message.system || message.deleted) return false;
  return Boolean(message.mentions_channel || (message.mentions || []).some((name) => name.toLowerCase() === me.toLowerCase()));
}

/** Whether a live message adds to a channel's unread count: someone else's chat, not deleted. */
export function countsAsUnread(message, me) {
  return !message.system && !message.deleted && message.sender !== me;
}
