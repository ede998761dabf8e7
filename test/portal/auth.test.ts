import { TOTP } from 'otpauth';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { issueSetupLink } from '../../core/portal-auth/service.js';
import {
  apiFetch,
  consoleBase,
  consoleClient,
  cookieFrom,
  portalBase,
  portalClient,
  portalSignIn,
  setupToken,
  strongPassword,
} from '../helpers/portal.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { approveAndWait, setApprovalPolicy, waitingRequestOf } from '../helpers/approvals.js';

let stack: TestStack;
/** Short timeouts and a low per-address limit: idle/absolute expiry and address throttling. */
let short: TestStack;
let tenant: TestTenant;
let other: TestTenant;

beforeAll(async () => {
  [stack, short] = await Promise.all([
    // Every test here signs in from 127.0.0.1: the per-address limit is tested on `short` only.
    startStack({ env: { AUTH_ADDRESS_MAX_FAILURES: '1000' } }),
    startStack({ env: { PORTAL_SESSION_IDLE_SECONDS: '2', PORTAL_SESSION_ABSOLUTE_SECONDS: '5', AUTH_ADDRESS_MAX_FAILURES: '4', AUTH_LOCKOUT_SECONDS: '120' } }),
  ]);
  [tenant, other] = await Promise.all([stack.createTenant(), stack.createTenant()]);
});
afterAll(async () => Promise.all([stack?.close(), short?.close()]));

const portal = (s: TestStack, method: string, path: string, body?: unknown, headers?: Record<string, string>) => apiFetch(portalBase(s), method, path, body, headers);

async function auditActions(s: TestStack, tenantId: string, targetId?: string): Promise<string[]> {
  return [
    ...(await s.owner.anyFirst(sql.type(z.object({ action: z.string() }))`
      SELECT action FROM audit_events WHERE tenant_id = ${tenantId} ${targetId ? sql.fragment`AND target_id = ${targetId}` : sql.fragment``} ORDER BY id`)),
  ];
}

async function newLink(s: TestStack, t: { id: string }, email: string, roles: ('admin' | 'approver' | 'reviewer' | 'auditor')[] = ['admin'], ttlSeconds?: number) {
  const link = await issueSetupLink(s.app, { tenantId: t.id, email, roles, createdBy: { type: 'operator', id: 'test' }, publicUrl: s.url, ...(ttlSeconds ? { ttlSeconds } : {}) });
  return setupToken(link.url);
}

