"""The one error type users see: bad input, named field, allowed values."""


class RooflineInputError(ValueError):
    """Raised at the edge (loaders, Workload, CLI) when an input is unusable.

    The message always names the offending field and what would be accepted, so a
    user never has to read a traceback from deep inside numpy or pandas.
    """

    def __init__(self, field: str, problem: str, allowed: str | None = None):
        self.field = field
        message = f"{field}: {problem}"
        if allowed:
            message += f" (allowed: {allowed})"
        super().__init__(message)
