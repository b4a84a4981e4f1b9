// Who is logged in and what the UI shows them: /v1/whoami's answer, kept for the views. The
// server refuses what a policy does not allow whatever the UI shows; hiding a control only spares
// the user a refusal.

import * as api from './api.js';

let me = null;

// Asks the server again (after a login, on every navigation): the user, or null.
export async function load() {
  me = await api.whoami();
  return me;
}

export function current() {
  return me;
}

export function forget() {
  me = null;
}

// Whether the user may do `action` (an IAM action name such as 'kinesisvideo:GetClip'), on
// `stream` or `camera` when given. A resource whoami did not list (made since, or beyond its
// limit) goes by the action's overall answer.
export function can(action, { stream, camera } = {}) {
  if (!me) return false;
  const per = stream !== undefined ? me.streams : camera !== undefined ? me.cameras : null;
  const key = stream !== undefined ? stream : camera;
  if (per && Object.prototype.hasOwnProperty.call(per, key)) return per[key].includes(action);
  return Boolean(me.allowed && me.allowed[action]);
}
