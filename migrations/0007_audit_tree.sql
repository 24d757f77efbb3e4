CREATE TABLE "audit_queue" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" text NOT NULL,
	"kind" text NOT NULL,
	"request_id" text,
	"actor" text NOT NULL,
	"data" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_tree" (
	"level" integer NOT NULL,
	"idx" bigint NOT NULL,
	"hash" text NOT NULL,
	CONSTRAINT "audit_tree_level_idx_pk" PRIMARY KEY("level","idx")
);
--> statement-breakpoint
CREATE TABLE "audit_tree_heads" (
	"size" bigint PRIMARY KEY NOT NULL,
	"root" text NOT NULL,
	"at" text NOT NULL,
	"note" text NOT NULL
);
--> statement-breakpoint
ALTER TABLE "audit_entries" ALTER COLUMN "prev_hash" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_entries" ALTER COLUMN "hash" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_entries" ADD COLUMN "leaf_hash" text;--> statement-breakpoint
DROP TABLE "audit_head" CASCADE;