"""recdb: a dbt + PostgreSQL warehouse for a streaming catalogue and its recommender."""

__version__ = "0.1.0"
