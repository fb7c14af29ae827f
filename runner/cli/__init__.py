"""The command line: `main` parses and dispatches; each command group is a module of its own,
imported only when its command runs."""

from runner.cli.main import main

__all__ = ["main"]
