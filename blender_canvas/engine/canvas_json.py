"""Reading a canvas file safely: any bytes give data or one clear problem, never an exception from the parser.

Python's JSON reader recurses once per level of nesting (RecursionError past ~1000 levels) and refuses integer
literals over 4,300 digits (ValueError). A canvas needs neither: nesting deeper than ``MAX_DEPTH`` levels and
integer literals longer than ``MAX_INT_DIGITS`` digits are reported as validation problems, found in one pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .document import MAX_DEPTH, MAX_INT_DIGITS

MAX_FILE_BYTES = 64 * 1024 * 1024  # a 2,000-node canvas is a few MB; anything this large is not a canvas


class CanvasFileError(Exception):
    """A canvas file that cannot be read, or does not validate; the message says why. Nothing was changed."""

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class _TooLong(Exception):
    def __init__(self, literal: str) -> None:
        super().__init__(literal)
        self.digits = len(literal.lstrip("-"))


def _parse_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise _TooLong(literal)
    return int(literal)


def structure_problem(data: Any) -> str | None:
    """Why this data cannot be a canvas whatever its fields (too deep, an absurd integer), or None. Iterative,
    linear in the size of the data."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and abs(value) >= 10 ** MAX_INT_DIGITS:
            return f"has an integer of {len(str(abs(value)))} digits (at most {MAX_INT_DIGITS})"
        if isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                return f"is nested deeper than {MAX_DEPTH} levels of lists and objects"
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
    return None


def parse_canvas_json(text: str) -> Any:
    """The data of a JSON text; json.JSONDecodeError where it breaks, ValueError (one line) where it is too deep or
    holds an absurd integer."""
    try:
        data = json.loads(text, parse_int=_parse_int)
    except _TooLong as error:
        raise ValueError(f"has an integer literal of {error.digits} digits (at most {MAX_INT_DIGITS})") from None
    except RecursionError:
        raise ValueError(f"is nested deeper than {MAX_DEPTH} levels of lists and objects") from None
    problem = structure_problem(data)
    if problem:
        raise ValueError(problem)
    return data


def read_json_file(path: Path) -> Any:
    """A JSON file's data, or CanvasFileError with a one-line reason (missing, unreadable, where the JSON breaks,
    too deep, an absurd number)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise CanvasFileError(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; not a canvas")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise CanvasFileError(f"{path}: no such file") from error
    except (OSError, UnicodeDecodeError) as error:
        raise CanvasFileError(f"{path}: cannot read it ({error.__class__.__name__}: {error})") from error
    try:
        return parse_canvas_json(text)
    except json.JSONDecodeError as error:
        raise CanvasFileError(f"{path}: not valid JSON at line {error.lineno}, column {error.colno}: "
                              f"{error.msg}") from None
    except ValueError as error:
        raise CanvasFileError(f"{path}: {error}") from None
