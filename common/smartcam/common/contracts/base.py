"""What every document that crosses a container (or host/container) boundary shares: its version.

Each document is one pydantic model, used by its writer and by every reader, so a field's name and
type live in one place. Every document carries `"version"` (an integer, the major version): a change
that older readers can ignore (a new optional field) keeps it, a change they would misread bumps it.
Readers ignore fields they do not know, read any version up to their own (a file without `version`,
as written before it existed, is version 1), and refuse a newer one with `DocumentVersionError`,
which names the file, both versions and the fix, instead of failing on a missing key later.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smartcam.common.files import write_bytes_atomically, write_bytes_durably


class DocumentError(ValueError):
    """A document that cannot be read: damaged, foreign, or not what its model says."""


class DocumentVersionError(DocumentError):
    """A document written by a newer smartcam than this reader."""

    def __init__(self, source: str, found: int, supported: int) -> None:
        super().__init__(f"{source} has version {found}, this service reads up to version {supported}: it was "
                         "written by a newer smartcam: update this service")
        self.source = source
        self.found = found
        self.supported = supported


class Document(BaseModel):
    """A versioned document; subclasses raise `VERSION` when readers of the old one would misread the new."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    VERSION: ClassVar[int] = 1

    version: int = Field(default=1, ge=1, description="Major version of this document's format; a reader "
                                                       "refuses versions newer than its own.")

    @classmethod
    def upgrade(cls, raw: Any) -> Any:
        """Turn an older shape of the document into the current one (the default: nothing to do)."""
        return raw

    @classmethod
    def from_raw(cls, raw: Any, source: str) -> Self:
        """Validate a parsed JSON value; DocumentVersionError if newer, DocumentError if not this document."""
        raw = cls.upgrade(raw)
        if not isinstance(raw, dict):
            raise DocumentError(f"{source} is not a JSON object ({type(raw).__name__})")
        found = raw.get("version", 1)
        if not isinstance(found, int) or isinstance(found, bool) or found < 1:
            raise DocumentError(f"{source} has an unreadable version {found!r:.40}")
        if found > cls.VERSION:
            raise DocumentVersionError(source, found, cls.VERSION)
        try:
            return cls.model_validate({**raw, "version": cls.VERSION})
        except ValidationError as error:
            raise DocumentError(f"{source} is not a valid {cls.__name__}: {_summary(error)}") from None

    @classmethod
    def from_json(cls, data: str | bytes, source: str) -> Self:
        try:
            raw = json.loads(data)
        except (UnicodeDecodeError, ValueError) as error:
            raise DocumentError(f"{source} is not JSON: {error}") from None
        return cls.from_raw(raw, source)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


D = TypeVar("D", bound=Document)


def _summary(error: ValidationError) -> str:
    problems = [f"{'.'.join(str(p) for p in item['loc']) or '(document)'}: {item['msg']}"
                for item in error.errors()[:3]]
    more = error.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def read_document(model: type[D], path: Path, max_bytes: int | None = None) -> D | None:
    """The document at `path`, None if there is none; DocumentError (a ValueError) naming the file otherwise."""
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise DocumentError(f"{path} is larger than {max_bytes} bytes")
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise DocumentError(f"cannot read {path}: {error}") from None
    return model.from_json(data, str(path))


def write_document(path: Path, document: Document, *, durable: bool = True) -> None:
    """Replace `path` with `document` atomically; durably (fsynced) unless the file is easily rebuilt."""
    (write_bytes_durably if durable else write_bytes_atomically)(path, document.to_json())
