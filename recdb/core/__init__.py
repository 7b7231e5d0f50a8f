"""The core every other part stands on: settings, the connection, the landing spec and errors.

Nothing here imports any other part of recdb (an import-linter contract in
pyproject.toml says so, and a unit test runs it).
"""
