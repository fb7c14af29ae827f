"""The verification run: the pytest plugin (hooks only), the check fixtures and the probes
they start, the severity and waiver policy (pure functions), the run's shared state, and
`run_checks`, which runs the suite and archives its reports."""

from runner.lazy import exports

__getattr__, __dir__ = exports(__name__, {"run_checks": "run", "checks_dir": "run"})
