import { defineConfig } from 'drizzle-kit';

// One migration history for every owner's tables (kernel and approval web app), applied at start and by `countersign migrate`.
export default defineConfig({
  dialect: 'postgresql',
  schema: ['./kernel/store/schema.ts', './approval-web/schema.ts', './gateway/schema.ts', './gateway/upgrade/legacy-schema.ts'],
  out: './migrations',
});
