// The `js` blocks of docs/BROWSER.md parse as ES modules and import only what hybridsync.js exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as hybridsync from '../hybridsync.js';

const page = readFileSync(new URL('../../../docs/BROWSER.md', import.meta.url), 'utf8');
// react.js imports 'react', which node cannot load here: its exports are read from its source.
const reactExports = new Set([...readFileSync(new URL('../react.js', import.meta.url), 'utf8')
  .matchAll(/^export function (\w+)/gm)].map((match) => match[1]));
const blocks = [...page.matchAll(/```js\n([\s\S]*?)```/g)].map((match) => match[1]);

test('docs/BROWSER.md has js blocks', () => {
  assert.ok(blocks.length >= 3, `found ${blocks.length}`);
});

test('every js block of docs/BROWSER.md parses and imports only exported names', () => {
  const directory = mkdtempSync(join(tmpdir(), 'hybridsync-docs-'));
  try {
    blocks.forEach((block, index) => {
      const file = join(directory, `block-${index}.mjs`);
      writeFileSync(file, block);
      execFileSync(process.execPath, ['--check', file]); // throws with the syntax error
      for (const [, names, from] of block.matchAll(/import\s*{([^}]*)}\s*from\s*'([^']*hybridsync(?:\.js|\/react)?)'/g)) {
        const exported = from.endsWith('/react') ? reactExports : new Set(Object.keys(hybridsync));
        for (const name of names.split(',').map((n) => n.trim()).filter(Boolean)) {
          assert.ok(exported.has(name), `block ${index + 1} imports '${name}', which ${from} does not export`);
        }
      }
    });
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
