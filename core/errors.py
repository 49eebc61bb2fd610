"""Errors a person caused: bad input or bad configuration. Each prints as one line."""


class UserError(Exception):
    """Anything the user can fix (a setting, an argument); the CLI prints `error: <message>`."""


class InvalidInput(ValueError):
    """Bad user input (address, amount, asset); the message says what is wrong and why."""
