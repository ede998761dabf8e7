import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigSchema, appDatabaseUrl, loadConfig } from '../../core/config.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');

/** Sample values for the required secrets (`${X:?msg}`); `${X:-default}` takes its default. */
const samples: Record<string, string> = {
  POSTGRES_PASSWORD: 'owner-secret',
  APP_DATABASE_PASSWORD: 'app-secret',
  TEMPORAL_DB_PASSWORD: 'temporal-secret',
  PUBLIC_URL: 'https://roster.example.com',
  SECRETS_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
};

/** Compose interpolation: ${X}, ${X:-d}, ${X-d}, ${X:?msg}, ${X?msg}, and $$ for a literal $. */
function interpolate(text: string): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (match, name?: string, op?: string, arg?: string) => {
    if (!name) return '$';
    const value = samples[name];
    if (op?.endsWith('-')) return value ?? arg ?? '';
    if (op?.endsWith('?') && value === undefined) throw new Error(`required variable ${name} has no sample: ${arg}`);
    return value ?? '';
  });
}

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[] };
  ports?: (string | { target?: number; published?: string | number })[];
  volumes?: (string | { type?: string; source?: string })[];
  deploy?: { replicas?: number };
}

const compose = parse(interpolate(read('docker-compose.yml')), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;

function service(name: string): Service {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}

function environment(name: string): Record<string, string> {
  const env = service(name).environment ?? {};
  const entries = Array.isArray(env)
    ? env.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const)
    : Object.entries(env).map(([key, value]) => [key, value === null ? '' : String(value)] as const);
  return Object.fromEntries(entries);
}

function dependency(name: string, on: string): string | undefined {
  const deps = service(name).depends_on;
  if (Array.isArray(deps)) return deps.includes(on) ? 'service_started' : undefined;
  const dep = deps?.[on];
  return dep ? (dep.condition ?? 'service_started') : undefined;
}

function commandWords(name: string): string[] {
  const command = service(name).command;
  return typeof command === 'string' ? command.split(/\s+/) : (command ?? []);
}

const appServices = ['migrate', 'api', 'worker'];
const configKeys = new Set(Object.keys(ConfigSchema.shape));

