// The Markdown people type in chat, rendered safely and without a library.
// parseMarkdown(body) gives a plain tree ({tag, attrs, children} or a string),
// testable in Node without a DOM; toDom(tree, document) builds it with
// createElement / createTextNode / setAttribute only, so user text can only
// ever become text (raw HTML is shown as typed).
//
// Supported: paragraphs (line breaks kept), **bold**, *italic* and _italic_ (at
// word boundaries: 2*3*4 and snake_case stay as typed), ***both***, ~~strike~~,
// `code`, ``` fences (optional language), "> " quotes, "- " / "* " / "1. "
// lists, [text](http(s) URL) and bare http(s) URLs. Not: nested lists (indented
// items join the list), nested quotes, headings, images, tables, backslash
// escapes, link titles. Unclosed markers (and fences) stay literal text.
// Closers are paired with stacks and lookup tables, never by backtracking
// regexes or rescanning, so a 4000-character body costs (near) linear time.

/** Longest link destination looked at; caps the work per "](" (bodies are at most 4000 characters). */
const MAX_URL = 2048;
const LINK_REL = 'noopener noreferrer nofollow';
const COPY_LABEL = 'Copy';
const COPIED_LABEL = 'Copied';
const LANGUAGE = /^[\w+#.-]{1,32}$/;
const SPACE = /\s/;
const WORD_CHAR = /[\p{L}\p{N}]/u;

/** The only tags and attributes toDom will create, whatever tree it is given. */
const TAGS = new Set(['p', 'br', 'strong', 'em', 'del', 'code', 'pre', 'blockquote', 'ul', 'ol', 'li', 'a', 'div', 'button']);
const ATTRIBUTES = new Set(['class', 'href', 'rel', 'target', 'start', 'type', 'aria-label', 'data-md-copy', 'data-language']);
/** Text under these is not user prose: it never goes through the `text` callback (no @mentions in code or URLs). */
const VERBATIM = new Set(['code', 'pre', 'a', 'button']);

function el(tag, attrs = {}, children = []) {
  return { tag, attrs, children };
}

// ---- blocks -------------------------------------------------------------------

const FENCE = /^ {0,3}(`{3,})([^`]*)$/;
const FENCE_END = /^ {0,3}(`{3,})\s*$/;
const QUOTE = /^ {0,3}> ?/;
const BULLET = /^\s*[-*+] +(?=\S)/;
const NUMBER = /^\s*(\d{1,9})[.)] +(?=\S)/;

/** The tree of a message body: an array of block nodes. */
export function parseMarkdown(body) {
  const lines = String(body ?? '').replace(/\r\n?/g, '\n').split('\n');
  return blocks(lines, true);
}

const fenceEnd = (line) => FENCE_END.exec(line)?.[1].length ?? 0;

function listItem(line) {
  let match = BULLET.exec(line);
  if (match) return { ordered: false, text: line.slice(match[0].length) };
  match = NUMBER.exec(line);
  return match && { ordered: true, number: Number(match[1]), text: line.slice(match[0].length) };
}

/** Block nodes of `lines`; inside a quote (`quotes` false) a ">" is just text. */
function blocks(lines, quotes) {
  // later[i]: the longest closing fence below line i. An opener longer than
  // that is literal text, known without scanning ahead (keeps this linear).
  const later = new Array(lines.length).fill(0);
  for (let i = lines.length - 2; i >= 0; i -= 1) later[i] = Math.max(later[i + 1], fenceEnd(lines[i + 1]));
  const fenceAt = (i) => {
    const match = FENCE.exec(lines[i]);
    return match && later[i] >= match[1].length ? match : null;
  };
  const startsBlock = (i) => fenceAt(i) || (quotes && QUOTE.test(lines[i])) || listItem(lines[i]);
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = fenceAt(i);
    if (!line.trim()) {
      i += 1;
    } else if (fence) {
      let end = i + 1;
      while (fenceEnd(lines[end]) < fence[1].length) end += 1;
      out.push(codeBlock(lines.slice(i + 1, end).join('\n'), fence[2].trim().split(/\s+/)[0]));
      i = end + 1;
    } else if (quotes && QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && QUOTE.test(lines[i])) inner.push(lines[i++].replace(QUOTE, ''));
      out.push(el('blockquote', {}, blocks(inner, false)));
    } else if (listItem(line)) {
      const first = listItem(line);
      const items = [];
      for (let item = first; item && item.ordered === first.ordered; item = i < lines.length && listItem(lines[i])) {
        items.push(el('li', {}, inline(item.text)));
        i += 1;
      }
      const start = first.ordered && first.number !== 1 ? { start: String(first.number) } : {};
      out.push(el(first.ordered ? 'ol' : 'ul', start, items));
    } else {
      const paragraph = [line];
      for (i += 1; i < lines.length && lines[i].trim() && !startsBlock(i); i += 1) paragraph.push(lines[i]);
      out.push(el('p', {}, inline(paragraph.join('\n'))));
    }
  }
  return out;
}

/**
 * A fenced block: the app styles .md-code-block (scrolls sideways via .md-pre)
 * and wires the [data-md-copy] button, e.g. with handleCopyClick.
 */
function codeBlock(text, language) {
  const lang = LANGUAGE.test(language || '') ? language : '';
  const code = el('code', lang ? { class: `language-${lang}` } : {}, text ? [text] : []);
  const copy = el('button', { type: 'button', class: 'md-copy', 'data-md-copy': '', 'aria-label': 'Copy code' }, [COPY_LABEL]);
  return el('div', lang ? { class: 'md-code-block', 'data-language': lang } : { class: 'md-code-block' }, [el('pre', { class: 'md-pre' }, [code]), copy]);
}

// ---- inline -------------------------------------------------------------------

/**
 * Inline nodes of one paragraph or list item. Precedence as in CommonMark:
 * code spans, then links, then bare URLs, then emphasis around what is left.
 */
function inline(s) {
  const parts = { code: codeSpans(s) };
  parts.links = links(s, parts.code);
  parts.autos = autolinks(s, parts.code, parts.links);
  parts.emphasis = emphasis(s, parts);
  return build(s, 0, s.length, parts);
}

/** start -> {end, text}: a run of n backticks up to the next run of exactly n. */
function codeSpans(s) {
  const runs = [...s.matchAll(/`+/g)].map((match) => [match.index, match[0].length]);
  const next = [];
  const seen = new Map();
  for (let k = runs.length - 1; k >= 0; k -= 1) {
    next[k] = seen.get(runs[k][1]);
    seen.set(runs[k][1], k);
  }
  const spans = new Map();
  for (let k = 0; k < runs.length; k += 1) {
    if (next[k] === undefined) continue;
    const [start, length] = runs[k];
    const close = runs[next[k]][0];
    let text = s.slice(start + length, close).replace(/\n/g, ' ');
    if (text.length >= 2 && text[0] === ' ' && text.at(-1) === ' ' && text.trim()) text = text.slice(1, -1);
    spans.set(start, { end: close + length, text });
    k = next[k];
  }
  return spans;
}

