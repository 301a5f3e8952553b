"""The one exception type for bad input that the user can fix."""


class UserError(ValueError):
    """Bad input: the message says what is wrong and what to do. The CLI prints it and exits with code 2.

    A ValueError, so that code catching bad values catches it too.
    """
