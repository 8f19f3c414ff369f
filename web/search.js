// What the search box knows without the DOM: which of my channels and people
// the typed text names (the quick switcher), where a hit's excerpt starts and
// which of its pieces the query matched, and one message search paged by the
// server's cursor. search-panel.js turns these into elements; they are pure
// (or speak only through the request function they are given) so Node tests
// can check them.

import { channelLabel, clockTime, dayKey, dayLabel } from './format.js';
import { SEARCH_QUERY_MAX_BYTES, USERNAME_PATTERN, USERNAME_MAX, errorText, frames } from './protocol.js';

/** Channels and people the quick switcher lists, at most, each. */
export const SWITCH_MAX = 6;
/** A body longer than this (UTF-16 units) is cut to an excerpt around its first match. */
export const EXCERPT_MAX = 280;
/** How much of the text before the first match an excerpt keeps. */
const EXCERPT_LEAD = 60;

// ---- the quick switcher ---------------------------------------------------------

/**
 * Whether the text uses the query syntax (a filter, a phrase, an exclusion):
 * then it is a message search, never a channel or person to switch to.
 */
export function isQuerySyntax(text) {
  return /(^|\s)(from|in|before|after|on|has|is):\S/i.test(text) || text.includes('"') || /(^|\s)-\S/.test(text);
}

/** Ranks `name` for `text`: 0 starts with it, 1 a word of it does, 2 contains it, -1 not at all. */
function rank(name, text) {
  const lower = name.toLocaleLowerCase();
  if (lower.startsWith(text)) return 0;
  const at = lower.indexOf(text);
  if (at === -1) return -1;
  return /[\s_.\-#@]/.test(lower[at - 1]) ? 1 : 2;
}

/**
 * What the typed text names among my channels and the people given (the
 * directory's answer): `{channels, people}`, best first. A channel entry is
 * {id, name, kind, archived, rank}; a person {name, dm (the id of our conversation, or
 * null), rank}. My DMs count as people, not channels. A leading # asks only
 * for channels, a leading @ only for people.
 */
export function switchMatches(store, typed, directory = []) {
  let text = typed.trim().toLocaleLowerCase();
  if (!text || isQuerySyntax(text)) return { channels: [], people: [] };
  const only = text[0] === '#' ? 'channels' : text[0] === '@' ? 'people' : null;
  if (only) text = text.slice(1);
  const me = store.me?.name;
  const channels = [];
  const people = new Map();
  for (const channel of store.channels.values()) {
    const name = store.displayName(channel);
    const at = text ? rank(name, text) : 0;
    if (at < 0) continue;
    if (channel.kind === 'dm') people.set(name, { name, dm: channel.id, rank: at });
    // Archived channels stay reachable here (their history is readable), marked as such.
    else channels.push({ id: channel.id, name, kind: channel.kind, archived: Boolean(channel.archived), rank: at });
  }
  for (const user of directory) {
    if (user.name === me || people.has(user.name)) continue;
    const at = text ? rank(user.name, text) : 0;
    if (at >= 0) people.set(user.name, { name: user.name, dm: null, rank: at });
  }
  const byRank = (a, b) => a.rank - b.rank || a.name.localeCompare(b.name, undefined, { sensitivity: 'base' });
  return {
    channels: only === 'people' ? [] : channels.sort(byRank).slice(0, SWITCH_MAX),
    people: only === 'channels' ? [] : [...people.values()].sort(byRank).slice(0, SWITCH_MAX),
  };
}

/** The prefix to ask the directory for, or '' when the text cannot start a username. */
export function directoryPrefix(typed) {
  const text = typed.trim().replace(/^@/, '');
  if (!text || text.startsWith('#') || isQuerySyntax(text)) return '';
  return text.length <= USERNAME_MAX && USERNAME_PATTERN.test(text) ? text : '';
}

// ---- hits -------------------------------------------------------------------------

/**
 * The server's highlight ranges made safe to use: whole numbers inside the
 * text, non-empty, in order, without overlaps (an overlapping one is merged).
 */
export function cleanRanges(text, ranges) {
  const clean = [];
  const valid = (Array.isArray(ranges) ? ranges : [])
    .filter((r) => Array.isArray(r) && Number.isInteger(r[0]) && Number.isInteger(r[1]))
    .map(([start, end]) => [Math.max(0, start), Math.min(text.length, end)])
    .filter(([start, end]) => start < end)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const [start, end] of valid) {
    const last = clean[clean.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else clean.push([start, end]);
  }
  return clean;
}

/** Moves an index off the second half of a surrogate pair, so no emoji is cut in two. */
function onCodePoint(text, index, step) {
  const code = text.charCodeAt(index);
  if (index > 0 && index < text.length && code >= 0xdc00 && code <= 0xdfff) return index + step;
  return index;
}

/**
 * The part of a hit's body to show: all of a short one; of a long one, a
 * stretch from a little before the first match. Line breaks read as spaces
 * (one unit each, so the ranges still fit). Returns {segments, cutStart,
 * cutEnd}: segments [{text, mark}] in order, whose texts make up the
 * excerpt; `mark` for the pieces the query matched.
 */
export function excerpt(body, ranges, max = EXCERPT_MAX) {
  const text = String(body ?? '').replace(/[\r\n\t]/g, ' ');
  const clean = cleanRanges(text, ranges);
  let start = 0;
  let end = text.length;
  if (text.length > max) {
    const first = clean.length ? clean[0][0] : 0;
    const from = Math.max(0, Math.min(first - EXCERPT_LEAD, text.length - max));
    start = onCodePoint(text, from, -1);
    end = onCodePoint(text, Math.min(text.length, from + max), 1);
    // Start at a word where one begins before the match, not in the middle of one.
    if (start > 0 && text[start - 1] !== ' ') {
      const space = text.indexOf(' ', start);
      if (space !== -1 && space < first) start = space + 1;
    }
  }
  const segments = [];
  let at = start;
  for (const [from, to] of clean) {
    const a = Math.max(from, start);
    const b = Math.min(to, end);
    if (a >= b) continue;
    if (a > at) segments.push({ text: text.slice(at, a), mark: false });
    segments.push({ text: text.slice(a, b), mark: true });
    at = b;
  }
  if (at < end) segments.push({ text: text.slice(at, end), mark: false });
  return { segments, cutStart: start > 0, cutEnd: end < text.length };
}

const shortDate = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const shortDateYear = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });

