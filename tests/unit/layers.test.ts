/**
 * The layers of the tree (README, "How it is built"; the rules themselves in
 * .dependency-cruiser.cjs): device/ at the bottom, protocol/ above it, the
 * applications on protocol/ and never on one another, the simulator only
 * under tests, tests/ (its support included) under nothing, and no import cycles. The second test builds a small tree that
 * breaks every rule once, so a rule that stopped matching would fail here
 * rather than pass everything silently.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const depcruise = path.join(repoRoot, 'node_modules/.bin/depcruise');
const config = path.join(repoRoot, '.dependency-cruiser.cjs');
/** Every top-level folder of code there is (centre/ joins when it exists). */
const FOLDERS = ['device', 'protocol', 'record', 'edge-agent', 'console', 'centre', 'provisioning', 'simulator', 'tests'].filter((f) => existsSync(path.join(repoRoot, f)));

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
  cycle?: { name: string }[];
}

async function cruise(cwd: string, folders: string[]): Promise<Violation[]> {
  // depcruise exits non-zero when it finds violations; the JSON on stdout is the answer either way.
  const result = await run(depcruise, ['--config', config, '--output-type', 'json', ...folders], { cwd, maxBuffer: 64 * 1024 * 1024 }).catch(
    (error: { stdout?: string; stderr?: string }) => {
      if (!error.stdout) throw new Error(`depcruise failed: ${error.stderr ?? String(error)}`);
      return { stdout: error.stdout };
    },
  );
  const parsed = JSON.parse(result.stdout) as { summary: { violations: Violation[]; totalCruised: number } };
  return parsed.summary.violations;
}

function describe(violations: Violation[]): string {
  return violations
    .map((v) => `${v.rule.name}: ${v.from} -> ${v.to}${v.cycle ? ` (cycle ${v.cycle.map((c) => c.name).join(' -> ')})` : ''}`)
    .join('\n');
}

test('the tree keeps its layers: no forbidden import and no cycle', { timeout: 60_000 }, async () => {
  const violations = await cruise(repoRoot, FOLDERS);
  assert.equal(violations.length, 0, `layer rules broken:\n${describe(violations)}`);
});

test('every layer rule catches the import it forbids', { timeout: 60_000 }, async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'layers-'));
  try {
    const files: Record<string, string> = {
      'device/pin.ts': "import '../protocol/wire.js';\nexport const pin = 1;\n",
      'protocol/wire.ts': "import '../edge-agent/gate.js';\nexport const wire = 1;\n",
      'edge-agent/gate.ts': "import '../console/page.js';\nexport const gate = 1;\n",
      'console/page.ts': "import '../edge-agent/other.js';\nexport const page = 1;\n",
      'edge-agent/other.ts': 'export const other = 1;\n',
      'centre/service.ts': "import '../console/page.js';\nexport const service = 1;\n",
      'provisioning/tool.ts': "import '../edge-agent/other.js';\nexport const tool = 1;\n",
      'edge-agent/fake.ts': "import '../simulator/double.js';\nexport const fake = 1;\n",
      'simulator/double.ts': 'export const double = 1;\n',
      'simulator/show.ts': "import '../tests/support/forger.js';\nexport const show = 1;\n",
      'tests/support/forger.ts': 'export const forger = 1;\n',
      'record/keep.ts': "import '../console/page.js';\nexport const keep = 1;\n",
      'protocol/a.ts': "import { b } from './b.js';\nexport const a = b;\n",
      'protocol/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
    };
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
      writeFileSync(path.join(root, name), text);
    }
    writeFileSync(
      path.join(root, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['device', 'protocol', 'record', 'edge-agent', 'console', 'centre', 'provisioning', 'simulator', 'tests'] }),
    );
    const violations = await cruise(root, ['device', 'protocol', 'record', 'edge-agent', 'console', 'centre', 'provisioning', 'simulator', 'tests']);
    const fired = new Set(violations.map((v) => v.rule.name));
    assert.deepEqual(
      [...fired].sort(),
      [
        'centre-imports-no-other-application',
        'console-imports-no-other-application',
        'device-is-the-bottom',
        'edge-agent-imports-no-other-application',
        'no-cycles',
        'protocol-imports-no-application',
        'provisioning-imports-no-application',
        'record-imports-no-application',
        'simulator-only-from-tests',
        'tests-only-from-tests',
      ],
      describe(violations),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
