// The TypeScript declarations, checked with tsc (Debian's node-typescript, which make test installs):
// a usage file passes, a file of wrong calls fails with exactly the errors marked on its lines, and
// package.json names this module's version and files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { version } from '../hybridsync.js';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

function tsc(...args) {
  const run = spawnSync('tsc', args, { cwd: here('./types/'), encoding: 'utf8' });
  if (run.error) throw new Error(`tsc not found (Debian package node-typescript; make test-deps installs it): ${run.error.message}`);
  return { status: run.status, output: run.stdout + run.stderr };
}

test('tsc accepts the usage file (every call of docs/BROWSER.md, the React bindings)', () => {
  const { status, output } = tsc('-p', 'tsconfig.good.json');
  assert.equal(status, 0, output);
});

test('tsc refuses the wrong calls with exactly the errors marked on their lines', () => {
  const { status, output } = tsc('-p', 'tsconfig.bad.json');
  assert.notEqual(status, 0);
  const found = [...output.matchAll(/^bad\.ts\((\d+),\d+\): error (TS\d+)/gm)].map(([, line, code]) => `${line} ${code}`).sort();
  const expected = readFileSync(here('./types/bad.ts'), 'utf8').split('\n')
    .flatMap((text, index) => [...text.matchAll(/\/\/ error (TS\d+)/g)].map(([, code]) => `${index + 1} ${code}`)).sort();
  assert.ok(expected.length >= 10, 'the file marks its wrong calls');
  assert.deepEqual(found, expected, output);
  assert.doesNotMatch(output, /^(?!bad\.ts).*error TS/m, 'no error outside the marked lines');
});

test('the declarations themselves check without skipLibCheck', () => {
  const { status, output } = spawnSync('tsc', ['--noEmit', '--strict', '--target', 'es2022', '--lib', 'es2022,dom', here('../hybridsync.d.ts')], { encoding: 'utf8' });
  assert.equal(status, 0, output);
});

test('package.json: the module\'s version, ESM exports with types, and every file it names exists', () => {
  const manifest = JSON.parse(readFileSync(here('../package.json'), 'utf8'));
  assert.equal(manifest.version, version);
  assert.equal(manifest.type, 'module');
  assert.deepEqual(manifest.exports['.'], { types: './hybridsync.d.ts', default: './hybridsync.js' });
  for (const file of manifest.files) assert.ok(existsSync(here(`../${file}`)), `${file} is missing`);
});

test('npm pack makes the package of exactly the module, the React bindings, their declarations and package.json', () => {
  const run = spawnSync('npm', ['pack', '--dry-run', '--json'], { cwd: here('..'), encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const [pack] = JSON.parse(run.stdout);
  assert.equal(`${pack.name}@${pack.version}`, `hybridsync@${version}`);
  assert.deepEqual(pack.files.map((file) => file.path).sort(), ['hybridsync.d.ts', 'hybridsync.js', 'package.json', 'react.d.ts', 'react.js']);
});
