// Every language file has exactly the reference (Turkish) keys and the same {placeholders}; components take
// their user-visible texts from the locale files, never from string literals.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const src = new URL('../src/', import.meta.url).pathname;
const localesDir = join(src, 'locales');
const load = (file) => JSON.parse(readFileSync(join(localesDir, file), 'utf8'));
const reference = load('tr.json');
const others = readdirSync(localesDir).filter((f) => f.endsWith('.json') && f !== 'tr.json');
const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

function* sources(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* sources(path);
    else if (/\.tsx?$/.test(name)) yield path;
  }
}

test('there is at least one language besides Turkish', () => {
  assert.ok(others.includes('en.json'), 'English is complete');
});

for (const file of others) {
  test(`${file} has the same keys as tr.json`, () => {
    const dict = load(file);
    const missing = Object.keys(reference).filter((k) => !(k in dict));
    const extra = Object.keys(dict).filter((k) => !(k in reference));
    assert.deepEqual(missing, [], `missing in ${file}`);
    assert.deepEqual(extra, [], `not in tr.json`);
  });

  test(`${file} keeps every {placeholder} and leaves no text empty`, () => {
    const dict = load(file);
    for (const [key, text] of Object.entries(reference)) {
      assert.deepEqual(placeholders(dict[key] ?? ''), placeholders(text), `placeholders of ${key}`);
      assert.ok(String(dict[key]).trim(), `${key} is empty in ${file}`);
    }
  });
}

test('every key the code names exists in tr.json', () => {
  const used = new Set();
  for (const path of sources(src)) {
    const code = readFileSync(path, 'utf8');
    for (const m of code.matchAll(/\bt\(\s*'([\w.-]+)'/g)) used.add(m[1]);
    for (const m of code.matchAll(/(?:label|key|title): '((?:nav|menu|report)\.[\w.]+)'/g)) used.add(m[1]);
  }
  const unknown = [...used].filter((k) => !(k in reference));
  assert.deepEqual(unknown, []);
  assert.ok(used.size > 100, `found ${used.size} keys in use`);
});

test('no user-visible text is hard-coded in components', () => {
  const found = [];
  for (const path of sources(src)) {
    if (!path.endsWith('.tsx')) continue;
    const code = readFileSync(path, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    // JSX text between tags: a run with a letter in it that is not an expression.
    for (const m of code.matchAll(/(?<![=-])>([^<>{}]*)</g)) {
      const text = m[1].trim();
      if (/\p{L}/u.test(text) && !/[;=()]|=>|&&|\|\|/.test(text)) found.push(`${path}: "${text}"`);
    }
    // Attributes people read or hear.
    for (const m of code.matchAll(/\b(aria-label|placeholder|title|alt)="([^"]*)"/g)) {
      if (/\p{L}/u.test(m[2]) && !(m[2] in reference)) found.push(`${path}: ${m[1]}="${m[2]}"`);
    }
  }
  assert.deepEqual(found, []);
});
