-- Events are the agent entries of the audit log (written in the same transaction as each
-- change, ordered by id): a separate outbox held the same text twice.
DROP TABLE outbox;
