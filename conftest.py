"""pytest wiring for `pytest checks --deploy-profile P`; the wiring itself is runner.pytest_plugin."""

pytest_plugins = ["runner.pytest_plugin"]
