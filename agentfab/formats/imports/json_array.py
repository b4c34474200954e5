"""The records of a `.json` file holding one JSON array, read one at a time: memory stays flat in their number.

The file is read in chunks. A scanner finds where each element ends (brackets and strings only, in C-speed regex
steps), and `json.loads` parses that element alone, so a record is read exactly as a `.jsonl` line is. An element
that is balanced but not valid JSON (`{"a": tru}`) is that record's failure, with its index and its line in the
file, and the next record is read as usual; only a file whose structure breaks (no opening `[`, a missing comma,
an unclosed bracket at the end) stops the import, with the line and column where it broke.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

CHUNK = 1 << 20

# inside an element, the only characters that matter: a whole string (skipped in one step), a bracket, or the
# opening quote of a string that goes on past the text read so far
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|"', re.DOTALL)
_SCALAR_END = re.compile(r"[,\]\s]")
_SPACE = re.compile(r"[ \t\n\r]*")
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of bytes that are not UTF-8


class ArrayError(ValueError):
    """The file is not one JSON array of elements: where it broke, as `line L column C`, and what was found."""


class BadElement:
    """An element of the array that is not valid JSON (or nests too deeply to parse); the others are read."""

    def __init__(self, reason: str):
        self.reason = reason


def iter_array(path: Path, chunk: int = CHUNK) -> Iterator[tuple[int, Any]]:
    """(1-based index, value or BadElement) for each element of the JSON array in `path`, in file order."""
    with path.open("rb") as fh:
        yield from _Scanner(fh, chunk).elements()


class _Scanner:
    def __init__(self, fh: BinaryIO, chunk: int):
        self.fh, self.chunk = fh, chunk
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="surrogateescape")
        self.text = ""  # the text read and not yet consumed, from `self.pos` on
        self.pos = 0
        self.eof = False
        self.line = 1  # the file line at which self.text[0] stands
        self.column = 0  # and the characters before it on that line

    def elements(self) -> Iterator[tuple[int, Any]]:
        if self._next_char() != "[":
            found = self._next_char()
            hint = "; if it holds one record per line, name it .jsonl" if found == "{" else ""
            raise ArrayError(f"a .json file must hold one JSON array of records, found "
                             f"{_shown(found)} at {self._where(self.pos)}{hint}")
        self.pos += 1
        index = 0
        if self._next_char() == "]":
            self.pos += 1
        else:
            while True:
                index += 1
                yield index, self._element()
                sep = self._next_char()
                if sep == "]":
                    self.pos += 1
                    break
                if sep != ",":
                    raise ArrayError(f"expected ',' or ']' after record {index}, found {_shown(sep)} at "
                                     f"{self._where(self.pos)}")
                self.pos += 1
                self._next_char()
        after = self._next_char()
        if after != "":
            hint = "; if it holds one array or record per line, name it .jsonl" if after in "[{" else ""
            raise ArrayError(f"extra data after the array at {self._where(self.pos)}{hint}")

    def _element(self) -> Any:
        start = self.pos
        first = self.text[start] if start < len(self.text) else ""
        end = self._end_of_container(start) if first in "[{" else self._end_of_scalar(start)
        start = self.pos  # reading more may have compacted the text
        source, self.pos = self.text[start:end], end
        bad = _NOT_UTF8.search(source)
        if bad is not None:
            return BadElement(f"not UTF-8 text (file line {self._line_of(start + bad.start())})")
        try:
            return json.loads(source)
        except RecursionError:
            return BadElement(f"not JSON: nested too deeply to parse (file line {self._line_of(start)})")
        except json.JSONDecodeError as exc:
            return BadElement(f"not JSON: {exc.msg} (file line {self._line_of(start) + exc.lineno - 1}, "
                              f"column {exc.colno if exc.lineno > 1 else self._column_of(start) + exc.colno - 1})")

    def _end_of_container(self, start: int) -> int:
        depth, at = 0, start
        while True:
            found = _STRUCTURE.search(self.text, at)
            if found is None or found.group() == '"':  # the element goes on past what was read
                if self.eof:
                    raise ArrayError(f"the record starting at {self._where(start)} never ends (an unclosed "
                                     "bracket or string)")
                at = (found.start() if found else len(self.text)) - start
                start = self._read_more(keep_from=start)
                at += start
                continue
            token = found.group()
            if token in "[{":
                depth += 1
            elif token in "]}":
                depth -= 1
                if depth == 0:
                    return found.end()
            at = found.end()

    def _end_of_scalar(self, start: int) -> int:
        at = start
        while True:
            if self.text[at:at + 1] == '"':
                found = _STRUCTURE.match(self.text, at)
                if found is not None and found.group() != '"':
                    return found.end()
            else:
                found = _SCALAR_END.search(self.text, at)
                if found is not None:
                    return found.start()
            if self.eof:
                return len(self.text)
            offset = at - start
            start = self._read_more(keep_from=start)
            at = start + offset

    def _next_char(self) -> str:
        """The next character that is not white space ('' at the end), with `self.pos` on it."""
        while True:
            self.pos = _SPACE.match(self.text, self.pos).end()
            if self.pos < len(self.text) or self.eof:
                return self.text[self.pos:self.pos + 1]
            self._read_more(keep_from=self.pos)

    def _read_more(self, keep_from: int) -> int:
        """Drop the text before `keep_from`, read more; returns where `keep_from` now is (0).

        An element longer than a chunk doubles what is read, so even one huge record is scanned in linear time."""
        newlines = self.text.count("\n", 0, keep_from)
        if newlines:
            self.line += newlines
            self.column = keep_from - (self.text.rfind("\n", 0, keep_from) + 1)
        else:
            self.column += keep_from
        chunk = self.fh.read(max(self.chunk, len(self.text) - keep_from))
        self.eof = not chunk
        self.text = self.text[keep_from:] + self.decoder.decode(chunk, final=self.eof)
        self.pos -= keep_from
        return 0

    def _line_of(self, at: int) -> int:
        return self.line + self.text.count("\n", 0, at)

    def _column_of(self, at: int) -> int:
        newline = self.text.rfind("\n", 0, at)
        return at - newline if newline >= 0 else self.column + at + 1

    def _where(self, at: int) -> str:
        return f"line {self._line_of(at)} column {self._column_of(at)}"


def _shown(char: str) -> str:
    return repr(char) if char else "the end of the file"


__all__ = ["ArrayError", "BadElement", "iter_array"]
