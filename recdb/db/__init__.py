"""PostgreSQL: the embedded server, how to connect to it (or to yours), and its roles."""
