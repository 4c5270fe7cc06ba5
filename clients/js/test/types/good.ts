// Uses every part of the API as docs/BROWSER.md shows it: tsc must accept it (make test).
import { createRuntime, runtimeFor, stateKey, ErrorCode, HybridSyncError, version } from '../../hybridsync.js';
import type { Ban, ChannelEvent, ErrorCodeName, Status, Backfill, Position, Observation, PresentUser } from '../../hybridsync.js';

const runtime = createRuntime({
  url: 'wss://sync.example.com/',
  getToken: async () => 'token',
  name: 'shop page',
  onError: ({ app, context, error }) => console.warn(app, context, error),
});
const profile = runtime.mount('profile');
const standing = profile.observe(stateKey<Ban | null>('moderation:users', '42', null), (ban) => {
  const reason: string | undefined = ban?.reason;
  console.log(reason);
});
standing.cancel();
profile.observe(stateKey<{ theme: string }>('prefs:user-42', 'ui'), (value) => console.log(value?.theme));
profile.observe<Ban>({ channel: 'moderation:users' }, (bans) => console.log(Object.keys(bans).length, bans['42']?.until));

interface Message { user: string; text: string }
const chat = runtimeFor({ url: 'wss://sync.example.com/', getToken: () => 'token', shared: true }).mount('chat');
chat.observeChannel<Message>('chat:lobby', async (event: ChannelEvent<Message>) => {
  if (event.type === 'publication') console.log(event.data.text, event.offset, event.key);
  else {
    const from: Position = event.from;
    const backfill: Backfill<Message> = await chat.backfill<Message>('chat:lobby', from);
    backfill.publications.forEach((publication) => console.log(publication.data.user));
    console.log(backfill.complete, backfill.position.epoch);
  }
});
chat.publish('chat:lobby', { user: '42', text: 'hi' }).then(({ offset }) => console.log(offset + 1));
runtime.onStatus((status: Status) => {
  if (status.error?.code === ErrorCode.banned) console.log(status.error.ban?.reason, status.error.closeCode);
  const code: ErrorCodeName | undefined = status.error?.code;
  console.log(status.state === 'reconnecting', code);
});
try {
  chat.unmount();
} catch (error) {
  if (error instanceof HybridSyncError && error.code === 'unmounted') console.log(error.toJSON().message);
}
console.log(version.split('.').length, runtime.mode === 'shared-worker');
runtime.mount('cart', { onError: ({ app, error }) => console.warn(app, error) });
runtime.diagnostics().then((report) => console.log(report.channels[0]?.position?.offset, report.apps.length, report.lastError));
runtime.close();

// The React bindings.
import { createElement } from 'react';
import { HybridSyncProvider, useHybridState, useChannel, usePresence, useHybridStatus } from '../../react.js';

function Standing(): JSX.Element | null {
  const ban = useHybridState(stateKey<Ban | null>('moderation:users', '42', null));
  const bans = useHybridState<Ban>({ channel: 'moderation:users' });
  const { events, last } = useChannel<Message>('chat:lobby', { limit: 20 });
  const status = useHybridStatus();
  const here = usePresence('chat:lobby');
  if (!ban.ready) return null;
  const text = `${ban.value?.reason ?? 'good'} ${Object.keys(bans.value ?? {}).length} ${events.length} ${last?.type} ${status.state} ${here.value?.map((u) => u.user).join(',')}`;
  return createElement('p', null, text);
}
createElement(HybridSyncProvider, { runtime, name: 'profile' }, createElement(Standing));

// A micro-app with its own backend's subscription tokens (null: the channel needs none).
const billing = runtime.mount('billing', { subscriptionToken: async (channel: string) => (channel.startsWith('billing:') ? 'jwt' : null) });
billing.observeChannel('billing:invoices', () => {});
const codeOfTokens: ErrorCodeName = ErrorCode.subscriptionToken;
billing.presence('billing:invoices').then((members) => members.map((member) => `${member.user} ${member.contexts}`));
billing.presence('billing:invoices', { stats: true }).then((stats) => stats.users + stats.contexts);
const roster: Observation = billing.observePresence('billing:invoices', (users: PresentUser[]) => users.map((u) => `${u.user} ${JSON.stringify(u.info)}`),
  (error) => error.serverError?.code);
roster.cancel();
