import { eq } from 'drizzle-orm';
import { KernelError, verifierKeyOf, type Db, type JsonObject } from '../../kernel/index.ts';
import { kernelMeta } from '../schema.ts';

/** The kernel's public checkpoint keys, as the kernel stores them in kernel_meta 'kernel.publicKeys'. */
export async function readKernelPublicKeys(db: Db): Promise<JsonObject[]> {
  const [row] = await db.select().from(kernelMeta).where(eq(kernelMeta.key, 'kernel.publicKeys'));
  if (!row) return [];
  if (!Array.isArray(row.value)) throw new KernelError('audit_broken', "kernel_meta 'kernel.publicKeys' is not an array of public JWKs");
  return row.value as JsonObject[];
}

/**
 * The log's origin line (also its key name): chosen once, from the public URL's host, and kept in kernel_meta so
 * checkpoints keep verifying when the URL changes.
 */
export async function auditOrigin(db: Db, publicUrl: string): Promise<string> {
  const [row] = await db.select().from(kernelMeta).where(eq(kernelMeta.key, 'audit.origin'));
  if (typeof row?.value === 'string') return row.value;
  const origin = `${new URL(publicUrl).host}/countersign/audit`;
  await db.insert(kernelMeta).values({ key: 'audit.origin', value: origin }).onConflictDoNothing();
  const [stored] = await db.select().from(kernelMeta).where(eq(kernelMeta.key, 'audit.origin'));
  return String(stored?.value ?? origin);
}

/** Verifier keys ("name+hash+key") for every kernel key the log was ever signed with. */
export async function readVerifierKeys(db: Db, publicUrl = 'http://localhost'): Promise<string[]> {
  const origin = await auditOrigin(db, publicUrl);
  return (await readKernelPublicKeys(db)).map((jwk) => verifierKeyOf(origin, jwk));
}
