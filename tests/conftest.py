"""The fixtures live in tests/support/ (helpers too: import them from there)."""

pytest_plugins = ["tests.support.fixtures", "tests.support.process_settings"]
