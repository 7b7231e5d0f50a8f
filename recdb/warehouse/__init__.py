"""The warehouse itself: the embedded server, the roles, and the dbt builds that publish marts."""
