// The login page: user name and password, the server's refusal shown as it is (wrong
// credentials, a locked user, too many attempts). No inline script or style: the UI runs under a
// strict content security policy.

import * as api from './api.js';
import { h } from './dom.js';

// Renders the form into `main`; calls `done()` once logged in. `ended` says why it is shown
// again (a session that expired or was ended elsewhere).
export function loginView(main, { ended = false, done }) {
  const user = h('input', {
    id: 'login-user', name: 'user', required: true, autocomplete: 'username',
    autocapitalize: 'none', spellcheck: 'false',
  });
  const password = h('input', {
    id: 'login-password', name: 'password', type: 'password', required: true,
    autocomplete: 'current-password',
  });
  const error = h('p', { class: 'error', role: 'alert', 'data-role': 'login-error' });
  const submit = h('button', { type: 'submit' }, 'Log in');
  const form = h('form', {
    class: 'card form login-form',
    'aria-label': 'Log in',
    onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      submit.disabled = true;
      try {
        await api.login(user.value.trim(), password.value);
        password.value = '';
        await done();
      } catch (err) {
        error.textContent = err.status === 401
          ? 'Wrong user name or password.'
          : err.message || String(err);
        password.value = '';
        password.focus();
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('h1', {}, 'Log in'),
  ended ? h('p', { class: 'muted', 'data-role': 'session-ended' }, 'Your session ended. Log in again to continue.') : '',
  h('div', { class: 'fields stacked' },
    h('label', { for: 'login-user' }, 'User name', user),
    h('label', { for: 'login-password' }, 'Password', password)),
  error,
  submit);
  main.replaceChildren(h('section', { class: 'page login' }, form));
  document.body.dataset.view = 'login';
  user.focus();
}