/** When a hit was sent, short: "Today 10:42", "Yesterday 10:42", "Mar 3, 10:42", "Mar 3, 2024, 10:42". */
export function hitTime(ts, now = Date.now()) {
  const label = dayLabel(ts, now);
  const clock = clockTime(ts);
  if (label === 'Today' || label === 'Yesterday') return `${label} ${clock}`;
  const date = new Date(ts);
  const sameYear = dayKey(ts).slice(0, 4) === dayKey(now).slice(0, 4);
  return `${(sameYear ? shortDate : shortDateYear).format(date)}, ${clock}`;
}

/** Where a hit was said: "#channel", or "@person" for a DM; the id when it is not one of mine. */
export function hitPlace(store, channelId) {
  const channel = store.channel(channelId);
  if (!channel) return `#${channelId}`;
  return channel.kind === 'dm' ? `@${store.displayName(channel)}` : channelLabel(channel.name);
}

// ---- one message search, page by page ------------------------------------------------

/** What a refused search says, in the panel. */
const SEARCH_ERROR_TEXT = {
  not_found: 'There is no such channel or conversation to search in.',
  not_member: 'Join that channel to search it.',
  unknown_user: 'No one has that name.',
  rate_limited: 'Too many searches in a short time. Wait a moment and try again.',
};

export function searchErrorText(code, message) {
  if (code === 'invalid_query') return `That search cannot run: ${message || 'check the words and filters.'}`;
  return SEARCH_ERROR_TEXT[code] || errorText(code, message);
}

/** Why a query cannot be sent as it is, or '' when it can. */
export function queryProblem(query) {
  if (!query.trim()) return 'Type something to search for.';
  if (new TextEncoder().encode(query).length > SEARCH_QUERY_MAX_BYTES) return 'That search is too long.';
  return '';
}

/**
 * One search, page after page (the server's `next` as the cursor). Answers
 * that arrive after a new search started are dropped, so a slow first page
 * never shows under a newer query.
 */
export class MessageSearch {
  /**
   * @param {(frame: object) => Promise<object>} request
   * @param {() => number} utcOffset minutes east of UTC, for the query's dates
   */
  constructor(request, utcOffset = () => -new Date().getTimezoneOffset()) {
    this.request = request;
    this.utcOffset = utcOffset;
    this.generation = 0;
    this.reset('');
  }

  reset(query) {
    this.generation += 1;
    this.query = query;
    this.hits = [];
    this.seen = new Set();
    this.next = null;
    this.done = false;
    this.loading = false;
    this.error = '';
  }

  /** Whether there is a page after those shown. */
  get hasMore() {
    return !this.done && this.next != null;
  }

  /** Starts a search for `query` and fetches its first page; resolves true when it is still current. */
  run(query) {
    this.reset(query);
    const problem = queryProblem(query);
    if (problem) {
      this.error = problem;
      this.done = true;
      return Promise.resolve(true);
    }
    return this.fetch(null);
  }

  /** Fetches the page after those shown; resolves true when this search is still current. */
  more() {
    if (!this.hasMore || this.loading) return Promise.resolve(true);
    return this.fetch(this.next);
  }

  async fetch(cursor) {
    const generation = this.generation;
    this.loading = true;
    this.error = '';
    try {
      const reply = await this.request(frames.search(this.query, cursor, this.utcOffset()));
      if (generation !== this.generation) return false;
      for (const hit of reply.hits || []) {
        const key = `${hit.message.channel}:${hit.message.seq}`;
        if (this.seen.has(key)) continue;
        this.seen.add(key);
        this.hits.push(hit);
      }
      this.next = reply.next ?? null;
      this.done = this.next == null;
      return true;
    } catch (failure) {
      if (generation !== this.generation) return false;
      this.error = searchErrorText(failure.code, failure.message);
      return true;
    } finally {
      if (generation === this.generation) this.loading = false;
    }
  }
}
