CREATE TABLE "web_device_nonces" (
	"key" text PRIMARY KEY NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "web_device_nonces_expires" ON "web_device_nonces" USING btree ("expires_at");