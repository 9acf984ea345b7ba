"""Database access for the tagger: every SQL statement the web app runs, with bound parameters only.

Each function takes a SQLAlchemy ``Connection`` so callers decide the transaction boundary; writes
are committed before any response acknowledges them.
"""
