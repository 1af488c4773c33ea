"""The one error type users see: bad input, named field, allowed values."""
import reprlib

SHOWN_CHARS = 60  # a bad value is shown cut to this length: an error message stays one short line
_SHORT_REPR = reprlib.Repr()  # attributes set one by one: Python before 3.12 takes no keywords
_SHORT_REPR.maxlist = _SHORT_REPR.maxdict = _SHORT_REPR.maxtuple = _SHORT_REPR.maxset = 4
_SHORT_REPR.maxstring = _SHORT_REPR.maxlong = _SHORT_REPR.maxother = SHOWN_CHARS


def shown(value) -> str:
    """A value as an error message shows it: its repr, bounded however big the value (reprlib never
    builds the whole string of a 70-million-element list), cut to SHOWN_CHARS."""
    text = _SHORT_REPR.repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 1] + "…"



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
