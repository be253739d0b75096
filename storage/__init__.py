"""Persistence: tables, transactions, queries (never commit), FSM storage, migrations."""
