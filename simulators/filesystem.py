"""The user card's file system (card contract section 3): DFs holding linear TLV record files.

```
MF 3F00
└─ DDF SSSE (name "sx1.sh.社会保障")
    ├─ EF05 (SFI 05), EF06 (SFI 06)
    └─ DF01..DF04 (AID D15600000500..03), each with EF05 (SFI 05)
```

Records are linear, one TLV each: `tag(1) len(1) value`; the tag identifies the
record. A record file is found by FID or SFI in its DF; a record by number
(1-based) or by tag. Access conditions are plain values here; the card
application decides whether its security state meets them.

The file system knows nothing about APDUs or status words.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# The largest value a record may hold: the TLV must fit one UPDATE RECORD (Lc ≤ 255).
MAX_VALUE_LEN = 253


class Access(enum.Enum):
    """What the security state must hold before a file may be read or written."""

    FREE = "free"
    PIN = "pin"  # the cardholder PIN verified
    UK = "uk"  # external authentication with UK (04)
    RKSSSE = "rkssse"  # external authentication with RKSSSE (0A)


class FileSystemError(ValueError):
    """A file-system structure that cannot exist (raised while building a card)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One TLV record: `tag(1) len(1) value`."""

    tag: int
    value: bytes

    def __post_init__(self) -> None:
        if not 0x01 <= self.tag <= 0xFE:
            raise FileSystemError(f"record tag must be 01..FE, got {self.tag:02X}")
        if len(self.value) > MAX_VALUE_LEN:
            raise FileSystemError(f"record value longer than {MAX_VALUE_LEN} bytes")

    def tlv(self) -> bytes:
        return bytes((self.tag, len(self.value))) + self.value

    @classmethod
    def from_tlv(cls, data: bytes) -> Record | None:
        """Parse exactly one TLV; None when the bytes are not one well-formed TLV."""
        if len(data) < 2 or data[1] != len(data) - 2:
            return None
        try:
            return cls(data[0], bytes(data[2:]))
        except FileSystemError:
            return None


class RecordFile:
    """A linear record file: records addressed by number (1-based) or by tag."""

    def __init__(
        self, fid: int, sfi: int, records: Iterable[Record], *, read: Access, write: Access
    ) -> None:
        if not 1 <= sfi <= 30:
            raise FileSystemError(f"SFI must be 1..30, got {sfi}")
        self.fid = fid
        self.sfi = sfi
        self.read = read
        self.write = write
        self._records: list[Record] = list(records)
        tags = [r.tag for r in self._records]
        if len(set(tags)) != len(tags):
            raise FileSystemError(f"file {fid:04X} has duplicate record tags")

    @property
    def name(self) -> str:
        """The FID in hex, e.g. `EF05`."""
        return f"{self.fid:04X}"

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self._records)

    def by_number(self, number: int) -> Record | None:
        if 1 <= number <= len(self._records):
            return self._records[number - 1]
        return None

    def number_of_tag(self, tag: int) -> int | None:
        """The record number (1-based) of the record with this tag."""
        for i, rec in enumerate(self._records):
            if rec.tag == tag:
                return i + 1
        return None

    def by_tag(self, tag: int) -> Record | None:
        number = self.number_of_tag(tag)
        return None if number is None else self._records[number - 1]

    def replace(self, number: int, record: Record) -> None:
        """Overwrite record `number`; the caller has checked that tag and length match."""
        old = self.by_number(number)
        if old is None or old.tag != record.tag or len(old.value) != len(record.value):
            raise FileSystemError("a record may only be replaced by one of the same tag and length")
        self._records[number - 1] = record


class DedicatedFile:
    """A DF (or the MF): record files by FID/SFI and child DFs by name or AID."""

    def __init__(
        self,
        label: str,
        *,
        name: bytes | None = None,
        files: Iterable[RecordFile] = (),
        children: Iterable[DedicatedFile] = (),
    ) -> None:
        self.label = label
        self.name = name
        self.files: tuple[RecordFile, ...] = tuple(files)
        self.children: tuple[DedicatedFile, ...] = tuple(children)
        self.parent: DedicatedFile | None = None
        for child in self.children:
            child.parent = self
        if len({f.fid for f in self.files}) != len(self.files):
            raise FileSystemError(f"{label} has two files with one FID")
        if len({f.sfi for f in self.files}) != len(self.files):
            raise FileSystemError(f"{label} has two files with one SFI")

    def file_by_fid(self, fid: int) -> RecordFile | None:
        return next((f for f in self.files if f.fid == fid), None)

    def file_by_sfi(self, sfi: int) -> RecordFile | None:
        return next((f for f in self.files if f.sfi == sfi), None)

    def walk(self) -> Iterator[DedicatedFile]:
        """This DF and every DF below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def find_by_name(self, name: bytes) -> DedicatedFile | None:
        """The DF below (or at) this one whose DF name / AID is exactly `name`."""
        return next((df for df in self.walk() if df.name is not None and df.name == name), None)

    def is_within(self, other: DedicatedFile) -> bool:
        """True when this DF is `other` or lies below it."""
        node: DedicatedFile | None = self
        while node is not None:
            if node is other:
                return True
            node = node.parent
        return False
