// Mentions in message text: `@name` for the names the server found (a
// message's `mentions`) and `@channel` when it says `mentions_channel`. Only
// those are highlighted: an `@word` the server did not take (not a member, an
// email address) stays plain, exactly as the server counted it. The split is
// pure (mentionSegments); mentionNodes turns one run of prose into text and
// <span> elements for markdown.js, which calls it for prose only (never code
// or links), so text stays text.

/**
 * `text` cut into [{text, mention}] pieces whose concatenation is `text`;
 * `mention` is the name (as in `names`, or 'channel') of a highlighted piece.
 */
export function mentionSegments(text, names = [], channel = false) {
  const wanted = new Map(names.map((name) => [name.toLowerCase(), name]));
  if (channel) wanted.set('channel', 'channel');
  const segments = [];
  if (!wanted.size) return text ? [{ text, mention: null }] : [];
  let last = 0;
  // An @ at the start or after a non-word character, then a name's characters.
  for (const match of text.matchAll(/(^|[^A-Za-z0-9_.@-])@([A-Za-z0-9_.-]+)/g)) {
    const start = match.index + match[1].length;
    let name = match[2];
    // Trailing sentence punctuation is not part of a name ("@bob." ends a sentence).
    let known = wanted.get(name.toLowerCase());
    while (!known && /[.-]$/.test(name)) {
      name = name.slice(0, -1);
      known = wanted.get(name.toLowerCase());
    }
    if (!known) continue;
    if (start > last) segments.push({ text: text.slice(last, start), mention: null });
    segments.push({ text: `@${name}`, mention: known });
    last = start + 1 + name.length;
  }
  if (last < text.length) segments.push({ text: text.slice(last), mention: null });
  return segments;
}

/** The pieces of one run of prose: strings, and <span class="mention"> for the mentions (for markdown.js's `text` option). */
export function mentionNodes(text, message, me) {
  const names = message.mentions || [];
  if (!names.length && !message.mentions_channel) return [text];
  return mentionSegments(text, names, message.mentions_channel).map((segment) => {
    if (!segment.mention) return segment.text;
    const span = document.createElement('span');
    const mine = segment.mention === 'channel' || (me && segment.mention.toLowerCase() === me.toLowerCase());
    span.className = mine ? 'mention mention-me' : 'mention';
    span.textContent = segment.text;
    return span;
  });
}
