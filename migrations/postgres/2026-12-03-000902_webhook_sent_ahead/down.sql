ALTER TABLE webhook_endpoints DROP COLUMN sent_ahead;
