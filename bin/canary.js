#!/usr/bin/env node
// The `canary` command: runs the TypeScript sources through tsx, so there is no build step.
'use strict';
require('tsx/cjs');
const { main } = require('../src/cli/main.ts');

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
