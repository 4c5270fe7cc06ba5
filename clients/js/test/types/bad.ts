// Wrong calls: tsc must refuse each line marked `// error TSnnnn` with that code, and nothing else
// (make test compares tsc's errors with the marks).
import { createRuntime, stateKey, ErrorCode } from '../../hybridsync.js';
import type { Ban } from '../../hybridsync.js';

createRuntime({ url: 'wss://sync.example.com/' }); // error TS2345
const runtime = createRuntime({ url: 'wss://x/', getToken: () => 't', linger: '1s' }); // error TS2322
const app = runtime.mount('profile');
app.observe(stateKey<Ban>('moderation:users', '42', null), () => {}); // error TS2345
app.observe(stateKey<Ban | null>('moderation:users', '42', null), (ban) => ban.reason); // error TS2531
app.observeChannel<{ text: string }>('chat:lobby', (event) => event.data.text); // error TS2339
app.publish('chat:lobby', () => 'not JSON'); // error TS2345
app.backfill('chat:lobby', 41); // error TS2345
const code: 'banned' | 'closed' = ErrorCode.timeout; // error TS2322
runtime.onStatus((status) => status.state === 'online'); // error TS2367
import { useHybridState, useChannel } from '../../react.js';
const state = useHybridState(stateKey<Ban>('moderation:users', '42', { reason: '', until: null }));
const reason: string = state.value.reason; // error TS2532
useChannel('chat:lobby', { limit: 'all' }); // error TS2322

// A subscription token provider must be a function.
runtime.mount('billing', { subscriptionToken: 'jwt' }); // error TS2322
app.observePresence('room:1', (users) => users.map((u) => u.contexts)); // error TS2339
