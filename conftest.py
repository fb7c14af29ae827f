"""pytest wiring for `pytest checks --deploy-profile P`; the wiring itself is runner.suite.plugin."""

pytest_plugins = ["runner.suite.plugin"]
