#!/usr/bin/env node
// A native-solc stand-in for forge, backed by solcjs (npm `solc`, WebAssembly).
// forge talks to its compiler with exactly two calls: `--version` (which must look
// like native solc's answer) and `--standard-json` (input on stdin, output on
// stdout). There is no native solc in any registry we can reach, hence this file.
// Two traps: solcjs's own CLI prints a banner before
// its JSON, so we use the JS API; and the process may exit only once stdout has
// been flushed, or the output is cut at 64 KiB.
'use strict';
const fs = require('fs');
const path = require('path');

const SOLC_DIR = path.resolve(__dirname, '..', 'tools', 'npm', 'node_modules', 'solc');

function loadSolc() {
  try {
    return require(SOLC_DIR);
  } catch (err) {
    process.stderr.write(`solc-wrapper: cannot load solcjs from ${SOLC_DIR}: run scripts/setup.sh\n`);
    process.exit(2);
  }
}

function nativeVersion(solc) {
  // "0.8.37+commit.f401782d.Emscripten.clang" -> "0.8.37+commit.f401782d.Linux.g++"
  const m = /^(\d+\.\d+\.\d+\+commit\.[0-9a-f]+)/.exec(solc.version());
  return `${m ? m[1] : solc.version()}.Linux.g++`;
}

function parseRoots(argv) {
  const roots = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    let value = null;
    for (const flag of ['--base-path', '--include-path', '--allow-paths']) {
      if (a === flag) value = argv[++i];
      else if (a.startsWith(flag + '=')) value = a.slice(flag.length + 1);
    }
    if (value !== null && value !== undefined) {
      for (const p of value.split(',')) if (p) roots.push(path.resolve(p));
    }
  }
  roots.push(process.cwd());
  return roots;
}

function makeImportCallback(roots) {
  return (importPath) => {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : roots.map((r) => path.join(r, importPath));
    for (const c of candidates) {
      try {
        return { contents: fs.readFileSync(c, 'utf8') };
      } catch (_) {
        /* try the next root */
      }
    }
    return { error: `File not found: ${importPath}` };
  };
}

function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--version')) {
    const solc = loadSolc();
    const out = `solc, the solidity compiler commandline interface\nVersion: ${nativeVersion(solc)}\n`;
    process.stdout.write(out, () => process.exit(0));
    return;
  }
  if (!argv.includes('--standard-json')) {
    process.stderr.write('solc-wrapper: only --version and --standard-json are supported\n');
    process.exit(2);
  }
  const chunks = [];
  process.stdin.on('data', (c) => chunks.push(c));
  process.stdin.on('end', () => {
    const solc = loadSolc();
    const input = Buffer.concat(chunks).toString('utf8');
    const out = solc.compile(input, { import: makeImportCallback(parseRoots(argv)) });
    process.stdout.write(out, () => process.exit(0));
  });
}

main();
