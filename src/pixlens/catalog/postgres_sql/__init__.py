"""The PostgreSQL catalog's migrations: one SQL script each, applied in name order (postgres_db.py)."""
