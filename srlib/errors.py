"""The one exception type for bad input that the user can fix."""


class UserError(ValueError):
    """Bad input: the message says what is wrong and what to do. The CLI prints it and exits with code 2.

    A ValueError, so that code catching bad values catches it too.
    """

    def _render_traceback_(self) -> list[str]:
        """What IPython (Jupyter, Colab) shows when a cell raises it: the one line, no traceback, since the
        message already names the fix (e.g. a notebook's set-up cell offline)."""
        return [f"{type(self).__name__}: {self}"]
