// Dates, names and sizes turned into the short labels people read: clock times,
// day separators, "3 h ago", "X is typing...", "3.4 MB". Pure functions; the
// user's locale decides formats.

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const dayYearFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

export function clockTime(ts) {
  return timeFormat.format(new Date(ts));
}

export function fullTime(ts) {
  return fullFormat.format(new Date(ts));
}

/** The local calendar day of a timestamp, as a sortable key. */
export function dayKey(ts) {
  const date = new Date(ts);
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`;
}

export function dayLabel(ts, now = Date.now()) {
  const key = dayKey(ts);
  if (key === dayKey(now)) return 'Today';
  const yesterday = new Date(now);
  yesterday.setDate(yesterday.getDate() - 1);
  if (key === dayKey(yesterday.getTime())) return 'Yesterday';
  const date = new Date(ts);
  return date.getFullYear() === new Date(now).getFullYear() ? dayFormat.format(date) : dayYearFormat.format(date);
}

/**
 * How long ago a moment was, as people say it in a list ("just now", "5 min
 * ago", "3 h ago", "2 d ago"; a date once it is a month old); "never" for no
 * moment at all (an account that has never signed in). A clock a little
 * ahead of ours reads as "just now", not as the future.
 */
export function relativeTime(ts, now = Date.now()) {
  if (ts == null) return 'never';
  const minutes = Math.floor(Math.max(0, now - ts) / 60000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  if (days < 30) return `${days} d ago`;
  return dateFormat.format(new Date(ts));
}

/**
 * How long until a moment, as people say it ("in 5 min", "in 3 h", "in 7 d");
 * "now" once it has come. The counterpart of relativeTime for what ends later.
 */
export function timeUntil(ts, now = Date.now()) {
  const minutes = Math.ceil((ts - now) / 60000);
  if (minutes <= 0) return 'now';
  if (minutes < 60) return `in ${minutes} min`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `in ${hours} h`;
  return `in ${Math.round(hours / 24)} d`;
}

/**
 * A file's size as people read it: "512 bytes", "12 KB", "3.4 MB", "1.2 GB"
 * (steps of 1024; one decimal below ten units, none above).
 */
export function humanSize(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return '';
  if (bytes < 1024) return `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  // 9.96 KB would round up to "10.0 KB": decide the decimals after rounding.
  const shown = value < 10 ? Math.round(value * 10) / 10 : Math.round(value);
  return `${shown < 10 ? shown.toFixed(1) : String(shown)} ${units[unit]}`;
}

export function typingText(users) {
  if (users.length === 0) return '';
  if (users.length === 1) return `${users[0]} is typing…`;
  if (users.length === 2) return `${users[0]} and ${users[1]} are typing…`;
  return 'Several people are typing…';
}

/** A stable small number per name, so each person keeps one avatar colour. */
export function colourIndex(name, buckets = 8) {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return hash % buckets;
}

/** The first letter of a name (a whole code point, so emoji stay intact). */
export function initial(name) {
  const first = [...name][0] || '?';
  return first.toUpperCase();
}

/**
 * A channel's name as shown in running text: with one leading "#", however the
 * name was stored ("design" and "#design" both read "#design", never "##design").
 */
export function channelLabel(name) {
  return name.startsWith('#') ? name : `#${name}`;
}
