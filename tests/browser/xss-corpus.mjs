// The hostile text the browser tests put everywhere a user can put text
// (xss.test.mjs, search.test.mjs), and the check that none of it became an
// element: it must show up as the very characters typed.

/** Markup, script URLs, entities, quotes that break attributes, and scripts that are not Latin. */
export const CORPUS = [
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  'javascript:alert(1)',
  '&lt;b&gt;not bold&lt;/b&gt; &amp;',
  '"><svg onload=alert(1)>',
  "' onmouseover='alert(1)' x='",
  '<a href="javascript:alert(1)">click me</a>',
  'שלום עולם · مرحبا بالعالم',
  '🎉 party 👩‍💻 time 🇳🇱',
  '<iframe src="javascript:alert(1)"></iframe>',
];

/**
 * Elements that user text must never create, counted inside `selector`. The UI's
 * own icons are SVGs of class "icon"; any other svg would be injected.
 */
export async function injected(page, selector) {
  return page.evaluate(
    (root) =>
      document.querySelectorAll(
        [`${root} img`, `${root} script`, `${root} svg:not(.icon)`, `${root} iframe`, `${root} object`, `${root} embed`, '[onerror]', '[onload]', '[onmouseover]', 'a[href^="javascript"]'].join(','),
      ).length,
    selector,
  );
}
