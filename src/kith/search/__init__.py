"""Text search over the CRM records (SQLite FTS5, PostgreSQL full text + trigram)."""
