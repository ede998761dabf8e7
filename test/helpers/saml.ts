import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Self-signed X.509 certificates (the openssl CLI) and SAML IdP metadata around them, for tests.
 * `validDays` certificates start now; `expired` ones lived through 2020 (`openssl ca` is the 3.0
 * way to set both dates).
 */
export function makeCertificate(options: { cn?: string; validDays?: number; expired?: boolean } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'roster-cert-'));
  try {
    const cn = options.cn ?? 'test-idp';
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    if (!options.expired) {
      run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-subj', `/CN=${cn}`, '-days', String(options.validDays ?? 365)]);
    } else {
      run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'k.pem', '-out', 'r.csr', '-subj', `/CN=${cn}`]);
      writeFileSync(join(dir, 'index.txt'), '');
      writeFileSync(join(dir, 'serial'), '01\n');
      writeFileSync(
        join(dir, 'ca.cnf'),
        '[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n',
      );
      run(['ca', '-batch', '-config', 'ca.cnf', '-selfsign', '-keyfile', 'k.pem', '-in', 'r.csr', '-out', 'c.pem', '-startdate', '20200101000000Z', '-enddate', '20210101000000Z', '-notext']);
    }
    const pem = readFileSync(join(dir, 'c.pem'), 'utf8');
    return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function samlMetadata(options: { entityId?: string; ssoUrl?: string; binding?: 'HTTP-Redirect' | 'HTTP-POST'; certificates: string[]; use?: 'signing' | 'encryption' }): string {
  const keys = options.certificates
    .map(
      (c) => `
    <md:KeyDescriptor use="${options.use ?? 'signing'}">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>${c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>`,
    )
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${options.entityId ?? 'https://idp.example.com/metadata'}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${keys}
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:${options.binding ?? 'HTTP-Redirect'}" Location="${options.ssoUrl ?? 'https://idp.example.com/sso'}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`;
}
