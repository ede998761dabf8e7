#!/usr/bin/env node
// The `roster` operator CLI. Runs the TypeScript entry through tsx so there is no build step.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
