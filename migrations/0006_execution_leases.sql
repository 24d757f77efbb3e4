ALTER TABLE "requests" ADD COLUMN "lease_owner" text;--> statement-breakpoint
ALTER TABLE "requests" ADD COLUMN "lease_until" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "requests" ADD COLUMN "attempt" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "requests_lease" ON "requests" USING btree ("lease_until");