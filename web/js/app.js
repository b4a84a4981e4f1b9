// The UI's entry: log in first (the login page when /v1/whoami says nobody is, or when an API
// call finds the session gone), then a hash router (#/, #/cameras, #/stream/NAME[/live|archive|
// frames]). Each view gets the <main> element and an AbortSignal that fires when the user
// navigates away, so its timers and players stop.

import { streamsView } from './streams.js';
import { camerasView } from './cameras.js';
import { streamView } from './stream.js';
import { loginView } from './login.js';
import * as api from './api.js';
import * as session from './session.js';
import { h, errorText, toast } from './dom.js';

const ROUTES = [
  [/^#?\/?$/, streamsView, 'streams'],
  [/^#\/cameras$/, camerasView, 'cameras'],
  [/^#\/stream\/([^/]+)(?:\/(live|archive|frames))?$/, streamView, 'streams'],
];

let current = null;
let showingLogin = false;

const main = () => document.getElementById('main');

// The header's navigation and user controls, for the logged-in user (or hidden).
function header(me) {
  document.querySelector('header nav').hidden = !me;
  document.getElementById('session').hidden = !me;
  if (!me) return;
  document.querySelector('#session [data-role=user]').textContent = me.user;
  document.querySelector('[data-nav=cameras]').hidden = !session.can('vidstream:ListCameras');
}

function showLogin(ended) {
  if (current) current.abort();
  current = null;
  showingLogin = true;
  session.forget();
  document.getElementById('toast').classList.remove('show');
  header(null);
  loginView(main(), {
    ended,
    done: async () => {
      showingLogin = false;
      await start();
    },
  });
}

async function route() {
  if (current) current.abort();
  current = new AbortController();
  const signal = current.signal;
  const me = await session.load().catch(() => null);
  if (signal.aborted) return;
  if (!me) {
    showLogin(false);
    return;
  }
  header(me);
  const hash = location.hash || '#/';
  for (const [re, view, nav] of ROUTES) {
    const m = hash.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll('[data-nav]')) {
      a.toggleAttribute('aria-current', a.dataset.nav === nav);
    }
    const params = m.slice(1).filter((p) => p !== undefined).map(decodeURIComponent);
    try {
      await view(main(), { signal, params });
    } catch (e) {
      main().replaceChildren(h('p', { class: 'error' }, errorText(e)));
    }
    document.body.dataset.view = `${nav}:${params.join('/')}`;
    return;
  }
  main().replaceChildren(h('p', {}, 'No such page. ', h('a', { href: '#/' }, 'Streams')));
}

async function start() {
  await route();
  main().focus({ preventScroll: true });
}

window.addEventListener('hashchange', () => {
  if (showingLogin) return;
  start();
});
window.addEventListener('vidstream:login-required', () => {
  if (!showingLogin) showLogin(true);
});
document.getElementById('logout').addEventListener('click', async () => {
  try {
    await api.logout();
  } catch (e) {
    toast(errorText(e), 'error');
  }
  showLogin(false);
});
route();
