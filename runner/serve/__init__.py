"""`deploycheck serve`: a read-only view of a profile's archive and its target, for people (a
dashboard), for programs (a JSON API) and for Prometheus (/metrics)."""

from runner.lazy import exports

__getattr__, __dir__ = exports(__name__, {"Dashboard": "app", "serve": "app"})
