#!/usr/bin/env node
// Launcher of the twinlane CLI for npx, npm link and global installs: Node cannot run
// TypeScript by itself, and `node --import tsx` resolves tsx from the working directory, which
// outside this repository has none. Here tsx is resolved from this file, so the CLI runs from
// any directory. Inside the repository `./bin/twinlane.ts` (shebang) works as well.
import { register } from 'tsx/esm/api';

register();
await import('./twinlane.ts');
