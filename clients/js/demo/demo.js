// The demo page: two micro-frontends that know nothing of each other, mounted into one runtime.
// ?user=<id> (default 42) picks who this tab is; ?shared=1 shares one WebSocket between tabs.
import { createRuntime, stateKey, ErrorCode } from '/client/hybridsync.js';

const params = new URLSearchParams(location.search);
const user = params.get('user') || '42';
const runtime = createRuntime({
  url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`,
  name: 'demo page',
  shared: params.get('shared') === '1',
  // Development only: the daemon's /demo/token mints a token for any user (server.demo).
  getToken: async () => {
    const response = await fetch(`/demo/token?user=${encodeURIComponent(user)}`);
    if (!response.ok) throw new Error(`token: HTTP ${response.status}`);
    return (await response.json()).token;
  },
});

mountChat(runtime.mount('chat'), document.querySelector('#chat'), user);
mountProfile(runtime.mount('profile'), document.querySelector('#profile'), user);

document.querySelector('#mode').textContent = runtime.mode === 'shared-worker' ? 'one WebSocket for every tab' : 'one WebSocket for this tab';
runtime.onStatus((status) => {
  document.querySelector('#connection').textContent = status.error ? `${status.state}: ${status.error.message}` : status.state;
  document.body.dataset.connection = status.state;
});
window.hybridsyncDemo = { runtime, user };

/** "chat": the lobby's messages, without those of banned users, and who is here (where chat keeps presence). */
function mountChat(app, root, me) {
  const messages = [];
  let banned = {};
  const list = root.querySelector('.messages');
  const hiddenNote = root.querySelector('.hidden-note');
  const notice = root.querySelector('.notice');
  const here = root.querySelector('.here');

  const render = () => {
    const visible = messages.filter((m) => !banned[m.user]);
    list.replaceChildren(...visible.map((m) => {
      const item = document.createElement('li');
      item.dataset.user = m.user;
      const who = document.createElement('b');
      who.textContent = m.user === me ? `${m.user} (you)` : m.user;
      item.append(who, ` ${m.text}`);
      return item;
    }));
    const hidden = messages.length - visible.length;
    hiddenNote.textContent = hidden ? `${hidden} message(s) from banned users hidden` : '';
    root.dataset.visible = String(visible.length);
    root.dataset.hidden = String(hidden);
  };

  app.observe({ channel: 'moderation:users' }, (bans) => { banned = bans; render(); });
  app.observeChannel('chat:lobby', (event) => {
    if (event.type === 'resynced') {
      notice.textContent = 'reconnected: messages sent meanwhile may be missing';
      return;
    }
    const data = event.data ?? {};
    messages.push({ user: String(data.user ?? '?'), text: String(data.text ?? '') });
    if (messages.length > 200) messages.shift();
    render();
  });
  app.observePresence('chat:lobby', (users) => {
    here.textContent = `here: ${users.map((u) => (u.user === me ? `${u.user} (you)` : u.user)).join(', ')}`;
    root.dataset.present = users.map((u) => u.user).join(',');
  }, () => { here.textContent = ''; }); // namespaces.chat.presence is off
  app.onStatus((status) => {
    if (status.error?.code === ErrorCode.banned) notice.textContent = `You are banned: ${status.error.ban?.reason ?? ''}`;
    root.dataset.status = status.error?.code ?? status.state;
  });
  root.querySelector('.send').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = event.target.elements.text;
    try {
      await app.publish('chat:lobby', { user: me, text: input.value });
      input.value = '';
    } catch (error) {
      notice.textContent = `not sent: ${error.message}`;
    }
  });
  render();
}

/** "profile": this user's standing, from the same retained state. */
function mountProfile(app, root, me) {
  root.querySelector('.user').textContent = me;
  const status = root.querySelector('.status');
  let standing = 'loading…';
  let connection = 'connecting';
  const render = () => {
    status.textContent = connection === 'reconnecting' ? `${standing}, reconnecting…` : standing;
    root.dataset.standing = standing.startsWith('banned') ? 'banned' : standing === 'in good standing' ? 'good' : 'loading';
  };
  app.observe(stateKey('moderation:users', me, null), (ban) => {
    standing = ban ? `banned (${ban.reason})` : 'in good standing';
    render();
  });
  app.onStatus((s) => {
    connection = s.state;
    if (s.error?.code === ErrorCode.banned) standing = `banned (${s.error.ban?.reason ?? ''})`;
    render();
  });
}