/**
 * A safe href for `raw`, or null: only absolute http(s) URLs that the URL
 * parser accepts (so no javascript:, data:, relative or protocol-relative).
 */
export function safeHref(raw) {
  if (!/^https?:\/\//i.test(raw)) return null;
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

/**
 * '[' -> {mid: its ']', end, href} for [text](url). Brackets pair with a stack;
 * once a link forms, enclosing '[' are dropped, so links never nest.
 */
function links(s, code) {
  const found = new Map();
  const open = [];
  for (let i = 0; i < s.length; i += 1) {
    const span = code.get(i);
    if (span) i = span.end - 1;
    else if (s[i] === '[') open.push(i);
    else if (s[i] === ']' && open.length) {
      const start = open.pop();
      const dest = s[i + 1] === '(' && i > start + 1 ? destination(s, i + 2) : null;
      if (dest) {
        found.set(start, { mid: i, end: dest.end, href: dest.href });
        open.length = 0;
        i = dest.end - 1;
      }
    }
  }
  return found;
}

/** The URL of "(url)" starting at `from` (balanced parentheses allowed, no spaces). */
function destination(s, from) {
  let depth = 0;
  for (let i = from; i < s.length && i - from <= MAX_URL; i += 1) {
    const c = s[i];
    if (c === ')' && depth === 0) {
      const href = safeHref(s.slice(from, i));
      return href && { href, end: i + 1 };
    }
    if (SPACE.test(c) || c === '<' || c === '>' || c === '`') return null;
    if (c === '(') depth += 1;
    else if (c === ')') depth -= 1;
  }
  return null;
}

const URL_AT = /https?:\/\/[^\s<>"'`]+/iy;
const TRAILING = '.,;:!?)]}*_~';
const OPENER = { ')': '(', ']': '[', '}': '{' };

/** start -> {end, href} for bare http(s) URLs outside code and links. */
function autolinks(s, code, found) {
  const autos = new Map();
  for (let i = 0; i < s.length; i += 1) {
    const skip = code.get(i) || found.get(i);
    if (skip) i = skip.end - 1;
    if (skip || (s[i] !== 'h' && s[i] !== 'H') || /\w/.test(s[i - 1] || '')) continue;
    URL_AT.lastIndex = i;
    const match = URL_AT.exec(s);
    if (!match) continue;
    let end = i + match[0].length;
    for (let k = i + 1; k < end; k += 1) if (found.has(k)) end = k;
    end = trimUrl(s, i, end);
    const href = safeHref(s.slice(i, end));
    if (href) {
      autos.set(i, { end, href });
      i = end - 1;
    }
  }
  return autos;
}

/**
 * Sentence punctuation (or a closing emphasis marker) right after a URL is
 * rarely part of it; a closing bracket is, when the URL opened one
 * (Wikipedia-style). Counts are kept as it trims, so this stays linear.
 */
function trimUrl(s, start, end) {
  const count = { '(': 0, ')': 0, '[': 0, ']': 0, '{': 0, '}': 0 };
  for (let k = start; k < end; k += 1) if (s[k] in count) count[s[k]] += 1;
  while (end > start && TRAILING.includes(s[end - 1])) {
    const close = s[end - 1];
    if (OPENER[close]) {
      if (count[OPENER[close]] >= count[close]) break;
      count[close] -= 1;
    }
    end -= 1;
  }
  return end;
}

/**
 * opener position -> {length, close} for emphasis. Runs of *, _ and ~ pair
 * with the nearest open run of the same kind (a stack per link text, so
 * emphasis never crosses a link's brackets); runs skipped over stay literal.
 */
function emphasis(s, { code, links: found, autos }) {
  const pairs = new Map();
  const mids = new Map([...found.values()].map((link) => [link.mid, link]));
  const frames = [{ stack: [], count: {} }];
  for (let i = 0; i < s.length; ) {
    const skip = code.get(i) || autos.get(i);
    const mid = mids.get(i);
    if (skip) i = skip.end;
    else if (found.has(i)) {
      frames.push({ stack: [], count: {} });
      i += 1;
    } else if (mid) {
      frames.pop();
      i = mid.end;
    } else if ('*_~'.includes(s[i])) {
      let j = i;
      while (s[j] === s[i]) j += 1;
      delimiter(s, i, j - i, frames.at(-1), pairs);
      i = j;
    } else i += 1;
  }
  return pairs;
}

function delimiter(s, i, length, frame, pairs) {
  const c = s[i];
  if (length > 3 || (c === '~' && length !== 2) || (c === '_' && length !== 1)) return;
  const key = c + length;
  const before = s[i - 1] || ' ';
  const after = s[i + length] || ' ';
  // Single * and _ only open and close at word boundaries.
  const word = key === '*1' || key === '_1';
  const canOpen = !SPACE.test(after) && !(word && WORD_CHAR.test(before));
  const canClose = !SPACE.test(before) && !(word && WORD_CHAR.test(after));
  if (canClose && frame.count[key]) {
    let top;
    while ((top = frame.stack.pop()).key !== key) frame.count[top.key] -= 1;
    frame.count[key] -= 1;
    pairs.set(top.at, { length, close: i });
  } else if (canOpen) {
    frame.stack.push({ at: i, key });
    frame.count[key] = (frame.count[key] || 0) + 1;
  }
}

const LINK_ATTRS = (href) => ({ href, rel: LINK_REL, target: '_blank' });

/** The nodes of s[from, to), given what inline() found. */
function build(s, from, to, parts) {
  const out = [];
  let textStart = from;
  const flush = (i) =>
    s.slice(textStart, i).split('\n').forEach((line, n) => {
      if (n > 0) out.push(el('br'));
      if (line) out.push(line);
    });
  for (let i = from; i < to; ) {
    const code = parts.code.get(i);
    const link = parts.links.get(i);
    const auto = parts.autos.get(i);
    const pair = parts.emphasis.get(i);
    if (!code && !link && !auto && !pair) {
      i += 1;
      continue;
    }
    flush(i);
    if (code) out.push(el('code', { class: 'md-inline-code' }, [code.text]));
    else if (link) out.push(el('a', LINK_ATTRS(link.href), build(s, i + 1, link.mid, parts)));
    else if (auto) out.push(el('a', LINK_ATTRS(auto.href), [s.slice(i, auto.end)]));
    else out.push(emphasisNode(s[i] + pair.length, build(s, i + pair.length, pair.close, parts)));
    i = code?.end ?? link?.end ?? auto?.end ?? pair.close + pair.length;
    textStart = i;
  }
  flush(to);
  return out;
}

function emphasisNode(key, children) {
  if (key === '~2') return el('del', {}, children);
  if (key === '*3') return el('strong', {}, [el('em', {}, children)]);
  return key === '*2' ? el('strong', {}, children) : el('em', {}, children);
}

// ---- output -------------------------------------------------------------------

/**
 * DOM nodes (an array) for a tree from parseMarkdown. Options: `text(string)`
 * returns an array of nodes or strings to use for a piece of prose (e.g. to
 * highlight @mentions); it is not called for text in code, links or buttons.
 * Only the tags and attributes above are created; anything else throws.
 */
export function toDom(tree, document, { text } = {}) {
  return tree.flatMap((node) => domNode(node, document, text));
}

function domNode(node, document, text) {
  if (typeof node === 'string') {
    const pieces = text ? text(node) : [node];
    return pieces.map((piece) => (typeof piece === 'string' ? document.createTextNode(piece) : piece));
  }
  if (!TAGS.has(node.tag)) throw new Error(`markdown: tag not allowed: ${node.tag}`);
  const element = document.createElement(node.tag);
  for (const [name, value] of Object.entries(node.attrs || {})) {
    if (!ATTRIBUTES.has(name) || (name === 'href' && !safeHref(value))) throw new Error(`markdown: attribute not allowed: ${name}`);
    element.setAttribute(name, value);
  }
  const inner = VERBATIM.has(node.tag) ? undefined : text;
  for (const child of node.children || []) for (const dom of domNode(child, document, inner)) element.appendChild(dom);
  return [element];
}

/** parseMarkdown then toDom: the nodes of a message body. */
export function renderMarkdown(body, document, options) {
  return toDom(parseMarkdown(body), document, options);
}

/**
 * The words of a body without markup, blocks and line breaks as "\n" (callers
 * that want one line collapse whitespace): for previews, notifications, search.
 */
export function plainText(body) {
  return textOf(parseMarkdown(body)).replace(/\n{2,}/g, '\n').trim();
}

function textOf(nodes) {
  let out = '';
  for (const node of nodes) {
    if (typeof node === 'string') out += node;
    else if (node.tag === 'br') out += '\n';
    else if (node.tag !== 'button') out += textOf(node.children) + (/^(p|li|pre|blockquote|ul|ol|div)$/.test(node.tag) ? '\n' : '');
  }
  return out;
}

/**
 * A click handler for a message list (one listener for all code blocks): a
 * click on a [data-md-copy] button copies its block's code. Returns the
 * clipboard promise (true when copied), or null when the click was elsewhere.
 */
export function handleCopyClick(event, clipboard = globalThis.navigator?.clipboard) {
  const button = event.target?.closest?.('[data-md-copy]');
  const code = button?.parentElement?.querySelector('pre code');
  if (!code || !clipboard) return null;
  const copied = () => {
    button.textContent = COPIED_LABEL;
    setTimeout(() => (button.textContent = COPY_LABEL), 1500);
    return true;
  };
  return clipboard.writeText(code.textContent).then(copied, () => false);
}
