"""Helpers the tests share: seeded databases, synthetic worlds, tagger clients and servers."""
