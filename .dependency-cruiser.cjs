/**
 * The layers of the tree (README, "How it is built"), checked by npm test
 * (tests/unit/layers.test.ts). Paths are relative to the repository root.
 */

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'device-is-the-bottom',
      comment: 'device/ knows pins and bytes: it imports no other folder of the project',
      severity: 'error',
      from: { path: '^device/' },
      to: { path: '^(protocol|record|edge-agent|console|centre|provisioning|simulator|tests)/' },
    },
    {
      name: 'protocol-imports-no-application',
      comment: 'protocol/ is the wire every application shares: it may use device/ types, nothing above',
      severity: 'error',
      from: { path: '^protocol/' },
      to: { path: '^(record|edge-agent|console|centre|provisioning|simulator|tests)/' },
    },
    {
      name: 'record-imports-no-application',
      comment: 'record/ keeps what the gates report, for the console and the centre alike: it stands on protocol/ and nothing above',
      severity: 'error',
      from: { path: '^record/' },
      to: { path: '^(device|edge-agent|console|centre|provisioning|simulator|tests)/' },
    },
    {
      name: 'edge-agent-imports-no-other-application',
      severity: 'error',
      from: { path: '^edge-agent/' },
      to: { path: '^(record|console|centre|provisioning)/' },
    },
    {
      name: 'console-imports-no-other-application',
      severity: 'error',
      from: { path: '^console/' },
      to: { path: '^(edge-agent|centre|provisioning|device)/' },
    },
    {
      name: 'centre-imports-no-other-application',
      severity: 'error',
      from: { path: '^centre/' },
      to: { path: '^(edge-agent|console|provisioning|device)/' },
    },
    {
      name: 'provisioning-imports-no-application',
      comment: 'provisioning/ writes what the applications read, through protocol/ only',
      severity: 'error',
      from: { path: '^provisioning/' },
      to: { path: '^(record|edge-agent|console|centre|device)/' },
    },
    {
      name: 'simulator-only-from-tests',
      comment: 'the simulator is a test double: no application, library or tool depends on it',
      severity: 'error',
      from: { path: '^(device|protocol|record|edge-agent|console|centre|provisioning)/' },
      to: { path: '^simulator/' },
    },
    {
      name: 'tests-only-from-tests',
      comment: "tests/ (its support: the centre's wire-level double, brokers, receivers) serves the tests alone: the product and the simulator never import it",
      severity: 'error',
      from: { path: '^(device|protocol|record|edge-agent|console|centre|provisioning|simulator)/' },
      to: { path: '^tests/' },
    },
    {
      name: 'no-cycles',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6'],
  },
};
