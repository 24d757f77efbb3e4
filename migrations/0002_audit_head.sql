CREATE TABLE "audit_head" (
	"id" integer PRIMARY KEY NOT NULL,
	"seq" bigint NOT NULL,
	"hash" text NOT NULL
);
--> statement-breakpoint
-- The head starts at the chain's current tail (genesis when empty), so existing chains continue unbroken.
INSERT INTO "audit_head" ("id", "seq", "hash")
SELECT 1, coalesce(max("seq"), 0), coalesce((SELECT "hash" FROM "audit_entries" ORDER BY "seq" DESC LIMIT 1), repeat('0', 64))
FROM "audit_entries";
