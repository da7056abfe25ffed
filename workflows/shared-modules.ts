/**
 * The modules every workflow execution of a worker shares: the bundle's
 * `preloadModules` (workers/worker.ts). The SDK's reusable V8 context
 * evaluates the modules loaded before any workflow exists once, deep-freezes
 * their exports and gives them to every execution; every other module is
 * evaluated once per execution and kept while the workflow is cached. zod
 * (95 modules) was evaluated by every deploy, update, rollback, backup ...:
 * shared, a cached deploy holds about 2 MiB less (bench/ANALYSIS.md,
 * 2026-12-01 04:00-05:50).
 *
 * Only zod itself is shared, not the schemas built with it (src/model and
 * what imports it): zod 4 stores on a schema, at its first uses, members it
 * builds lazily and the parse function it settles on, and it resets
 * `lastIndex` of the regular expressions of its checks before each use: all
 * of which throws on a frozen schema. Those stay per execution. zod's own
 * exports hold no per-workflow state (its configuration is set once, at
 * load); its exported regular expressions are frozen, so a schema in workflow
 * code must not use the formats built on them (`z.uuid()`, `z.email()`, ...:
 * their check writes `lastIndex`); `z.string().regex(own)` and `z.iso.*`
 * (a new expression per schema) are fine. test/unit/shared-modules.test.ts
 * freezes zod as the SDK does and parses every recorded workflow input with
 * schemas built on it.
 */
import { z } from 'zod';

// zod settles its configuration (default locale, memoizer) on globalThis.__zod_globalConfig when it builds
// its first schema; the SDK freezes the context's globals with the shared modules, so that happens here.
// Only members are used, never `z` itself as a value: that would put all of zod's namespace in the bundle
// (its locales, 0.7 MB), as `import * as` would.
z.object({ settle: z.string() }).safeParse({});
