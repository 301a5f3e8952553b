"""The one exception type for bad input that the user can fix."""


class UserError(ValueError):
    """Bad input: the message says what is wrong and what to do. The CLI prints it and exits with code 2.

    A ValueError, so that code catching bad values catches it too.
    """

    def _render_traceback_(self) -> list[str]:
        """What IPython (Jupyter, Colab) shows when a cell raises it: the one line, no traceback, since the
        message already names the fix (e.g. a notebook's set-up cell offline)."""
        return [f"{type(self).__name__}: {self}"]


def check_type(value: object, kind: type | tuple[type, ...], what: str) -> None:
    """A UserError naming ``what`` when ``value`` is not a ``kind`` (a numpy array where a tensor is
    wanted, None where a path is): one line instead of an AttributeError deep inside."""
    if not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        names = " or ".join(k.__name__ for k in kinds)
        raise UserError(f"{what} must be a {names}, got {type(value).__name__}")
