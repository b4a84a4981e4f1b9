// One stream: its summary, and the Live / Archive / Frames tabs.

import * as api from './api.js';
import { can } from './session.js';
import { h, errorText, bitrate, bytes } from './dom.js';
import { liveView } from './live.js';
import { archiveView } from './archive.js';
import { framesView } from './frames.js';

const TABS = [
  ['live', 'Live', liveView],
  ['archive', 'Archive', archiveView],
  ['frames', 'Frames', framesView],
];

export async function streamView(main, { signal, params }) {
  const [name, tab = 'live'] = params;
  const box = h('div', { class: 'tab-body' });
  const info = h('p', { class: 'muted small', 'data-role': 'summary' });
  main.replaceChildren(
    h('section', { class: 'page' },
      h('div', { class: 'page-head' },
        h('h1', {}, h('a', { href: '#/', class: 'crumb' }, 'Streams'), ' / ', name),
        info),
      h('nav', { class: 'tabs', 'aria-label': 'Stream views' },
        ...TABS.filter(([id]) => id !== 'frames' || can('kinesisvideo:GetImages', { stream: name }))
          .map(([id, label]) => h('a', {
          href: `#/stream/${encodeURIComponent(name)}/${id}`,
          'aria-current': id === tab ? 'page' : false,
        }, label))),
      box),
  );
  api.stream(name).then((s) => {
    const v = s.tracks.find((t) => t.kind === 'video');
    info.textContent = [
      s.live ? 'live' : 'offline',
      v ? `${v.codec} ${v.width}×${v.height}` : null,
      s.bitrateBps ? bitrate(s.bitrateBps) : null,
      `${bytes(s.storageBytes)} stored`,
    ].filter(Boolean).join(' · ');
  }).catch((e) => (info.textContent = errorText(e)));
  const view = (TABS.find(([id]) => id === tab) || TABS[0])[2];
  await view(box, name, { signal });
}
