import { abortChaosRuns, formatChaosReport, runChaos } from './lib/chaos/run.js';
import { ensureTemporalCli } from './setup-temporal.mjs';

/**
 * `npm run chaos`: the chaos run of issue 10 at full size (CHAOS_WRITES, CHAOS_CONNECTIONS,
 * CHAOS_TENANTS, CHAOS_SETTLE_SECONDS; default 10,000 writes at 50 connections over 20 tenants). Prints the counts and
 * exits non-zero on any violation. `test/chaos/chaos.test.ts` runs a small one in `npm test`.
 */
const int = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer`);
  return v;
};
// Ctrl-C leaves no processes and no private cluster behind.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stdout.write('\nstopping the chaos run…\n');
    void abortChaosRuns().finally(() => process.exit(130));
  });
}
const began = Date.now();
const report = await runChaos({
  writes: int('CHAOS_WRITES', 10_000),
  connections: int('CHAOS_CONNECTIONS', 50),
  tenants: int('CHAOS_TENANTS', 20),
  settleTimeoutMs: int('CHAOS_SETTLE_SECONDS', 900) * 1000,
  temporalCli: ensureTemporalCli({ quiet: true }),
  log: (line) => process.stdout.write(`${line}\n`),
});
process.stdout.write(`\n${formatChaosReport(report).join('\n')}\n(total ${((Date.now() - began) / 1000).toFixed(0)} s)\n`);
if (process.env.CHAOS_DETAILS) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
process.exit(report.violations.length ? 1 : 0);
