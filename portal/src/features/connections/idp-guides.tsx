import type { ReactNode } from 'react';
import { CopyButton } from '../../components/index.js';

/**
 * Step-by-step SCIM setup for each identity provider, with the tenant's own base URL filled in and
 * every field named the way that IdP's admin console names it.
 */
export interface IdpGuide {
  id: string;
  name: string;
  /** What the IdP calls the two values Roster hands out. */
  urlField: string;
  tokenField: string;
  steps: (base: ReactNode) => ReactNode[];
  note?: ReactNode;
}

const ui = (text: string) => <strong className="ui-label">{text}</strong>;

export const idpGuides: IdpGuide[] = [
  {
    id: 'okta',
    name: 'Okta',
    urlField: 'SCIM connector base URL',
    tokenField: 'Authorization (HTTP Header)',
    steps: (base) => [
      <>In the Okta Admin Console open {ui('Applications › Applications')} and choose {ui('Create App Integration')} (SAML 2.0 or OIDC), or open the app you already use for sign-in.</>,
      <>On the app's {ui('General')} tab, under {ui('App Settings')}, choose {ui('Edit')}, set {ui('Provisioning')} to {ui('SCIM')} and {ui('Save')}.</>,
      <>On the new {ui('Provisioning')} tab choose {ui('Integration › Edit')} and enter {ui('SCIM connector base URL')}: {base}</>,
      <>Set {ui('Unique identifier field for users')} to <code>userName</code> and tick {ui('Push New Users')}, {ui('Push Profile Updates')} and {ui('Push Groups')} under {ui('Supported provisioning actions')}.</>,
      <>Set {ui('Authentication Mode')} to {ui('HTTP Header')} and paste the token into {ui('Authorization')} (Okta sends it as <code>Bearer …</code>).</>,
      <>Choose {ui('Test Connector Configuration')}, then {ui('Save')}.</>,
      <>Under {ui('Provisioning › To App')} choose {ui('Edit')}, enable {ui('Create Users')}, {ui('Update User Attributes')} and {ui('Deactivate Users')}, and {ui('Save')}.</>,
      <>Assign people or groups on the {ui('Assignments')} tab; push groups from the {ui('Push Groups')} tab.</>,
    ],
  },
  {
    id: 'entra',
    name: 'Microsoft Entra ID',
    urlField: 'Tenant URL',
    tokenField: 'Secret Token',
    steps: (base) => [
      <>In the Microsoft Entra admin center open {ui('Identity › Applications › Enterprise applications')} and choose {ui('New application › Create your own application')}.</>,
      <>Name it, pick {ui("Integrate any other application you don't find in the gallery (Non-gallery)")} and choose {ui('Create')}.</>,
      <>Open {ui('Provisioning')}, choose {ui('Get started')} and set {ui('Provisioning Mode')} to {ui('Automatic')}.</>,
      <>Under {ui('Admin Credentials')} enter {ui('Tenant URL')}: {base}</>,
      <>Paste the token into {ui('Secret Token')}, choose {ui('Test Connection')}, then {ui('Save')}.</>,
      <>Under {ui('Mappings')} keep {ui('Provision Microsoft Entra ID Users')} and {ui('Provision Microsoft Entra ID Groups')} enabled; <code>userName</code> maps from <code>userPrincipalName</code>.</>,
      <>Under {ui('Settings')} set {ui('Scope')} to {ui('Sync only assigned users and groups')}, set {ui('Provisioning Status')} to {ui('On')} and {ui('Save')}.</>,
      <>Assign people and groups under {ui('Users and groups › Add user/group')}. Entra runs a cycle about every 40 minutes; {ui('Provision on demand')} tests one user at once.</>,
    ],
  },
  {
    id: 'google',
    name: 'Google Workspace',
    urlField: 'Endpoint URL',
    tokenField: 'Access token',
    steps: (base) => [
      <>In the Google Admin console open {ui('Apps › Web and mobile apps')} and open the custom SAML app you use for sign-in (or {ui('Add app › Add custom SAML app')}).</>,
      <>In the app's {ui('Auto-provisioning')} section choose {ui('Configure auto-provisioning')}.</>,
      <>Paste the token into {ui('Access token')} and choose {ui('Continue')}.</>,
      <>Enter {ui('Endpoint URL')}: {base} and choose {ui('Continue')}.</>,
      <>Review the {ui('Attribute mapping')} (Primary email → <code>userName</code>) and choose {ui('Continue')}.</>,
      <>Under {ui('Provisioning scope')} pick the groups to provision, then set the {ui('Deprovisioning')} triggers (Roster suspends on deactivation and deletes after the grace period) and choose {ui('Finish')}.</>,
      <>Switch {ui('Auto-provisioning')} to {ui('Active')}. Google syncs every few hours.</>,
    ],
    note: <>Google offers auto-provisioning for custom SAML apps only in some Workspace editions. If the app has no {ui('Auto-provisioning')} section, Google cannot push to Roster directly: connect Google to another IdP (Okta, Entra ID) and provision from there.</>,
  },
  {
    id: 'onelogin',
    name: 'OneLogin',
    urlField: 'SCIM Base URL',
    tokenField: 'SCIM Bearer Token',
    steps: (base) => [
      <>In OneLogin open {ui('Applications › Applications')}, choose {ui('Add App')} and pick {ui('SCIM Provisioner with SAML (SCIM v2 Enterprise)')}. Name it and {ui('Save')}.</>,
      <>On the {ui('Configuration')} tab enter {ui('SCIM Base URL')}: {base}</>,
      <>Paste the token into {ui('SCIM Bearer Token')}; keep the default {ui('SCIM JSON Template')}.</>,
      <>Under {ui('API Connection')} choose {ui('Enable')} and {ui('Save')}.</>,
      <>On the {ui('Provisioning')} tab tick {ui('Enable provisioning')}, clear the {ui('Create user')}, {ui('Delete user')} and {ui('Update user')} boxes under {ui('Require admin approval before this action is performed')}, and {ui('Save')}.</>,
      <>On the {ui('Parameters')} tab set {ui('SCIM Username')} to the email, and tick {ui('Include in User Provisioning')} for {ui('Groups')}.</>,
      <>Give people access through a role on the {ui('Access')} tab.</>,
    ],
  },
  {
    id: 'jumpcloud',
    name: 'JumpCloud',
    urlField: 'Base URL',
    tokenField: 'Token Key',
    steps: (base) => [
      <>In the JumpCloud Admin Portal open {ui('SSO Applications')}, choose {ui('Add New Application › Custom Application')} and select {ui('Export users to this app (Identity Management)')}.</>,
      <>Name the application, {ui('Save Application')}, then {ui('Configure Application')}.</>,
      <>On the {ui('Identity Management')} tab set {ui('SCIM Version')} to {ui('SCIM 2.0')} and enter {ui('Base URL')}: {base}</>,
      <>Paste the token into {ui('Token Key')} and enter a {ui('Test User Email')} from your directory.</>,
      <>Turn on {ui('Group Management')} to provision groups and memberships.</>,
      <>Choose {ui('Test Connection')}, then {ui('Activate')}, then {ui('Save')}.</>,
      <>On the app's {ui('User Groups')} tab tick the groups to provision and {ui('Save')}.</>,
    ],
  },
];

/** One IdP's guide with the tenant's base URL (copyable) in the step that asks for it. */
export function IdpGuideSteps({ guide, scimBaseUrl }: { guide: IdpGuide; scimBaseUrl: string }) {
  const base = (
    <span className="inline-copy">
      <code data-testid="guide-base-url">{scimBaseUrl}</code> <CopyButton text={scimBaseUrl} size="small" label={`Copy ${guide.urlField}`} />
    </span>
  );
  return (
    <div className="idp-guide">
      <p>
        {guide.name} calls the base URL <strong>{guide.urlField}</strong> and the token <strong>{guide.tokenField}</strong>. Create a connection above to get a token
        (shown once), then:
      </p>
      <ol className="steps">
        {guide.steps(base).map((step, i) => (
          <li key={i}>{step}</li>
        ))}
      </ol>
      {guide.note && <p className="muted">{guide.note}</p>}
    </div>
  );
}
