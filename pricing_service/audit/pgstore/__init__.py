"""The audit log in PostgreSQL: the same records, tree and checkpoints as the file log, one
global log shared by every replica (`store.PgAuditLog`), and its schema (`schema`)."""
