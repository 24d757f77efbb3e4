CREATE TABLE "web_inbox_history" (
	"approver_id" text NOT NULL,
	"request_id" text NOT NULL,
	"seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "web_inbox_history_approver_id_request_id_pk" PRIMARY KEY("approver_id","request_id")
);
--> statement-breakpoint
CREATE INDEX "web_inbox_history_seen" ON "web_inbox_history" USING btree ("approver_id","seen_at");