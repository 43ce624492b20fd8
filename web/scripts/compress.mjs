// After `vite build`: write a .gz beside every text asset (the gateway serves it to browsers that accept gzip)
// and print the gzipped size of the JavaScript and CSS; fail when they pass the size budget.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

const dist = new URL('../dist/', import.meta.url).pathname;
const TEXT = /\.(js|css|html|svg|json|txt|map)$/;

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else yield path;
  }
}

let js = 0;
let css = 0;
for (const path of files(dist)) {
  if (!TEXT.test(path)) continue;
  const gz = gzipSync(readFileSync(path), { level: 9 });
  writeFileSync(`${path}.gz`, gz);
  if (path.endsWith('.js')) js += gz.length;
  if (path.endsWith('.css')) css += gz.length;
  console.log(`${relative(dist, path).padEnd(40)} ${(gz.length / 1024).toFixed(1).padStart(7)} KiB gzipped`);
}
console.log(`total JS+CSS gzipped: ${((js + css) / 1024).toFixed(1)} KiB (JS ${(js / 1024).toFixed(1)}, CSS ${(css / 1024).toFixed(1)})`);

// The budget for the whole client (docs/benchmarks.md section 6): the build fails above it.
const BUDGET_KIB = 250;
if ((js + css) / 1024 > BUDGET_KIB) {
  console.error(`over budget: JS+CSS gzipped is above ${BUDGET_KIB} KiB`);
  process.exit(1);
}
