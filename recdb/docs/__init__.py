"""The documentation site: dbt docs with the schema's diagram, served to analysts."""
