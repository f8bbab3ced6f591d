-- Events past an endpoint's cursor that one lane already delivered while another lane's
-- event held the cursor (comma-separated ids): not sent again when the held one is retried.
ALTER TABLE webhook_endpoints ADD COLUMN sent_ahead TEXT NOT NULL DEFAULT '';