describe('docker-compose.yml', () => {
  it('has the production services', () => {
    for (const name of ['postgres', 'temporal-admin-tools', 'temporal', 'temporal-create-namespace', 'temporal-ui', 'migrate', 'api', 'worker']) {
      expect(services, name).toHaveProperty([name]);
    }
    expect(service('postgres').image).toMatch(/^postgres:15\b/);
  });

  it.each(appServices)('%s sets only ConfigSchema keys, and they parse', (name) => {
    const env = environment(name);
    expect(Object.keys(env).length).toBeGreaterThan(0);
    for (const key of Object.keys(env)) expect(configKeys, `${name}: ${key} is not in ConfigSchema`).toContain(key);
    const config = loadConfig(env);
    expect(config.NODE_ENV).toBe('production');
  });

  it('gives the api and worker the app role and the migrate job the owner', () => {
    for (const name of ['api', 'worker']) {
      const env = environment(name);
      expect(env, `${name} must not hold the owner's credentials`).not.toHaveProperty('DATABASE_URL');
      const config = loadConfig(env);
      const url = new URL(appDatabaseUrl(config));
      expect(url.username).toBe('roster_app');
      expect(url.hostname).toBe('postgres');
      expect(decodeURIComponent(url.password)).toBe(samples.APP_DATABASE_PASSWORD);
      expect(config.TEMPORAL_ADDRESS).toBe('temporal:7233');
    }
    const migrate = loadConfig(environment('migrate'));
    expect(new URL(migrate.DATABASE_URL).hostname).toBe('postgres');
    // The password migrate sets on roster_app is the one the api and worker log in with.
    expect(migrate.APP_DATABASE_PASSWORD).toBe(samples.APP_DATABASE_PASSWORD);
  });

  it('publishes the api on its PORT and checks /readyz', () => {
    const { PORT } = loadConfig(environment('api'));
    const targets = (service('api').ports ?? []).map((port) =>
      typeof port === 'string' ? Number(port.split('/')[0]!.split(':').at(-1)) : Number(port.target),
    );
    expect(targets).toContain(PORT);
    const test = service('api').healthcheck?.test;
    expect([test].flat().join(' ')).toContain(`127.0.0.1:${PORT}/readyz`);
  });

  it('starts the api and workers only after migrations and the Temporal namespace', () => {
    for (const name of ['api', 'worker']) {
      expect(dependency(name, 'migrate'), name).toBe('service_completed_successfully');
      expect(dependency(name, 'temporal-create-namespace'), name).toBe('service_completed_successfully');
    }
    expect(dependency('migrate', 'postgres')).toBe('service_healthy');
    expect(dependency('temporal', 'temporal-admin-tools')).toBe('service_completed_successfully');
    expect(dependency('temporal-admin-tools', 'postgres')).toBe('service_healthy');
    expect(dependency('temporal-create-namespace', 'temporal')).toBe('service_healthy');
    expect(environment('temporal-create-namespace').NAMESPACE).toBe(loadConfig(environment('worker')).TEMPORAL_NAMESPACE);
  });

  it('runs Temporal server and admin tools of one version, against PostgreSQL', () => {
    const tag = (image?: string) => image?.split(':')[1];
    expect(service('temporal').image).toMatch(/^temporalio\/server:/);
    expect(service('temporal-admin-tools').image).toMatch(/^temporalio\/admin-tools:/);
    expect(tag(service('temporal').image)).toBe(tag(service('temporal-admin-tools').image));
    expect(tag(service('temporal-create-namespace').image)).toBe(tag(service('temporal').image));
    expect(environment('temporal')).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgres' });
    expect(environment('temporal-ui').TEMPORAL_ADDRESS).toBe('temporal:7233');
  });

  it('exposes /metrics to Prometheus inside the network, with a monitoring profile that scrapes it and loads the dashboard', () => {
    for (const name of ['api', 'worker']) expect(loadConfig(environment(name)).METRICS_PORT, name).toBe(9464);
    expect(loadConfig(environment('worker')).TEMPORAL_METRICS_PORT).toBe(9465);
    // Not published: only the api's own port is.
    expect(JSON.stringify(service('api').ports)).not.toContain('9464');
    const prometheus = parse(read('deploy/prometheus/prometheus.yml')) as { scrape_configs: { dns_sd_configs: { names: string[]; port: number }[] }[]; rule_files: string[] };
    const scraped = prometheus.scrape_configs.flatMap((c) => c.dns_sd_configs.map((d) => `${d.names.join()}:${d.port}`));
    expect(scraped).toEqual(expect.arrayContaining(['api:9464', 'worker:9464', 'worker:9465']));
    const alerts = parse(read('deploy/prometheus/alerts.yml')) as { groups: { rules: { alert: string; expr: string }[] }[] };
    const exprs = alerts.groups.flatMap((g) => g.rules.map((r) => r.expr)).join('\n');
    // Every roster_* series an alert or the dashboard uses is one the code defines.
    const defined = read('core/metrics.ts');
    const dashboard = read('deploy/grafana/dashboards/roster.json');
    for (const series of new Set([...`${exprs}\n${dashboard}`.matchAll(/roster_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')))) {
      expect(defined, series).toContain(`'${series}'`);
    }
    for (const name of ['prometheus', 'grafana']) expect((service(name) as { profiles?: string[] }).profiles).toEqual(['monitoring']);
  });

  it('leaves traces off unless OTEL_EXPORTER_OTLP_ENDPOINT is given', () => {
    for (const name of ['api', 'worker']) expect(loadConfig(environment(name)).OTEL_EXPORTER_OTLP_ENDPOINT, name).toBeUndefined();
  });

  it('runs more than one worker', () => {
    expect(service('worker').deploy?.replicas).toBeGreaterThanOrEqual(2);
  });

  it('mounts only files that exist', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const volume of svc.volumes ?? []) {
        const source = typeof volume === 'string' ? volume.split(':')[0]! : (volume.source ?? '');
        if (source.startsWith('./')) expect(existsSync(`${root}${source.slice(2)}`), `${name}: ${source}`).toBe(true);
      }
    }
  });

  // api/server.ts and worker/main.ts are other engineers' files; until they land this fails on purpose.
  it.each(appServices)("runs %s from an entry file that exists, in the repository's image", (name) => {
    expect(service(name).build ?? service(name).image).toBeDefined();
    const entries = commandWords(name).filter((word) => word.endsWith('.ts'));
    expect(entries).toHaveLength(1);
    expect(existsSync(`${root}${entries[0]}`), entries[0]).toBe(true);
  });
});

describe('Dockerfile', () => {
  it('exists, builds on node:20-bookworm-slim, runs as a non-root user and has a CMD whose entry file exists', () => {
    const dockerfile = read('Dockerfile');
    expect(dockerfile).toMatch(/node:20-bookworm-slim/);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toMatch(/^USER (?!root\b)\S+/m);
    expect(dockerfile).not.toMatch(/^HEALTHCHECK/m);
    const cmd = /^CMD (\[.*\])\s*$/m.exec(dockerfile)?.[1];
    expect(cmd).toBeDefined();
    const words = JSON.parse(cmd!) as string[];
    const entry = words.find((word) => word.endsWith('.ts'));
    expect(entry).toBeDefined();
    expect(existsSync(`${root}${entry}`), entry).toBe(true);
  });

  it('keeps local state and secrets out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((line) => line.trim());
    for (const entry of ['node_modules', '.tools', '.data', '.git', '.env']) expect(ignored).toContain(entry);
  });
});
