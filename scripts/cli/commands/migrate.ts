import type { Command } from 'commander';
import type { CliDeps } from '../deps.js';

/** `roster migrate`: apply pending migrations (the owner pool migrates when first opened). */
export function registerMigrateCommands(program: Command, deps: CliDeps): void {
  program
    .command('migrate')
    .description('apply pending migrations')
    .action(async () => {
      await deps.db();
      process.stdout.write('migrations applied\n');
    });
}
