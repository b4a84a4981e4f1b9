// Cameras the server pulls over RTSP (/v1/cameras): state, last error, add and remove (adding
// and removing only for users whose policy allows them).

import * as api from './api.js';
import { can } from './session.js';
import { h, toast, errorText, bitrate, ago } from './dom.js';

export async function camerasView(main, { signal }) {
  const list = h('tbody');
  main.replaceChildren(
    h('section', { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', {}, 'Cameras')),
      h('table', { class: 'list', 'aria-label': 'Cameras' },
        h('thead', {}, h('tr', {},
          ...['Camera', 'State', 'Stream', 'URL', 'Bitrate', 'Last frame', 'Reconnects', 'Last error', '']
            .map((t) => h('th', { scope: 'col' }, t)))),
        list),
      can('vidstream:PutCamera') ? addForm(() => refresh()) : null,
    ),
  );

  async function refresh() {
    try {
      const { cameras } = await api.rest('GET', '/v1/cameras');
      list.replaceChildren(...(cameras.length ? cameras.map((c) => row(c, refresh))
        : [h('tr', {}, h('td', { colspan: 9, class: 'muted' },
          can('vidstream:PutCamera') ? 'No cameras. Add one below.' : 'No cameras.'))]));
    } catch (e) {
      list.replaceChildren(h('tr', {}, h('td', { colspan: 9, class: 'error' }, errorText(e))));
    }
  }
  await refresh();
  const timer = setInterval(refresh, 3000);
  signal.addEventListener('abort', () => clearInterval(timer));
}

function row(c, refresh) {
  const s = c.status;
  return h('tr', { 'data-camera': c.name, 'data-state': s.state },
    h('td', { 'data-label': 'Camera' }, c.name),
    h('td', { 'data-label': 'State' }, h('span', { class: `badge ${s.state}` }, s.state)),
    h('td', { 'data-label': 'Stream' }, h('a', { href: `#/stream/${encodeURIComponent(c.stream)}` }, c.stream)),
    h('td', { 'data-label': 'URL', class: 'url' }, c.url, c.transport ? h('span', { class: 'muted' }, ` (${c.transport})`) : ''),
    h('td', { 'data-label': 'Bitrate' }, bitrate(s.bytesPerSecond * 8)),
    h('td', { 'data-label': 'Last frame' }, s.lastFrameTime ? ago(s.lastFrameTime * 1000) : '–'),
    h('td', { 'data-label': 'Reconnects' }, String(s.reconnects)),
    h('td', { 'data-label': 'Last error', class: 'error small' }, s.lastError || ''),
    h('td', { class: 'actions' },
      can('vidstream:DeleteCamera', { camera: c.name }) && h('button', {
        type: 'button', class: 'danger', 'aria-label': `Remove camera ${c.name}`,
        onclick: async () => {
          if (!confirm(`Remove camera ${c.name}? Its recordings stay in stream ${c.stream}.`)) return;
          try {
            await api.rest('DELETE', `/v1/cameras/${encodeURIComponent(c.name)}`);
            toast(`Removed ${c.name}`);
            refresh();
          } catch (e) {
            toast(errorText(e), 'error');
          }
        },
      }, 'Remove')),
  );
}

function addForm(done) {
  const f = {
    name: h('input', { name: 'name', required: true, placeholder: 'front-door' }),
    url: h('input', { name: 'url', required: true, type: 'url', placeholder: 'rtsp://192.168.1.20:554/stream1' }),
    stream: h('input', { name: 'stream', required: true, placeholder: 'front-door' }),
    username: h('input', { name: 'username', autocomplete: 'off' }),
    password: h('input', { name: 'password', type: 'password', autocomplete: 'new-password' }),
    transport: h('select', { name: 'transport' }, h('option', { value: 'tcp' }, 'TCP'), h('option', { value: 'udp' }, 'UDP')),
  };
  return h('form', {
    class: 'card form',
    'aria-label': 'Add a camera',
    onsubmit: async (e) => {
      e.preventDefault();
      const body = {
        name: f.name.value.trim(),
        url: f.url.value.trim(),
        stream: f.stream.value.trim(),
        transport: f.transport.value,
      };
      if (f.username.value) body.username = f.username.value;
      if (f.password.value) body.password = f.password.value;
      try {
        await api.rest('POST', '/v1/cameras', body);
        toast(`Added ${body.name}`);
        for (const k of ['name', 'url', 'username', 'password']) f[k].value = '';
        done();
      } catch (err) {
        toast(errorText(err), 'error');
      }
    },
  },
  h('h2', {}, 'Add a camera'),
  h('p', { class: 'muted small' }, 'The target stream must exist. Credentials are stored by the server and never shown again.'),
  h('div', { class: 'fields' },
    h('label', {}, 'Name', f.name),
    h('label', {}, 'RTSP URL', f.url),
    h('label', {}, 'Stream', f.stream),
    h('label', {}, 'Username', f.username),
    h('label', {}, 'Password', f.password),
    h('label', {}, 'Transport', f.transport),
    h('button', { type: 'submit' }, 'Add')));
}
