"""The knowledge base: help-center articles imported into Postgres and searched for the faq agent.

importer (sources -> articles), chunking (article -> chunks by heading), store (SQL),
search (full text, plus pgvector when embeddings are configured), service (import,
search, content gaps), routes (admin REST). docs/knowledge.md explains it all.
"""
