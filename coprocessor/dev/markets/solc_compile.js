#!/usr/bin/env node
// Compile Solidity sources with the npm solc 0.8.19 (alias `solc0819`, the version
// Morpho Blue 1.0.0 pins) through solcjs's JS API; standard-JSON input on stdin,
// output on stdout. Imports resolve against the roots given as arguments (the npm
// node_modules directory and the project's contracts/markets/src). Same two rules as
// scripts/solc-wrapper.js: the JS API (no banner), exit only after stdout is flushed.
'use strict';
const fs = require('fs');
const path = require('path');

const NODE_MODULES = path.resolve(__dirname, '..', '..', '..', 'tools', 'npm', 'node_modules');

function main() {
  let solc;
  try {
    solc = require(path.join(NODE_MODULES, 'solc0819'));
  } catch (err) {
    process.stderr.write('solc_compile: npm solc0819 is not installed (run scripts/setup.sh)\n');
    process.exit(2);
  }
  if (process.argv.includes('--version')) {
    process.stdout.write(solc.version() + '\n', () => process.exit(0));
    return;
  }
  const roots = process.argv.slice(2).map((p) => path.resolve(p));
  const findImports = (importPath) => {
    for (const root of roots) {
      try {
        return { contents: fs.readFileSync(path.join(root, importPath), 'utf8') };
      } catch (_) {
        /* next root */
      }
    }
    return { error: `File not found: ${importPath}` };
  };
  const chunks = [];
  process.stdin.on('data', (c) => chunks.push(c));
  process.stdin.on('end', () => {
    const out = solc.compile(Buffer.concat(chunks).toString('utf8'), { import: findImports });
    process.stdout.write(out, () => process.exit(0));
  });
}

main();
