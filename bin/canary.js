#!/usr/bin/env node
// The `canary` command: runs the TypeScript sources through tsx, so there is no build step.
//
// Only tsx's require hook is registered here, not its ESM loader (the `tsx` binary registers both): every source
// module must be reached through `require`, i.e. a static import, never `import()`, which would go to Node's own ESM
// loader and fail on the extensionless path (test/e2e/packed-cli.test.ts runs the packed command).
//
// tsx compiles with the tsconfig.json it finds from the working directory up, so a project the command runs in could
// remap this package's imports (`paths`) or change how it compiles; TSX_TSCONFIG_PATH pins this package's own, and is
// put back afterwards so that processes the command starts (a worker's command tasks) do not inherit it.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const userTsconfig = process.env.TSX_TSCONFIG_PATH;
const tsconfig = join(__dirname, '..', 'tsconfig.json');
// tsx refuses to start on a tsconfig that is not there: a package without one compiles with tsx's defaults.
if (existsSync(tsconfig)) process.env.TSX_TSCONFIG_PATH = tsconfig;
require('tsx/cjs');
if (userTsconfig === undefined) delete process.env.TSX_TSCONFIG_PATH;
else process.env.TSX_TSCONFIG_PATH = userTsconfig;

const { main } = require('../src/cli/main.ts');

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
