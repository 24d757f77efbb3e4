CREATE TABLE "web_device_pairings" (
	"code_hash" text PRIMARY KEY NOT NULL,
	"approver_id" text NOT NULL,
	"name" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone
);
