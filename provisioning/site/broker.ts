/**
 * The site broker's Mosquitto pieces, made from the site record: the TLS
 * listener (mosquitto.conf) and the ACL with one block per enrolled gate.
 * The shape is the one docs/operations.md ("The site broker") documents and
 * the tests run against a real Mosquitto.
 */
import { join } from 'node:path';
import { LANE_DOWN_LEAVES, LANE_UP_LEAVES, RESERVED_LANE_IDS } from '../../protocol/topics.js';
import { isActive, type SiteRecord } from './site.js';

/** What a gate writes, under <base>/<site>/<lane>/: every lane leaf it sends on (protocol/registry.ts). */
const GATE_WRITES = LANE_UP_LEAVES;
/**
 * Home Assistant discovery (mqtt.homeAssistant, off by default): a gate may
 * write retained configs for its own node id only (its username) and read
 * Home Assistant's birth message. The ACL cannot know a gate's config, so
 * every gate is allowed the default prefix; a site with another prefix
 * edits these two lines (README, "Home Assistant").
 */
export const HA_DISCOVERY_PREFIX = 'homeassistant';

/** What a gate reads under its lane: every lane leaf the centre sends on; the site's colour topics come on top. */
const GATE_READS = LANE_DOWN_LEAVES;

/** The MQTT username of a gate: its certificate's CN. */
export function gateCommonName(site: string, lane: string): string {
  return `gate-${site}-${lane}`;
}

/** The centre's MQTT username: the CN of its client certificate. */
export const CENTRE_USER = 'centre';
/** The centre's department intake (alerts, registrations) and its central record: sessions of their own, so logins of their own. */
export const CENTRE_DEPARTMENT_USER = 'centre-department';
export const CENTRE_RECORD_USER = 'centre-record';

/**
 * QoS 1 messages Mosquitto keeps for one client that is away or behind
 * (its own default, 1,000, is one second of a 2,000-lane fleet's decisions:
 * a console restarting would lose the rest). 200,000 is over three minutes
 * of such a fleet, capped in bytes so that a long outage cannot exhaust the
 * broker's memory.
 */
export const MAX_QUEUED_MESSAGES = 200_000;
export const MAX_QUEUED_BYTES = 256 * 1024 * 1024;

/** The MQTT username of a fleet console: its certificate's CN. */
export function consoleCommonName(site: string, name: string): string {
  return `console-${site}-${name}`;
}

export function aclText(record: SiteRecord): string {
  const base = `${record.baseTopic}/${record.site}`;
  const lines = [
    `# Mosquitto ACL of gate site ${record.site}, made by gate-provision; regenerated on every enroll, rotate, revoke and console add or remove (edit the site, not this file).`,
    '# One block per gate: it writes only under its own lane and reads the site topics (centre key, trust list, colours) and its own commands and look-up replies.',
  ];
  for (const [device, entry] of Object.entries(record.devices).sort(([a], [b]) => a.localeCompare(b))) {
    // A revoked device keeps its entry in site.json, not its block: its name may log in no more.
    if (!isActive(entry)) continue;
    lines.push('', `# device ${device}${entry.auth === 'password' ? ' (password login)' : ''}`, `user ${entry.commonName}`);
    for (const topic of GATE_WRITES) lines.push(`topic write ${base}/${entry.lane}/${topic}`);
    for (const id of RESERVED_LANE_IDS) lines.push(`topic read ${base}/${id}/#`);
    for (const topic of GATE_READS) lines.push(`topic read ${base}/${entry.lane}/${topic}`);
    lines.push(`topic write ${HA_DISCOVERY_PREFIX}/+/${entry.commonName}/+/config`, `topic read ${HA_DISCOVERY_PREFIX}/status`);
  }
  for (const [name, entry] of Object.entries(record.consoles ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    // A fleet console (console add): reads the whole site, writes only lane commands (signed; the gates check the signature).
    lines.push('', `# console ${name}`, `user ${entry.commonName}`, `topic read ${base}/#`, `topic write ${base}/+/command`);
  }
  lines.push('', "# the centre's own client", `user ${CENTRE_USER}`, `topic readwrite ${record.baseTopic}/#`);
  lines.push(
    '',
    "# the centre's department intake: the gates' alerts and registrations",
    `user ${CENTRE_DEPARTMENT_USER}`,
    `topic read ${record.baseTopic}/+/+/alert`,
    `topic read ${record.baseTopic}/+/+/registration`,
  );
  lines.push('', "# the centre's central record: what the gates report", `user ${CENTRE_RECORD_USER}`, `topic read ${record.baseTopic}/#`);
  return `${lines.join('\n')}\n`;
}

/** Password gates dial a second listener, one above the certificate listener (docs/provisioning.md). */
export function passwordPort(port: number): number {
  return port + 1;
}

export function hasPasswordGates(record: SiteRecord): boolean {
  return Object.values(record.devices).some((entry) => isActive(entry) && entry.auth === 'password');
}

export function hasRevocations(record: SiteRecord): boolean {
  return (record.revoked?.length ?? 0) > 0;
}

/**
 * Mosquitto cannot require a client certificate of some clients only on one
 * listener: certificate gates use the first listener (certificate required,
 * checked against the CRL once something is revoked), password gates a
 * second one, TLS with the same server certificate, no client certificate,
 * the password file. per_listener_settings false: one password file and ACL
 * for both, so a certificate gate's CN and a password gate's username share
 * one name space (gate-<site>-<lane>, one per lane).
 */
export function mosquittoConfText(record: SiteRecord): string {
  const dir = record.broker.dir;
  const passwords = hasPasswordGates(record);
  const lines = [
    `# Mosquitto TLS listener of gate site ${record.site}, made by gate-provision; regenerated on every enroll, rotate and revoke.`,
    `# Install: copy the broker/ folder to ${dir} and this file to /etc/mosquitto/conf.d/ (docs/provisioning.md).`,
    'per_listener_settings false',
    'allow_anonymous false',
    `acl_file ${join(dir, 'acl')}`,
    ...(passwords ? [`password_file ${join(dir, 'passwd')}`] : []),
    '# What a console or gate away for a while still receives when it is back (one persistent session each).',
    `max_queued_messages ${MAX_QUEUED_MESSAGES}`,
    `max_queued_bytes ${MAX_QUEUED_BYTES}`,
    '',
    `listener ${record.broker.port}`,
    `cafile ${join(dir, 'ca.pem')}`,
    `certfile ${join(dir, 'broker.pem')}`,
    `keyfile ${join(dir, 'broker.key')}`,
    'require_certificate true',
    // Checked at every TLS handshake; the CRL names every certificate revoke, rotate and enroll --force retired.
    ...(hasRevocations(record) ? [`crlfile ${join(dir, 'ca.crl')}`] : []),
    'use_identity_as_username true',
    "# The client id becomes the certificate's name too: another gate's certificate",
    "# cannot take over this gate's session (and its queued colour changes).",
    'use_username_as_clientid true',
    '',
  ];
  if (passwords) {
    lines.push(
      '# Gates enrolled with --auth password: TLS for the server only, username and password from password_file.',
      `listener ${passwordPort(record.broker.port)}`,
      `cafile ${join(dir, 'ca.pem')}`,
      `certfile ${join(dir, 'broker.pem')}`,
      `keyfile ${join(dir, 'broker.key')}`,
      'require_certificate false',
      'use_username_as_clientid true',
      '',
    );
  }
  return lines.join('\n');
}
