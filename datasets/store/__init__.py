"""Database access of the web tagger: accounts and logins, human labels and golden sets, posts as
annotators see them, queues and leases, reports. Every statement binds its parameters.

Each function takes a SQLAlchemy ``Connection`` so callers decide the transaction boundary; writes
are committed before any response acknowledges them.
"""
