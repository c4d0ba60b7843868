"""How a problem quotes the file: values excerpted and quoted within
EXCERPT_CHARACTERS, lists of names shortened, key paths joined, and the
message for a file larger than carpha reads.
"""

from .limits import EXCERPT_CHARACTERS, MAX_CONFIG_BYTES


def _too_large(source: str, line: int) -> str:
    return (f"{source}:{line}: larger than {MAX_CONFIG_BYTES} bytes, the most carpha reads"
            f" (a carpha config is a few KB)")


def _excerpt(text: str) -> str:
    """`text`, or its start and its length when it is long."""
    if len(text) <= EXCERPT_CHARACTERS + 20:
        return text
    return f"{text[:EXCERPT_CHARACTERS]}... ({len(text)} characters)"


def _q(value) -> str:
    """A value quoted for a message: repr(), shortened when long."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= EXCERPT_CHARACTERS + 20:
        return repr(text)
    return f"{text[:EXCERPT_CHARACTERS]!r}... ({len(text)} characters)"


def _listed(names, most: int = 8) -> str:
    names = [_excerpt(str(n)) for n in names]
    if len(names) <= most:
        return ", ".join(names)
    return ", ".join(names[:most]) + f", ... ({len(names)} in all)"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _invalid(value: str, what: str, pattern) -> str:
    return f"{_q(value)} is not a valid {what} (must match ^{pattern.pattern}$)"
