// The chat Markdown renderer (web/markdown.js), checked in plain Node on its
// tree and through a fake document that only has the DOM calls it may use:
// every construct, nesting, code that suppresses parsing, unclosed markers
// left literal, only http(s) links, an XSS corpus that can only become text or
// safe elements, plainText, and a guard against super-linear blow-ups. One
// last test renders the corpus in Chromium and checks that nothing runs.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { handleCopyClick, parseMarkdown, plainText, renderMarkdown, safeHref, toDom } from '../../web/markdown.js';

const MODULE_PATH = fileURLToPath(new URL('../../web/markdown.js', import.meta.url));

// ---- helpers --------------------------------------------------------------------

const TAGS = new Set(['p', 'br', 'strong', 'em', 'del', 'code', 'pre', 'blockquote', 'ul', 'ol', 'li', 'a', 'div', 'button']);
const ATTRIBUTES = new Set(['class', 'href', 'rel', 'target', 'start', 'type', 'aria-label', 'data-md-copy', 'data-language']);
const CLASSES = /^(md-inline-code|md-code-block|md-pre|md-copy|language-[\w+#.-]+)$/;

/** Fails unless every node of `tree` is text or an allowed element with allowed, safe attributes. */
function assertSafe(tree, what) {
  for (const node of tree) {
    if (typeof node === 'string') continue;
    assert.ok(TAGS.has(node.tag), `${what}: tag <${node.tag}> is not allowed`);
    for (const [name, value] of Object.entries(node.attrs)) {
      assert.ok(ATTRIBUTES.has(name), `${what}: attribute ${name} is not allowed`);
      assert.equal(typeof value, 'string', `${what}: attribute ${name} is a string`);
      if (name === 'href') {
        assert.equal(node.tag, 'a');
        assert.match(value, /^https?:\/\/[^\s"<>`]+$/, `${what}: href ${value}`);
        assert.ok(['http:', 'https:'].includes(new URL(value).protocol), `${what}: href scheme of ${value}`);
      }
      if (name === 'class') assert.match(value, CLASSES, `${what}: class ${value}`);
      if (name === 'start') assert.match(value, /^\d+$/);
      if (name === 'rel') assert.equal(value, 'noopener noreferrer nofollow');
      if (name === 'target') assert.equal(value, '_blank');
    }
    if (node.tag === 'a') assert.ok(node.attrs.href && node.attrs.rel && node.attrs.target, `${what}: a link has href, rel and target`);
    assertSafe(node.children, what);
  }
}

/** The one block of a one-paragraph body, unwrapped: its inline children. */
function inline(body) {
  const tree = parseMarkdown(body);
  assert.equal(tree.length, 1, `one block for ${JSON.stringify(body)}`);
  assert.equal(tree[0].tag, 'p');
  return tree[0].children;
}

const el = (tag, attrs, ...children) => ({ tag, attrs, children });
const link = (href, ...children) => el('a', { href, rel: 'noopener noreferrer nofollow', target: '_blank' }, ...children);

/** Elements of a fake document: the DOM calls toDom may use, and traps for those it must not. */
class FakeElement {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.attributes = new Map();
    this.childNodes = [];
  }
  setAttribute(name, value) {
    this.attributes.set(name, String(value));
  }
  appendChild(child) {
    this.childNodes.push(child);
    return child;
  }
  set innerHTML(_) {
    throw new Error('innerHTML used');
  }
  set outerHTML(_) {
    throw new Error('outerHTML used');
  }
  insertAdjacentHTML() {
    throw new Error('insertAdjacentHTML used');
  }
  get textContent() {
    return this.childNodes.map((child) => (child instanceof FakeElement ? child.textContent : child.data)).join('');
  }
}

const fakeDocument = {
  createElement: (tag) => new FakeElement(tag),
  createTextNode: (data) => ({ nodeType: 3, data }),
};

/** A compact picture of fake DOM nodes, to compare with the tree. */
function shape(nodes) {
  return nodes.map((node) =>
    node instanceof FakeElement ? { tag: node.tagName.toLowerCase(), attrs: Object.fromEntries(node.attributes), children: shape(node.childNodes) } : node.data,
  );
}

// ---- constructs -----------------------------------------------------------------

test('a plain body is one paragraph of its own text, line breaks kept', () => {
  assert.deepEqual(parseMarkdown('hello world'), [el('p', {}, 'hello world')]);
  assert.deepEqual(inline('one\ntwo\r\nthree'), ['one', el('br', {}), 'two', el('br', {}), 'three']);
  assert.deepEqual(parseMarkdown('first\n\n\nsecond'), [el('p', {}, 'first'), el('p', {}, 'second')]);
  assert.deepEqual(parseMarkdown(''), []);
  assert.deepEqual(parseMarkdown('   \n  '), []);
});

test('bold, italic, bold italic, strikethrough and inline code', () => {
  assert.deepEqual(inline('a **bold** b'), ['a ', el('strong', {}, 'bold'), ' b']);
  assert.deepEqual(inline('a *it* b'), ['a ', el('em', {}, 'it'), ' b']);
  assert.deepEqual(inline('a _it_ b'), ['a ', el('em', {}, 'it'), ' b']);
  assert.deepEqual(inline('***both***'), [el('strong', {}, el('em', {}, 'both'))]);
  assert.deepEqual(inline('~~gone~~ now'), [el('del', {}, 'gone'), ' now']);
  assert.deepEqual(inline('run `npm test` now'), ['run ', el('code', { class: 'md-inline-code' }, 'npm test'), ' now']);
  assert.deepEqual(inline('``a ` b``'), [el('code', { class: 'md-inline-code' }, 'a ` b')]);
  assert.deepEqual(inline('(**a**, *b*.)'), ['(', el('strong', {}, 'a'), ', ', el('em', {}, 'b'), '.)']);
  assert.deepEqual(inline('**two\nlines**'), [el('strong', {}, 'two', el('br', {}), 'lines')]);
});

test('single * and _ only work at word boundaries', () => {
  assert.deepEqual(inline('snake_case_name and __init__'), ['snake_case_name and __init__']);
  assert.deepEqual(inline('2*3*4'), ['2*3*4']);
  assert.deepEqual(inline('a * b * c'), ['a * b * c']);
  assert.deepEqual(inline('~not strike~'), ['~not strike~']);
  assert.deepEqual(inline('x**bold**y'), ['x', el('strong', {}, 'bold'), 'y']);
});

test('fenced code blocks keep their text verbatim, with a language class and a copy button', () => {
  const tree = parseMarkdown('before\n```js\n  if (a < b) **x** [l](https://x.com)\n\n<b>tag</b>\n```\nafter');
  assert.deepEqual(tree, [
    el('p', {}, 'before'),
    el(
      'div',
      { class: 'md-code-block', 'data-language': 'js' },
      el('pre', { class: 'md-pre' }, el('code', { class: 'language-js' }, '  if (a < b) **x** [l](https://x.com)\n\n<b>tag</b>')),
      el('button', { type: 'button', class: 'md-copy', 'data-md-copy': '', 'aria-label': 'Copy code' }, 'Copy'),
    ),
    el('p', {}, 'after'),
  ]);
  const plain = parseMarkdown('```\nno language\n````');
  assert.deepEqual(plain[0].attrs, { class: 'md-code-block' });
  assert.deepEqual(plain[0].children[0], el('pre', { class: 'md-pre' }, el('code', {}, 'no language')));
  // A language that is not one word is dropped, not put in an attribute.
  assert.deepEqual(parseMarkdown('```"><script>\nx\n```')[0].children[0].children[0].attrs, {});
  assert.deepEqual(parseMarkdown('```\n```')[0].children[0], el('pre', { class: 'md-pre' }, el('code', {})));
});

test('block quotes, with markup inside and no nested quotes', () => {
  assert.deepEqual(parseMarkdown('> quoted **text**\n>second\nafter'), [
    el('blockquote', {}, el('p', {}, 'quoted ', el('strong', {}, 'text'), el('br', {}), 'second')),
    el('p', {}, 'after'),
  ]);
  assert.deepEqual(parseMarkdown('> > deeper'), [el('blockquote', {}, el('p', {}, '> deeper'))]);
  assert.deepEqual(parseMarkdown('> ```\n> code\n> ```'), [
    el('blockquote', {}, el('div', { class: 'md-code-block' }, el('pre', { class: 'md-pre' }, el('code', {}, 'code')), parseMarkdown('```\n```')[0].children[1])),
  ]);
});

test('unordered and ordered lists, one level (indented items join the list)', () => {
  assert.deepEqual(parseMarkdown('- one\n* **two**\n  - three'), [el('ul', {}, el('li', {}, 'one'), el('li', {}, el('strong', {}, 'two')), el('li', {}, 'three'))]);
  assert.deepEqual(parseMarkdown('1. a\n2. b'), [el('ol', {}, el('li', {}, 'a'), el('li', {}, 'b'))]);
  assert.deepEqual(parseMarkdown('Steps:\n3. c\n4) d\n- e'), [
    el('p', {}, 'Steps:'),
    el('ol', { start: '3' }, el('li', {}, 'c'), el('li', {}, 'd')),
    el('ul', {}, el('li', {}, 'e')),
  ]);
  assert.deepEqual(parseMarkdown('-not a list\n*not either*'), [el('p', {}, '-not a list', el('br', {}), el('em', {}, 'not either'))]);
});

test('links: bare http(s) URLs and [text](url), opening in a new tab without referrer', () => {
  assert.deepEqual(inline('see https://example.com/a?b=1&c=2.'), ['see ', link('https://example.com/a?b=1&c=2', 'https://example.com/a?b=1&c=2'), '.']);
  assert.deepEqual(inline('(https://en.wikipedia.org/wiki/Foo_(bar))'), [
    '(',
    link('https://en.wikipedia.org/wiki/Foo_(bar)', 'https://en.wikipedia.org/wiki/Foo_(bar)'),
    ')',
  ]);
  assert.deepEqual(inline('read [the docs](https://example.com/docs) now'), ['read ', link('https://example.com/docs', 'the docs'), ' now']);
  assert.deepEqual(inline('[wiki](https://en.wikipedia.org/wiki/Foo_(bar))'), [link('https://en.wikipedia.org/wiki/Foo_(bar)', 'wiki')]);
  assert.deepEqual(inline('HTTP://Example.COM'), [link('http://example.com/', 'HTTP://Example.COM')]);
  assert.deepEqual(inline('*https://example.com*'), [el('em', {}, link('https://example.com/', 'https://example.com'))]);
  assert.deepEqual(inline('https://example.com/a_b_c*d* x'), [link('https://example.com/a_b_c*d', 'https://example.com/a_b_c*d'), '* x']);
  assert.deepEqual(inline('[https://a.com](https://b.com)'), [link('https://b.com/', 'https://a.com')]);
  // Links do not nest: the inner one wins, the rest is text (whose URL links itself).
  assert.deepEqual(inline('[[nested](https://a.com)](https://b.com)'), ['[', link('https://a.com/', 'nested'), '](', link('https://b.com/', 'https://b.com'), ')']);
  assert.deepEqual(inline('[a](https://x.com'), ['[a](', link('https://x.com/', 'https://x.com')]);
});

test('only http: and https: become links; everything else stays the text typed', () => {
  for (const body of [
    '[x](javascript:alert(1))',
    '[x](JaVaScRiPt:alert(1))',
    '[x]( javascript:alert(1))',
    '[x](data:text/html,<script>alert(1)</script>)',
    '[x](vbscript:msgbox(1))',
    '[x](/relative/path)',
    '[x](//evil.example/p)',
    '[x](ftp://example.com)',
    '[x](https:evil.example)',
    '[x](https://)',
    '[x](http:// example.com)',
    'javascript:alert(1) data:text/html,x //evil.example ftp://example.com',
    'xhttps://example.com',
  ]) {
    assert.deepEqual(inline(body), [body], body);
    assert.equal(plainText(body), body);
  }
  assert.equal(safeHref('javascript:alert(1)'), null);
  assert.equal(safeHref('https://example.com'), 'https://example.com/');
});

test('nesting: bold in italic, italic in bold, formatted link text, strike around bold', () => {
  assert.deepEqual(inline('*a **b** c*'), [el('em', {}, 'a ', el('strong', {}, 'b'), ' c')]);
  assert.deepEqual(inline('**a _b_ c**'), [el('strong', {}, 'a ', el('em', {}, 'b'), ' c')]);
  assert.deepEqual(inline('*a *b c* d*'), [el('em', {}, 'a ', el('em', {}, 'b c'), ' d')]);
  assert.deepEqual(inline('[**bold** `code`](https://x.com)'), [link('https://x.com/', el('strong', {}, 'bold'), ' ', el('code', { class: 'md-inline-code' }, 'code'))]);
  assert.deepEqual(inline('**see [docs](https://x.com)**'), [el('strong', {}, 'see ', link('https://x.com/', 'docs'))]);
  assert.deepEqual(inline('~~**x**~~'), [el('del', {}, el('strong', {}, 'x'))]);
  // Emphasis never crosses a link's brackets: both stars stay literal.
  assert.deepEqual(inline('*a [b* c](https://x.com)'), ['*a ', link('https://x.com/', 'b* c')]);
});

test('inside code nothing else is parsed', () => {
  assert.deepEqual(inline('`**x** _y_ [l](https://x.com) https://y.com <b>`'), [el('code', { class: 'md-inline-code' }, '**x** _y_ [l](https://x.com) https://y.com <b>')]);
  assert.deepEqual(inline('*a `*` b*'), [el('em', {}, 'a ', el('code', { class: 'md-inline-code' }, '*'), ' b')]);
  assert.deepEqual(inline('[a `]` b](https://x.com)'), [link('https://x.com/', 'a ', el('code', { class: 'md-inline-code' }, ']'), ' b')]);
  const block = parseMarkdown('```\n> not a quote\n- not a list\n**x** https://y.com\n```');
  assert.equal(block[0].children[0].children[0].children[0], '> not a quote\n- not a list\n**x** https://y.com');
});

test('unclosed markers are literal text', () => {
  for (const body of ['**open', '*open', '_open', '~~open', '`open', 'open**', '[a](http://', '[a] (x)', '[a]', '[]()', '***x**', '****x****']) {
    assert.deepEqual(inline(body), [body], body);
  }
  assert.deepEqual(parseMarkdown('```js\nno end'), [el('p', {}, '```js', el('br', {}), 'no end')]);
  assert.deepEqual(inline('**a** **b'), [el('strong', {}, 'a'), ' **b']);
});

// ---- safety -----------------------------------------------------------------------

const XSS = [
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '[x](javascript:alert(1))',
  '[x](JaVaScRiPt:alert(1))',
  '[x]( javascript:alert(1))',
  '```<b>x</b>```',
  '```\n<b>x</b>\n```',
  '> <svg onload=alert(1)>',
  '[<img src=x onerror=alert(1)>](https://example.com)',
  '[**<script>alert(1)</script>**](https://example.com)',
  '[x](https://example.com/"onmouseover="alert(1))',
  "[x](https://example.com/'onmouseover='alert(1))",
  'https://example.com/"><script>alert(1)</script>',
  "https://example.com/'onmouseover='alert(1)'",
  '```"><img src=x onerror=alert(1)>\ncode\n```',
  '- <iframe src="javascript:alert(1)"></iframe>\n1. <a href="javascript:alert(1)">a</a>',
  '*<svg/onload=alert(1)>*',
  '[x](https://example.com)<a href=javascript:alert(1)>y</a>',
  '&lt;b&gt;not bold&lt;/b&gt; &amp;',
];

test('XSS corpus: only text and safe elements, raw HTML shown as typed', () => {
  for (const body of XSS) {
    const tree = parseMarkdown(body);
    assertSafe(tree, body);
    const nodes = renderMarkdown(body, fakeDocument);
    assert.deepEqual(shape(nodes), tree, `${body}: the DOM is the tree`);
  }
  assert.equal(plainText('<script>alert(1)</script>'), '<script>alert(1)</script>');
  assert.equal(plainText('<img src=x onerror=alert(1)>'), '<img src=x onerror=alert(1)>');
  assert.equal(plainText('> <svg onload=alert(1)>'), '<svg onload=alert(1)>');
  assert.deepEqual(inline('```<b>x</b>```'), [el('code', { class: 'md-inline-code' }, '<b>x</b>')]);
  assert.deepEqual(inline('[x](https://example.com/"onmouseover="alert(1))'), [link('https://example.com/%22onmouseover=%22alert(1)', 'x')]);
});

test('toDom builds only allowed tags and attributes, whatever tree it is given', () => {
  assert.throws(() => toDom([el('script', {}, 'alert(1)')], fakeDocument), /tag not allowed/);
  assert.throws(() => toDom([el('p', { onclick: 'alert(1)' })], fakeDocument), /attribute not allowed/);
  assert.throws(() => toDom([el('a', { href: 'javascript:alert(1)' }, 'x')], fakeDocument), /attribute not allowed/);
  const source = readFileSync(MODULE_PATH, 'utf8');
  assert.doesNotMatch(source, /\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write/, 'markup is never parsed');
});

test('the text callback maps prose (for @mentions) but never code, links or the copy button', () => {
  const seen = [];
  const marked = (text) => {
    const mark = fakeDocument.createElement('mark');
    mark.appendChild(fakeDocument.createTextNode(text));
    return mark;
  };
  const mention = (text) => {
    seen.push(text);
    return text.split(/(@\w+)/).filter(Boolean).map((part) => (part.startsWith('@') ? marked(part) : part));
  };
  const nodes = renderMarkdown('hi @bob, **@amy**\n`@code` [@link](https://x.com/@l)\n```\n@block\n```', fakeDocument, { text: mention });
  assert.deepEqual(seen, ['hi @bob, ', '@amy', ' ']);
  const paragraph = nodes[0];
  assert.equal(paragraph.childNodes[1].tagName, 'MARK');
  assert.equal(paragraph.childNodes[3].childNodes[0].tagName, 'MARK');
  assert.equal(paragraph.textContent, 'hi @bob, @amy@code @link', 'the line break is a <br>');
  assert.equal(nodes[1].textContent, '@blockCopy');
});

test('plainText: the words without markup', () => {
  assert.equal(plainText('**bold** and _it_ ~~x~~ `code` [docs](https://x.com) https://y.com'), 'bold and it x code docs https://y.com');
  assert.equal(plainText('> quoted\n- one\n- two\n\n```js\nlet a = 1;\n```'), 'quoted\none\ntwo\nlet a = 1;');
  assert.equal(plainText('**unclosed *x'), '**unclosed *x');
  assert.equal(plainText(''), '');
});

test('handleCopyClick copies the code of the clicked block', async () => {
  const code = { textContent: 'let a = 1;' };
  const button = { textContent: 'Copy', parentElement: { querySelector: (selector) => (selector === 'pre code' ? code : null) } };
  button.closest = (selector) => (selector === '[data-md-copy]' ? button : null);
  const copied = [];
  const clipboard = { writeText: async (text) => copied.push(text) };
  assert.equal(await handleCopyClick({ target: button }, clipboard), true);
  assert.deepEqual(copied, ['let a = 1;']);
  assert.equal(button.textContent, 'Copied');
  assert.equal(handleCopyClick({ target: { closest: () => null } }, clipboard), null);
});

// ---- no blow-ups -----------------------------------------------------------------------

test('pathological bodies of 4000 characters render quickly (guards against super-linear parsing)', () => {
  const fill = (unit) => unit.repeat(Math.ceil(4000 / unit.length)).slice(0, 4000);
  const bodies = [
    fill('*'),
    fill('_'),
    fill('~'),
    fill('`'),
    fill('['),
    fill(']'),
    fill('[]('),
    fill('[a]('),
    fill('[a](https://x.com/('),
    fill('*a '),
    fill('a* '),
    fill('**a '),
    fill('*a **b '),
    fill('_a '),
    fill('`a ``b '),
    fill('> '),
    fill('>\n'),
    fill('- '),
    fill('- a\n'),
    fill('```\n'),
    fill('```a\n'),
    fill('\n'),
    'https://example.com/' + fill(')').slice(20),
    'https://example.com/' + fill('.').slice(20),
    fill('https://a.com/[b](https://c.com) '),
    fill('*[a*](https://x.com) '),
    fill('a'),
    '*a '.repeat(666) + 'b* '.repeat(666), // 666 nested <em>
  ];
  for (const body of bodies) {
    const started = performance.now();
    const tree = parseMarkdown(body);
    plainText(body);
    renderMarkdown(body, fakeDocument);
    const ms = performance.now() - started;
    assertSafe(tree, body.slice(0, 20));
    assert.ok(ms < 200, `${JSON.stringify(body.slice(0, 12))}... took ${ms.toFixed(1)} ms`);
  }
});

// ---- in a real browser (optional: needs Chromium and playwright-core) ---------------------

// Like every browser test, it needs Chromium (scripts/install-test-deps): a
// missing one fails the test rather than skipping it.
test('in Chromium, the XSS corpus rendered into a page runs no script', async () => {
  const { launchBrowser } = await import('./helpers.mjs');
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const dialogs = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      dialog.dismiss().catch(() => {});
    });
    const source = readFileSync(MODULE_PATH, 'utf8');
    await page.route('http://natter.test/**', (route) =>
      new URL(route.request().url()).pathname === '/markdown.js'
        ? route.fulfill({ contentType: 'text/javascript', body: source })
        : route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>markdown</title><div id="out"></div><div id="control"></div>' }),
    );
    await page.goto('http://natter.test/');
    const found = await page.evaluate(async (corpus) => {
      const { renderMarkdown } = await import('/markdown.js');
      const out = document.getElementById('out');
      for (const body of corpus) {
        const message = document.createElement('div');
        message.append(...renderMarkdown(body, document));
        out.append(message);
      }
      await new Promise((done) => setTimeout(done, 500));
      return {
        injected: out.querySelectorAll('script, img, svg, iframe, object, embed, [onerror], [onload], [onmouseover], a:not([href^="http"])').length,
        text: out.textContent,
      };
    }, XSS);
    assert.equal(found.injected, 0, 'no element injected');
    assert.ok(found.text.includes('<script>alert(1)</script>'), 'raw HTML shown as text');
    assert.deepEqual(dialogs, [], 'no script ran');
    // Control: the same page does run injected markup, so the check above can fail.
    await page.evaluate(() => {
      document.getElementById('control').innerHTML = '<img src="x" onerror="alert(\'control\')">';
    });
    for (let waited = 0; dialogs.length === 0 && waited < 5000; waited += 50) await new Promise((done) => setTimeout(done, 50));
    assert.deepEqual(dialogs, ['control'], 'the control payload was detected');
  } finally {
    await browser.close();
  }
});
