"""Probes of the target that return result objects for the checks to judge: TLS endpoints
(`tls`), HTTP endpoints (`http`), the environment (`env`) and the database server's facts
(`server_facts`)."""
