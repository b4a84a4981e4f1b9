// The UI's entry: a hash router (#/, #/cameras, #/stream/NAME[/live|archive|frames]). Each view
// gets the <main> element and an AbortSignal that fires when the user navigates away, so its
// timers and players stop.

import { streamsView } from './streams.js';
import { camerasView } from './cameras.js';
import { streamView } from './stream.js';
import { h, errorText } from './dom.js';

const ROUTES = [
  [/^#?\/?$/, streamsView, 'streams'],
  [/^#\/cameras$/, camerasView, 'cameras'],
  [/^#\/stream\/([^/]+)(?:\/(live|archive|frames))?$/, streamView, 'streams'],
];

let current = null;

async function route() {
  if (current) current.abort();
  current = new AbortController();
  const main = document.getElementById('main');
  const hash = location.hash || '#/';
  for (const [re, view, nav] of ROUTES) {
    const m = hash.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll('[data-nav]')) {
      a.toggleAttribute('aria-current', a.dataset.nav === nav);
    }
    const params = m.slice(1).filter((p) => p !== undefined).map(decodeURIComponent);
    try {
      await view(main, { signal: current.signal, params });
    } catch (e) {
      main.replaceChildren(h('p', { class: 'error' }, errorText(e)));
    }
    document.body.dataset.view = `${nav}:${params.join('/')}`;
    return;
  }
  main.replaceChildren(h('p', {}, 'No such page. ', h('a', { href: '#/' }, 'Streams')));
}

window.addEventListener('hashchange', () => {
  route();
  document.getElementById('main').focus({ preventScroll: true });
});
route();
