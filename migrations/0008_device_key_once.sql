-- One device key, one approver (issue 12). A key paired twice before this migration keeps its first pairing; later
-- active pairings of the same key are marked removed, so the index below can be built on any existing database.
UPDATE "devices" AS d SET "removed_at" = now() WHERE d."removed_at" IS NULL AND EXISTS (SELECT 1 FROM "devices" AS o WHERE o."removed_at" IS NULL AND o."public_jwk"->>'x' = d."public_jwk"->>'x' AND (o."paired_at", o."id") < (d."paired_at", d."id"));--> statement-breakpoint
CREATE UNIQUE INDEX "devices_active_key" ON "devices" USING btree (("public_jwk"->>'x')) WHERE "devices"."removed_at" is null;
