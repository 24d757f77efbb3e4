CREATE INDEX "requests_tool_created" ON "requests" USING btree ("tool","created_at","id");--> statement-breakpoint
CREATE INDEX "requests_decision_created" ON "requests" USING btree (("verdict"->>'decision'),"created_at","id");--> statement-breakpoint
CREATE INDEX "requests_search" ON "requests" USING gin (to_tsvector('simple'::regconfig, coalesce("intent"->>'summary', '') || ' ' || "tool"));