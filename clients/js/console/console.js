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

async function refreshBans() {
  if (!apiKey) return;
  try {
    const { bans } = await api('GET', '/api/bans');
    $('#bans').replaceChildren(...bans.map((ban) => {
      const item = document.createElement('li');
      item.dataset.user = ban.user;
      item.textContent = `${ban.user}: ${ban.reason}${ban.until ? ` (until ${new Date(ban.until * 1000).toLocaleString()})` : ''}`;
      return item;
    }));
  } catch (error) {
    log(`listing bans failed: ${error.message}`, true);
  }
}

$('#key').addEventListener('submit', (event) => {
  event.preventDefault();
  apiKey = event.target.elements.key.value;
  event.target.elements.key.value = '';
  document.body.dataset.key = 'set';
  log('API key set for this page');
  refreshBans();
});

$('#state').addEventListener('submit', async (event) => {
  event.preventDefault();
  const channel = event.target.elements.channel.value.trim();
  const result = await act(`state of ${channel}`, () => api('GET', `/api/state/${encodeURIComponent(channel)}`));
  $('#state-view').textContent = result ? JSON.stringify(result.state, null, 2) : '';
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
