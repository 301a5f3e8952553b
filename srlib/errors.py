"""The one exception type for bad input that the user can fix."""


class UserError(Exception):
    """Bad input: the message says what is wrong and what to do. The CLI prints it and exits with code 2."""
