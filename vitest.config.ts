import { defineConfig } from 'vitest/config';

const ignored = ['**/node_modules/**', '.local/**', 'data/**'];
/** Every project against the real stack: no file starts in the minutes around midnight UTC (the set-up says why). */
const dayStart = ['./testing/day-start.setup.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: ['**/*.test.ts'],
          exclude: ['**/*.int.test.ts', ...ignored],
          environment: 'node',
          // Unit files run side by side on two cores (vitest's default is one worker fewer than the
          // cores); a CPU-heavy check must not fail for lack of a core.
          testTimeout: 30_000,
          maxWorkers: 2,
          // One worker takes file after file with the modules it has loaded: 20 s instead of 57 s
          // for the unit project, most of it was each file's imports. A module's state outlives a
          // file (speed/tuple.codes.test.ts takes a module of its own for that reason).
          isolate: false,
        },
      },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['**/*.int.test.ts'],
          exclude: ['**/*.faults.int.test.ts', '**/*.faults-cluster.int.test.ts', ...ignored],
          environment: 'node',
          globalSetup: ['./testing/global-setup.ts'],
          setupFiles: dayStart,
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Memory-bound tests collect garbage before they measure.
          execArgv: ['--expose-gc'],
          // Two cores: integration files share one broker; run them two at a time.
          fileParallelism: true,
          maxWorkers: 2,
        },
      },
      {
        // Fault tests kill the shared broker: they run last and alone, so no other test sees the outage.
        test: {
          name: 'faults',
          sequence: { groupOrder: 2 },
          include: ['**/*.faults.int.test.ts'],
          exclude: ignored,
          environment: 'node',
          globalSetup: ['./testing/global-setup.ts'],
          setupFiles: dayStart,
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          maxWorkers: 1,
        },
      },
      {
        // Failover on the cluster stack (three brokers, a Redis Cluster): last and alone. The test
        // starts the cluster itself (vitest runs every project's globalSetup before any test, and
        // nine more processes must not run beside the other tests); the set-up only stops it afterwards.
        test: {
          name: 'faults-cluster',
          sequence: { groupOrder: 3 },
          include: ['**/*.faults-cluster.int.test.ts'],
          exclude: ignored,
          environment: 'node',
          globalSetup: ['./testing/cluster-teardown.ts'],
          setupFiles: dayStart,
          testTimeout: 300_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          maxWorkers: 1,
        },
      },
    ],
  },
});
