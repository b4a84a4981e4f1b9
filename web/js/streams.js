// The stream list: state, codec, resolution, bitrate, retention, storage; create and delete;
// the cameras feeding each stream with their state and last error. Controls the user's policy
// does not allow (creating, deleting) are not shown.

import * as api from './api.js';
import { can } from './session.js';
import { h, toast, errorText, bytes, bitrate, ago, duration } from './dom.js';

export async function streamsView(main, { signal }) {
  const table = h('tbody');
  const form = can('kinesisvideo:CreateStream') ? createForm(() => refresh()) : null;
  main.replaceChildren(
    h('section', { class: 'page' },
      h('div', { class: 'page-head' },
        h('h1', {}, 'Streams'),
        h('button', { type: 'button', class: 'ghost', onclick: () => refresh() }, 'Refresh'),
      ),
      h('table', { class: 'list', 'aria-label': 'Streams' },
        h('thead', {}, h('tr', {},
          ...['Stream', 'State', 'Video', 'Bitrate', 'Retention', 'Storage', 'Last media', 'Cameras', '']
            .map((t) => h('th', { scope: 'col' }, t)))),
        table),
      form,
    ),
  );

  async function refresh() {
    let streams, cameras;
    try {
      [streams, cameras] = await Promise.all([
        api.streams(),
        can('vidstream:ListCameras')
          ? api.rest('GET', '/v1/cameras').then((r) => r.cameras).catch(() => [])
          : [],
      ]);
    } catch (e) {
      table.replaceChildren(h('tr', {}, h('td', { colspan: 9, class: 'error' }, errorText(e))));
      return;
    }
    if (!streams.length) {
      table.replaceChildren(h('tr', {}, h('td', { colspan: 9, class: 'muted' },
        form
          ? 'No streams yet: create one below, add a camera, or push media with `vidstream push`.'
          : 'No streams to show.')));
      return;
    }
    table.replaceChildren(...streams.map((s) => row(s, cameras.filter((c) => c.stream === s.streamName), refresh)));
  }

  await refresh();
  const timer = setInterval(refresh, 5000);
  signal.addEventListener('abort', () => clearInterval(timer));
}

function row(s, cameras, refresh) {
  const video = s.tracks.find((t) => t.kind === 'video');
  const audio = s.tracks.find((t) => t.kind === 'audio');
  const state = s.status !== 'ACTIVE' ? s.status.toLowerCase() : s.live ? 'live' : 'offline';
  const href = `#/stream/${encodeURIComponent(s.streamName)}`;
  return h('tr', { 'data-stream': s.streamName, 'data-state': state },
    h('td', { 'data-label': 'Stream' }, h('a', { href, class: 'stream-link' }, s.streamName)),
    h('td', { 'data-label': 'State' }, h('span', { class: `badge ${state}` }, state)),
    h('td', { 'data-label': 'Video' },
      video ? `${video.codec} ${video.width ?? '?'}×${video.height ?? '?'}` : '–',
      audio ? h('span', { class: 'muted' }, ` + ${audio.codec}`) : ''),
    h('td', { 'data-label': 'Bitrate' }, bitrate(s.bitrateBps)),
    h('td', { 'data-label': 'Retention' },
      s.dataRetentionInHours ? duration(s.dataRetentionInHours * 3_600_000) : 'not stored'),
    h('td', { 'data-label': 'Storage' }, bytes(s.storageBytes)),
    h('td', { 'data-label': 'Last media' }, s.lastFragment ? ago(s.lastFragment.serverMs) : '–'),
    h('td', { 'data-label': 'Cameras' }, cameras.length
      ? cameras.map((c) => h('div', { class: 'cam' },
          h('span', { class: `badge ${c.status.state}` }, c.name, ': ', c.status.state),
          c.status.lastError ? h('div', { class: 'error small' }, c.status.lastError) : ''))
      : h('span', { class: 'muted' }, '–')),
    h('td', { class: 'actions' },
      h('a', { href, class: 'button' }, 'Open'),
      can('kinesisvideo:DeleteStream', { stream: s.streamName }) && h('button', {
        type: 'button', class: 'danger',
        'aria-label': `Delete stream ${s.streamName}`,
        onclick: async () => {
          if (!confirm(`Delete stream ${s.streamName} and all its media?`)) return;
          try {
            await api.kvs('deleteStream', { StreamARN: s.streamArn });
            toast(`Deleting ${s.streamName}`);
            refresh();
          } catch (e) {
            toast(errorText(e), 'error');
          }
        },
      }, 'Delete')),
  );
}

function createForm(done) {
  const name = h('input', { name: 'name', required: true, pattern: '[a-zA-Z0-9_.\\-]{1,256}', placeholder: 'front-door' });
  const hours = h('input', { name: 'hours', type: 'number', min: 0, max: 87600, value: 24 });
  const media = h('input', { name: 'media', placeholder: 'video/h264' });
  return h('form', {
    class: 'card form',
    'aria-label': 'Create a stream',
    onsubmit: async (e) => {
      e.preventDefault();
      const body = { StreamName: name.value.trim(), DataRetentionInHours: Number(hours.value || 0) };
      if (media.value.trim()) body.MediaType = media.value.trim();
      try {
        await api.kvs('createStream', body);
        toast(`Created ${body.StreamName}`);
        name.value = '';
        done();
      } catch (err) {
        toast(errorText(err), 'error');
      }
    },
  },
  h('h2', {}, 'Create a stream'),
  h('div', { class: 'fields' },
    h('label', {}, 'Name', name),
    h('label', {}, 'Retention (hours, 0 = live only)', hours),
    h('label', {}, 'Media type (optional)', media),
    h('button', { type: 'submit' }, 'Create')));
}