describe('setup links', () => {
  it('inspect shows whom the link is for; complete sets the password, signs in with a hardened cookie; the link works once', async () => {
    const token = await newLink(stack, tenant, 'setup-once@example.com');
    const inspect = await portal(stack, 'POST', '/setup/inspect', { token });
    expect(inspect.status).toBe(200);
    expect(inspect.body).toMatchObject({ email: 'setup-once@example.com', tenant: { slug: tenant.slug } });

    const done = await portal(stack, 'POST', '/setup/complete', { token, password: strongPassword(), displayName: 'Setup Once' });
    expect(done.status).toBe(200);
    const setCookie = done.headers.getSetCookie().find((c) => c.startsWith('roster_portal='))!;
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    expect(setCookie).toMatch(/Path=\/portal\/api/);
    expect(setCookie).not.toMatch(/Secure/i); // plain http on localhost only
    const cookie = cookieFrom(done, 'roster_portal')!;
    expect(cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stored = await stack.owner.anyFirst(sql.type(z.object({ h: z.string() }))`SELECT encode(token_hash, 'base64') AS h FROM portal_sessions`);
    expect(stored.join()).not.toContain(cookie);

    const again = await portal(stack, 'POST', '/setup/complete', { token, password: strongPassword() });
    expect(again.status).toBe(410);
    expect(again.body.error).toBe('link_used');
    expect((await portal(stack, 'POST', '/setup/inspect', { token })).status).toBe(410);
    expect((await portal(stack, 'POST', '/setup/inspect', { token: 'x'.repeat(43) })).status).toBe(404);
  });

  it('an expired link is refused (410 link_expired); a newer link retires the older one', async () => {
    const expiring = await newLink(stack, tenant, 'expiring@example.com', ['auditor'], 1);
    await new Promise((r) => setTimeout(r, 1200));
    const res = await portal(stack, 'POST', '/setup/complete', { token: expiring, password: strongPassword() });
    expect(res.status).toBe(410);
    expect(res.body.error).toBe('link_expired');

    const first = await newLink(stack, tenant, 'twice@example.com', ['auditor']);
    const second = await newLink(stack, tenant, 'twice@example.com', ['reviewer']);
    expect((await portal(stack, 'POST', '/setup/complete', { token: first, password: strongPassword() })).body.error).toBe('link_expired');
    const ok = await portal(stack, 'POST', '/setup/complete', { token: second, password: strongPassword() });
    expect(ok.status).toBe(200);
    expect(ok.body.user.roles).toEqual(['reviewer']);
  });

  it('password policy: length, the common-password list, the e-mail; each with a clear message', async () => {
    const token = await newLink(stack, tenant, 'jonathan.smith@example.com');
    const tryPassword = (password: string) => portal(stack, 'POST', '/setup/complete', { token, password });
    const short = await tryPassword('Sh0rt!pass');
    expect(short.status).toBe(400);
    expect(short.body).toMatchObject({ error: 'invalid_request' });
    expect(short.body.message).toMatch(/at least 12 characters/);
    expect((await tryPassword('x'.repeat(257))).status).toBe(400);
    const common = await tryPassword('PASSWORD1234');
    expect(common.body).toMatchObject({ error: 'weak_password' });
    expect(common.body.message).toMatch(/commonly used/);
    const mine = await tryPassword('my-Jonathan.Smith-2026');
    expect(mine.body).toMatchObject({ error: 'weak_password' });
    expect(mine.body.message).toMatch(/e-mail/);
    // None of the refusals used the link up.
    expect((await tryPassword(strongPassword())).status).toBe(200);
  });
});

describe('sign-in', () => {
  it('right password signs in; wrong password, unknown person, unknown or wrong tenant answer the same 401 after the same work', async () => {
    const alice = await portalClient(stack, tenant, { roles: ['approver'] });
    const good = await portalSignIn(stack, tenant.slug, alice.email.toUpperCase(), alice.password);
    expect(good.response.status).toBe(200);
    expect((await good.request('GET', '/session')).body.user.roles).toEqual(['approver']);

    const attempts = {
      wrongPassword: { tenant: tenant.slug, email: alice.email, password: `${alice.password}x` },
      unknownPerson: { tenant: tenant.slug, email: 'nobody@example.com', password: alice.password },
      unknownTenant: { tenant: 'no-such-tenant', email: alice.email, password: alice.password },
      wrongTenant: { tenant: other.slug, email: alice.email, password: alice.password },
    };
    const timings: Record<string, number> = {};
    for (const [name, body] of Object.entries(attempts)) {
      const started = performance.now();
      const res = await portal(stack, 'POST', '/sign-in', body);
      timings[name] = performance.now() - started;
      expect(res.status, name).toBe(401);
      expect(res.body, name).toEqual({ error: 'invalid_credentials', message: 'The organisation, e-mail or password is not right.' });
      expect(cookieFrom(res, 'roster_portal'), name).toBeUndefined();
    }
    // Unknown accounts still pay for an argon2 verification (a dummy hash).
    expect(timings.unknownPerson!).toBeGreaterThan(timings.wrongPassword! * 0.3);
    expect(timings.unknownTenant!).toBeGreaterThan(timings.wrongPassword! * 0.3);
    const actions = await auditActions(stack, tenant.id, alice.userId);
    expect(actions).toEqual(expect.arrayContaining(['portal.sign_in', 'portal.sign_in_failed', 'portal.password_set']));
  });

  it('one person in two tenants has two accounts: the tenant slug picks which', async () => {
    const email = 'two.hats@example.com';
    const inA = await portalClient(stack, tenant, { roles: ['auditor'], email });
    const inB = await portalClient(stack, other, { roles: ['admin'], email: email.toUpperCase() });
    const a = await portalSignIn(stack, tenant.slug, email, inA.password);
    const b = await portalSignIn(stack, other.slug, email, inB.password);
    expect((await a.request('GET', '/session')).body.user).toMatchObject({ id: inA.userId, roles: ['auditor'], tenant: { slug: tenant.slug } });
    expect((await b.request('GET', '/session')).body.user).toMatchObject({ id: inB.userId, roles: ['admin'], tenant: { slug: other.slug } });
    expect((await portal(stack, 'POST', '/sign-in', { tenant: other.slug, email, password: inA.password })).status).toBe(401);
  });

  it('an invited person who has not set a password yet cannot sign in', async () => {
    await newLink(stack, tenant, 'invited-only@example.com');
    expect((await portal(stack, 'POST', '/sign-in', { tenant: tenant.slug, email: 'invited-only@example.com', password: strongPassword() })).status).toBe(401);
  });

  it('five failures lock the account for a while (429 locked with Retry-After), even for the right password; others are unaffected', async () => {
    const bob = await portalClient(stack, tenant, { roles: ['reviewer'] });
    const carol = await portalClient(stack, tenant, { roles: ['reviewer'] });
    const wrong = { tenant: tenant.slug, email: bob.email, password: 'definitely-not-it-123' };
    for (let i = 1; i <= 4; i++) expect((await portal(stack, 'POST', '/sign-in', wrong)).status).toBe(401);
    const fifth = await portal(stack, 'POST', '/sign-in', wrong);
    expect(fifth.status).toBe(429);
    expect(fifth.body.error).toBe('locked');
    expect(Number(fifth.headers.get('retry-after'))).toBeGreaterThan(800);
    const right = await portal(stack, 'POST', '/sign-in', { tenant: tenant.slug, email: bob.email, password: bob.password });
    expect(right.status).toBe(429);
    expect(right.body.error).toBe('locked');
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(800);
    // An existing session keeps working; other accounts can sign in.
    expect((await bob.request('GET', '/session')).status).toBe(200);
    expect((await portalSignIn(stack, tenant.slug, carol.email, carol.password)).response.status).toBe(200);
    expect(await auditActions(stack, tenant.id, bob.userId)).toContain('portal.account_locked');
    // Unknown accounts lock the same way (no hint that they do not exist).
    const ghost = { tenant: tenant.slug, email: 'ghost@example.com', password: 'whatever-it-is-123' };
    for (let i = 1; i <= 4; i++) await portal(stack, 'POST', '/sign-in', ghost);
    expect((await portal(stack, 'POST', '/sign-in', ghost)).body.error).toBe('locked');
  });

  it('too many failures from one address refuse it (429 too_many_attempts with Retry-After)', async () => {
    const t = await short.createTenant();
    const dave = await portalClient(short, t, { roles: ['admin'] });
    for (let i = 1; i <= 3; i++) {
      expect((await portal(short, 'POST', '/sign-in', { tenant: t.slug, email: `someone-${i}@example.com`, password: 'nope-nope-nope-1' })).status).toBe(401);
    }
    const fourth = await portal(short, 'POST', '/sign-in', { tenant: t.slug, email: 'someone-4@example.com', password: 'nope-nope-nope-1' });
    expect(fourth.status).toBe(429);
    expect(fourth.body.error).toBe('too_many_attempts');
    expect(Number(fourth.headers.get('retry-after'))).toBeGreaterThan(100);
    const blocked = await portal(short, 'POST', '/sign-in', { tenant: t.slug, email: dave.email, password: dave.password });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBeTruthy();
    await short.owner.query(sql.unsafe`DELETE FROM auth_throttle`);
  });

  it('sign-in and setup completion refuse a cross-site Origin; our own origin is fine', async () => {
    const erin = await portalClient(stack, tenant, { roles: ['auditor'] });
    const body = { tenant: tenant.slug, email: erin.email, password: erin.password };
    const evil = await portal(stack, 'POST', '/sign-in', body, { origin: 'https://evil.example' });
    expect(evil.status).toBe(403);
    expect(evil.body.error).toBe('csrf');
    expect(cookieFrom(evil, 'roster_portal')).toBeUndefined();
    expect((await portal(stack, 'POST', '/sign-in', body, { origin: stack.url })).status).toBe(200);
    const token = await newLink(stack, tenant, 'origin-check@example.com');
    expect((await portal(stack, 'POST', '/setup/complete', { token, password: strongPassword() }, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await portal(stack, 'POST', '/setup/complete', { token, password: strongPassword() }, { origin: stack.url })).status).toBe(200);
  });
});

describe('sessions and CSRF', () => {
  it('a write needs the session’s CSRF token: missing, wrong or another session’s token is 403 csrf', async () => {
    const admin = await portalClient(stack, tenant, { roles: ['admin'] });
    const otherAdmin = await portalClient(stack, tenant, { roles: ['admin'] });
    const invite = { email: 'csrf-target@example.com', roles: ['auditor'] };
    const noHeader = await apiFetch(portalBase(stack), 'POST', '/members/invite', invite, { cookie: `roster_portal=${admin.cookie}` });
    expect(noHeader.status).toBe(403);
    expect(noHeader.body.error).toBe('csrf');
    expect((await admin.request('POST', '/members/invite', invite, { 'x-csrf-token': 'forged' })).body.error).toBe('csrf');
    expect((await admin.request('POST', '/members/invite', invite, { 'x-csrf-token': otherAdmin.csrfToken })).body.error).toBe('csrf');
    expect((await admin.request('POST', '/members/invite', invite)).status).toBe(201);
  });

  it('sign-out revokes the session and clears the cookie; revoking another session of mine ends it', async () => {
    const frank = await portalClient(stack, tenant, { roles: ['auditor'] });
    const laptop = await portalSignIn(stack, tenant.slug, frank.email, frank.password);
    const sessions = await frank.request('GET', '/account/sessions');
    expect(sessions.body.sessions).toHaveLength(2);
    const laptopSession = sessions.body.sessions.find((s: any) => !s.current);
    expect((await frank.request('DELETE', `/account/sessions/${laptopSession.id}`)).status).toBe(204);
    expect((await laptop.request('GET', '/session')).status).toBe(401);

    const out = await frank.request('POST', '/sign-out');
    expect(out.status).toBe(204);
    expect(out.headers.getSetCookie().join()).toMatch(/roster_portal=;/);
    const after = await frank.request('GET', '/session');
    expect(after.status).toBe(401);
    expect(after.body).toMatchObject({ error: 'unauthenticated' });
    expect(await auditActions(stack, tenant.id, frank.userId)).toEqual(expect.arrayContaining(['portal.session_revoked', 'portal.sign_out']));
  });

  it('an idle session expires; an active one still ends at the absolute timeout', async () => {
    const t = await short.createTenant();
    const idle = await portalClient(short, t, { roles: ['auditor'] });
    const busy = await portalSignIn(short, t.slug, idle.email, idle.password);
    const idleOperator = await consoleClient(short);
    expect((await idle.request('GET', '/session')).status).toBe(200);
    expect((await idleOperator.request('GET', '/session')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2600));
    expect((await idle.request('GET', '/session')).status).toBe(401);
    expect((await idleOperator.request('GET', '/session')).status).toBe(401);

    // `busy` was created with idle's sign-in above, so it is as old; keep it active past idle.
    const fresh = await portalSignIn(short, t.slug, idle.email, idle.password);
    const started = Date.now();
    while (Date.now() - started < 4000) {
      expect((await fresh.request('GET', '/session')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 800));
    }
    await new Promise((r) => setTimeout(r, Math.max(0, 5300 - (Date.now() - started))));
    expect((await fresh.request('GET', '/session')).status).toBe(401);
    expect((await busy.request('GET', '/session')).status).toBe(401);
  });

  it('operators: five failures lock the console account (429 locked), recorded in operator_audit', async () => {
    const op = await consoleClient(stack);
    const wrong = { email: op.email, password: 'not-the-password-1' };
    for (let i = 1; i <= 4; i++) expect((await apiFetch(consoleBase(stack), 'POST', '/sign-in', wrong)).status).toBe(401);
    const fifth = await apiFetch(consoleBase(stack), 'POST', '/sign-in', wrong);
    expect(fifth.status).toBe(429);
    expect(fifth.body.error).toBe('locked');
    expect(Number(fifth.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await apiFetch(consoleBase(stack), 'POST', '/sign-in', { email: op.email, password: op.password })).status).toBe(429);
    const actions = await stack.owner.anyFirst(sql.type(z.object({ action: z.string() }))`
      SELECT action FROM operator_audit WHERE operator_id = ${op.operatorId} ORDER BY id`);
    expect(actions).toEqual(expect.arrayContaining(['operator.password_set', 'operator.sign_in', 'operator.sign_in_failed', 'operator.account_locked']));
    // A console write needs its CSRF token too; sign-out ends the session.
    expect((await op.request('POST', '/sign-out', undefined, { 'x-csrf-token': 'forged' })).status).toBe(403);
    expect((await op.request('POST', '/sign-out')).status).toBe(204);
    expect((await op.request('GET', '/session')).status).toBe(401);
  });

  it('portal and console never share a cookie or a session', async () => {
    const person = await portalClient(stack, tenant, { roles: ['admin'] });
    const op = await consoleClient(stack);
    expect((await apiFetch(consoleBase(stack), 'GET', '/session', undefined, { cookie: `roster_portal=${person.cookie}` })).status).toBe(401);
    expect((await apiFetch(consoleBase(stack), 'GET', '/session', undefined, { cookie: `roster_console=${person.cookie}` })).status).toBe(401);
    expect((await apiFetch(portalBase(stack), 'GET', '/session', undefined, { cookie: `roster_console=${op.cookie}` })).status).toBe(401);
    expect((await apiFetch(portalBase(stack), 'GET', '/session', undefined, { cookie: `roster_portal=${op.cookie}` })).status).toBe(401);
    // A portal person's password does not open the console.
    expect((await apiFetch(consoleBase(stack), 'POST', '/sign-in', { email: person.email, password: person.password })).status).toBe(401);
  });
});

describe('two-step sign-in (TOTP)', () => {
  it('enrol, confirm with an authenticator code, then sign-in needs a code; a recovery code works once', async () => {
    const grace = await portalClient(stack, tenant, { roles: ['approver'] });
    const enroll = await grace.request('POST', '/account/totp/enroll');
    expect(enroll.status).toBe(200);
    expect(enroll.body.otpauthUri).toMatch(/^otpauth:\/\/totp\/Roster:/);
    const totp = new TOTP({ secret: enroll.body.secret, algorithm: 'SHA1', digits: 6, period: 30 });
    expect((await grace.request('POST', '/account/totp/confirm', { code: '000000' === totp.generate() ? '111111' : '000000' })).status).toBe(400);
    const confirm = await grace.request('POST', '/account/totp/confirm', { code: totp.generate() });
    expect(confirm.status).toBe(200);
    const codes: string[] = confirm.body.recoveryCodes;
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    const stored = await stack.owner.anyFirst(sql.type(z.object({ s: z.string() }))`SELECT encode(totp_secret, 'escape') AS s FROM portal_users WHERE id = ${grace.userId}`);
    expect(stored[0]).not.toContain(enroll.body.secret);

    const creds = { tenant: tenant.slug, email: grace.email, password: grace.password };
    const noCode = await portal(stack, 'POST', '/sign-in', creds);
    expect(noCode.status).toBe(401);
    expect(noCode.body.error).toBe('mfa_required');
    expect(cookieFrom(noCode, 'roster_portal')).toBeUndefined();
    const badCode = await portal(stack, 'POST', '/sign-in', { ...creds, code: '123456' === totp.generate() ? '654321' : '123456' });
    expect(badCode.body.error).toBe('invalid_code');
    // Wait for a fresh time step (confirm used the current one), then sign in with it.
    const step = Math.floor(Date.now() / 30_000);
    while (Math.floor(Date.now() / 30_000) === step) await new Promise((r) => setTimeout(r, 250));
    const code = totp.generate();
    const withCode = await portal(stack, 'POST', '/sign-in', { ...creds, code });
    expect(withCode.status).toBe(200);
    expect((await portal(stack, 'POST', '/sign-in', { ...creds, code })).body.error).toBe('invalid_code'); // no replay

    const recovery = await portal(stack, 'POST', '/sign-in', { ...creds, code: codes[3]!.toUpperCase() });
    expect(recovery.status).toBe(200);
    const reused = await portal(stack, 'POST', '/sign-in', { ...creds, code: codes[3] });
    expect(reused.status).toBe(401);
    expect(reused.body.error).toBe('invalid_code');

    const off = await grace.request('DELETE', '/account/totp', { code: codes[5] });
    expect(off.status).toBe(204);
    expect((await portal(stack, 'POST', '/sign-in', creds)).status).toBe(200);
    expect(await auditActions(stack, tenant.id, grace.userId)).toEqual(
      expect.arrayContaining(['portal.totp_enrollment_started', 'portal.totp_enabled', 'portal.recovery_code_used', 'portal.totp_disabled', 'portal.sign_in_failed']),
    );
  });
});

describe('members', () => {
  it('an admin invites (link shown once), changes roles (approved by another person) and removes members; the last admin keeps admin', async () => {
    // Its own stack with a worker: role grants are approval requests decided by their workflow
    // (kept off the shared stack, whose sign-in timing test wants no worker beside it).
    const approvalStack = await startStack({ worker: true });
    onTestFinished(() => approvalStack.close());
    const t = await approvalStack.createTenant();
    const admin = await portalClient(approvalStack, t, { roles: ['admin'] });
    // Role grants are privileged: one approver here, who is neither the requester nor the member.
    await setApprovalPolicy(approvalStack, t.id, { 'portal_roles.set': { approvals: 1 } });
    const deputy = await portalClient(approvalStack, t, { roles: ['approver'] });
    const invite = await admin.request('POST', '/members/invite', { email: 'new.approver@example.com', roles: ['approver'] });
    expect(invite.status).toBe(201);
    expect(invite.body.url).toMatch(new RegExp(`^${approvalStack.url}/setup#token=`));
    const joined = await portal(approvalStack, 'POST', '/setup/complete', { token: setupToken(invite.body.url), password: strongPassword() });
    expect(joined.status).toBe(200);
    const newcomer = joined.body.user.id;
    const newcomerCookie = cookieFrom(joined, 'roster_portal')!;

    const list = await admin.request('GET', '/members');
    expect(list.body.members.map((m: any) => [m.email, m.roles, m.status])).toEqual(
      expect.arrayContaining([
        [admin.email, ['admin'], 'active'],
        ['new.approver@example.com', ['approver'], 'active'],
      ]),
    );
    expect((await admin.request('PATCH', `/members/${admin.userId}`, { roles: ['auditor'] })).body.error).toBe('last_admin');
    expect((await admin.request('DELETE', `/members/${admin.userId}`)).body.error).toBe('last_admin');
    const promotion = waitingRequestOf(await admin.request('PATCH', `/members/${newcomer}`, { roles: ['approver', 'admin'] }));
    expect(promotion.description.subjectUserIds).toEqual([newcomer]);
    expect(await approveAndWait(deputy, promotion.id)).toMatchObject({ state: 'applied' });
    const promoted = (await admin.request('GET', '/members')).body.members.find((m: any) => m.id === newcomer);
    expect(promoted.roles).toEqual(['admin', 'approver']);
    // Role changes revoke nothing: the newcomer's session now carries admin.
    expect((await apiFetch(portalBase(approvalStack), 'GET', '/members', undefined, { cookie: `roster_portal=${newcomerCookie}` })).status).toBe(200);
    const demotion = waitingRequestOf(await admin.request('PATCH', `/members/${admin.userId}`, { roles: ['auditor'] }));
    expect(await approveAndWait(deputy, demotion.id)).toMatchObject({ state: 'applied' });
    expect((await admin.request('GET', '/members')).status).toBe(403);

    const removed = await apiFetch(portalBase(approvalStack), 'DELETE', `/members/${admin.userId}`, undefined, {
      cookie: `roster_portal=${newcomerCookie}`,
      'x-csrf-token': joined.body.csrfToken,
    });
    expect(removed.status).toBe(204);
    expect((await admin.request('GET', '/session')).status).toBe(401);
    expect((await portal(approvalStack, 'POST', '/sign-in', { tenant: t.slug, email: admin.email, password: admin.password })).status).toBe(401);
    expect(await auditActions(approvalStack, t.id)).toEqual(
      expect.arrayContaining(['portal.member_invited', 'portal.member_roles_changed', 'portal.member_removed', 'portal.setup_link_issued']),
    );
    expect((await admin.request('POST', '/members/invite', { email: 'bad', roles: [] })).status).toBe(401);
  });

  it('a member of another tenant sees only their own tenant and cannot touch tenant A’s members (404)', async () => {
    const aAdmin = await portalClient(stack, tenant, { roles: ['admin'] });
    const b = await stack.createTenant();
    const bAdmin = await portalClient(stack, b, { roles: ['admin'] });
    const bList = await bAdmin.request('GET', '/members');
    expect(bList.body.members.map((m: any) => m.email)).toEqual([bAdmin.email]);
    expect((await bAdmin.request('PATCH', `/members/${aAdmin.userId}`, { roles: ['auditor'] })).status).toBe(404);
    expect((await bAdmin.request('DELETE', `/members/${aAdmin.userId}`)).status).toBe(404);
    expect((await bAdmin.request('DELETE', `/account/sessions/${aAdmin.userId}`)).status).toBe(404);
    expect((await aAdmin.request('GET', '/session')).status).toBe(200);
  });

  it('invalid input is 400 invalid_request with the issues', async () => {
    const admin = await portalClient(stack, tenant, { roles: ['admin'] });
    const bad = await admin.request('POST', '/members/invite', { email: 'not-an-email', roles: ['root'] });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_request');
    expect(bad.body.issues.map((i: any) => i.path)).toEqual(expect.arrayContaining(['email', 'roles.0']));
    expect((await admin.request('PATCH', '/members/not-a-uuid', { roles: ['admin'] })).status).toBe(400);
    // A method the resource does not have: 405 with exactly its methods (not its neighbours').
    for (const method of ['OPTIONS', 'PUT']) {
      const wrong = await admin.request(method, '/members/invite');
      expect(wrong.status, method).toBe(405);
      expect(wrong.headers.get('allow'), method).toBe('POST');
    }
    expect((await admin.request('PUT', '/members/00000000-0000-4000-8000-000000000000')).headers.get('allow')?.split(', ').sort()).toEqual(['DELETE', 'PATCH']);
  });
});
