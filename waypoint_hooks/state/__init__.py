"""The state: the database (SQLite, PostgreSQL) and what is stored in it."""
