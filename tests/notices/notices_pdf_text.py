"""Reading notice PDFs back in tests (pypdf is a dev dependency; src/ never imports it).

``pdf_text`` is what a reader copying the text would get; ``all_bytes`` is
everything a PDF holds (raw file, every stream decompressed, every object and
the document information) so a test can assert a value is nowhere in the file;
``placed_runs`` gives each text run with its position, size and font so layout
can be checked without rendering pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from pypdf import PdfReader
from pypdf.generic import StreamObject


def pdf_text(data: bytes) -> str:
    """The text of every page, pages separated by a newline."""
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    """``text`` with every run of whitespace (line breaks from wrapping included) as one space."""
    return " ".join(text.split())


def all_bytes(data: bytes) -> bytes:
    """The raw file followed by every object of it, streams decompressed."""
    reader = PdfReader(io.BytesIO(data))
    out = [data]
    size = reader.trailer["/Size"]
    assert isinstance(size, int)
    for num in range(1, size):
        obj = reader.get_object(num)
        if obj is None:
            continue
        if isinstance(obj, StreamObject):
            out.append(obj.get_data())
        out.append(repr(obj).encode("latin-1", "replace"))
    if reader.metadata is not None:
        out.append(repr(dict(reader.metadata)).encode("latin-1", "replace"))
    return b"\n".join(out)


@dataclass(frozen=True)
class Run:
    """One piece of text as placed on a page (PDF coordinates: origin bottom left)."""

    page: int
    x: float
    y: float
    text: str
    size: float
    font: str


def placed_runs(data: bytes) -> list[Run]:
    """Every non-blank text run with where it starts, its font size and base font."""
    reader = PdfReader(io.BytesIO(data))
    runs: list[Run] = []
    for number, page in enumerate(reader.pages, start=1):

        def visit(
            text: str, cm: list[float], tm: list[float], font: dict[str, object] | None, size: float, n: int = number
        ) -> None:
            if text.strip() and font is not None:
                x = cm[0] * tm[4] + cm[2] * tm[5] + cm[4]
                y = cm[1] * tm[4] + cm[3] * tm[5] + cm[5]
                runs.append(Run(n, x, y, text, size * tm[0], str(font.get("/BaseFont"))))

        page.extract_text(visitor_text=visit)
    return runs
