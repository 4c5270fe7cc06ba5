// The hybridsyncd web console: every action is a call of the backend API (docs/API.md) on this
// listener, with the API key the operator typed. The key lives in this module's memory only.
let apiKey = null;
const $ = (selector) => document.querySelector(selector);

/** One API call; resolves the JSON body, rejects with the API's error message. */
async function api(method, path, body) {
  const headers = apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`${response.status} ${json.error?.code ?? ''}: ${json.error?.message ?? response.statusText}`);
  return json;
}

function log(text, failed = false) {
  const item = document.createElement('li');
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  if (failed) item.className = 'failed';
  $('#log').prepend(item);
}

/** Runs an action, logging its outcome. */
async function act(what, action) {
  try {
    const result = await action();
    log(`${what}: ${JSON.stringify(result)}`);
    return result;
  } catch (error) {
    log(`${what} failed: ${error.message}`, true);
    return null;
  }
}

async function refreshCounts() {
  try {
    const health = await api('GET', '/health');
    $('#connections').textContent = String(health.connections);
    $('#channels').textContent = String(health.channels);
    $('#version').textContent = health.version;
    $('#refreshed').textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.connections = String(health.connections);
  } catch (error) {
    $('#refreshed').textContent = `unreachable: ${error.message}`;
  }
}

let bans = [];
const byUser = new Intl.Collator(undefined, { numeric: true });

/** The bans sorted by user (numbers in order: 9 before 10), filtered by the search box. */
function renderBans() {
  const query = $('#ban-search').value.trim().toLowerCase();
  const shown = bans.filter((ban) => !query || ban.user.toLowerCase().includes(query) || String(ban.reason).toLowerCase().includes(query));
  $('#bans').replaceChildren(...shown.map((ban) => {
    const item = document.createElement('li');
    item.dataset.user = ban.user;
    item.textContent = `${ban.user}: ${ban.reason}${ban.until ? ` (until ${new Date(ban.until * 1000).toLocaleString()})` : ''}`;
    return item;
  }));
  $('#ban-count').textContent = query ? `${shown.length} of ${bans.length}` : `${bans.length} banned`;
}

async function refreshBans() {
  if (!apiKey) return;
  try {
    bans = (await api('GET', '/api/bans')).bans.sort((a, b) => byUser.compare(a.user, b.user));
    renderBans();
  } catch (error) {
    log(`listing bans failed: ${error.message}`, true);
  }
}

$('#ban-search').addEventListener('input', renderBans);

$('#key').addEventListener('submit', (event) => {
  event.preventDefault();
  apiKey = event.target.elements.key.value;
  event.target.elements.key.value = '';
  document.body.dataset.key = 'set';
  log('API key set for this page');
  refreshBans();
});

/** A channel's subscribers and position, its retained state (where kept), who is present (where kept) and its history. */
$('#channel').addEventListener('submit', async (event) => {
  event.preventDefault();
  const channel = event.target.elements.channel.value.trim();
  const path = encodeURIComponent(channel);
  const info = await act(`channel ${channel}`, () => api('GET', `/api/channels/${path}`));
  if (!info) return;
  $('#channel-info').textContent = `${info.subscribers} subscriber(s) on this node · epoch ${info.epoch || '(none)'} · offset ${info.offset}`;
  $('#channel-info').dataset.subscribers = String(info.subscribers);
  try {
    $('#state-view').textContent = JSON.stringify((await api('GET', `/api/state/${path}`)).state, null, 2);
  } catch (error) {
    $('#state-view').textContent = error.message.includes('state_not_retained') ? '(this namespace keeps no state)' : error.message;
  }
  try {
    const presence = await api('GET', `/api/presence/${path}`);
    $('#presence-list').dataset.count = String(presence.members.length);
    $('#presence-list').replaceChildren(...presence.members.map((member) => {
      const item = document.createElement('li');
      item.textContent = `${member.user}: ${member.contexts} connection(s)${member.info === null ? '' : ` · ${JSON.stringify(member.info)}`}`;
      return item;
    }));
  } catch (error) {
    $('#presence-list').dataset.count = '';
    const item = document.createElement('li');
    item.textContent = error.message.includes('presence_disabled') ? '(this namespace keeps no presence)' : error.message;
    $('#presence-list').replaceChildren(item);
  }
  const history = await act(`history of ${channel}`, () => api('GET', `/api/history/${path}`));
  $('#history').replaceChildren(...(history?.publications ?? []).slice().reverse().map((publication) => {
    const item = document.createElement('li');
    item.value = publication.offset;
    item.textContent = `${publication.key ? `${publication.key}${publication.removed ? ' (removed)' : ''}: ` : ''}${JSON.stringify(publication.data)}`;
    return item;
  }));
});

$('#sessions').addEventListener('submit', async (event) => {
  event.preventDefault();
  const user = event.target.elements.user.value.trim();
  const result = await act(`sessions of ${user}`, () => api('GET', `/api/sessions/${encodeURIComponent(user)}`));
  const sessions = result?.sessions ?? [];
  $('#session-list').dataset.count = String(sessions.length);
  $('#session-list').replaceChildren(...sessions.map((session) => {
    const item = document.createElement('li');
    item.textContent = `${session.name ?? '(no name)'} from ${session.remoteAddress}, connected ${new Date(session.connectedAt * 1000).toLocaleTimeString()}, `
      + `last heard ${new Date(session.lastSeen * 1000).toLocaleTimeString()}, ${session.channels.length} channel(s): ${session.channels.join(', ')}`;
    return item;
  }));
});

$('#ban').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target.elements;
  const user = form.user.value.trim();
  if (!user) return log('give a user id', true);
  if (event.submitter?.value === 'unban') {
    await act(`unban ${user}`, () => api('DELETE', `/api/ban/${encodeURIComponent(user)}`));
  } else {
    const minutes = Number(form.minutes.value);
    const body = { user, reason: form.reason.value.trim() || 'banned from the console' };
    if (minutes > 0) body.until = Math.floor(Date.now() / 1000) + minutes * 60;
    await act(`ban ${user}`, () => api('POST', '/api/ban', body));
  }
  refreshBans();
});

$('#publish').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target.elements;
  let data;
  try {
    data = JSON.parse(form.data.value);
  } catch {
    return log('data must be JSON, for example {"text":"hello"} or "hello"', true);
  }
  const body = { channel: form.channel.value.trim(), data };
  if (form.key.value.trim()) body.key = form.key.value.trim();
  await act(`publish on ${body.channel}`, () => api('POST', '/api/publish', body));
});

refreshCounts();
setInterval(refreshCounts, 2000);
