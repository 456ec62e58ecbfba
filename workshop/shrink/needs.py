"""What a Go program needs on `FROM scratch` that the hello world did not, read from its binary.

Go's linker keeps only the functions a program can reach, so the symbol table of an unstripped
binary says which parts of the standard library it uses, where its imports alone would only
say which packages it names (every program imports `time`; few load a time zone):

- CA certificates: crypto/x509's loading of the system's roots is linked (TLS, HTTPS clients).
  Go reads /etc/ssl/certs/ca-certificates.crt, among others.
- time-zone data: time.LoadLocation is linked and time/tzdata (the embedded database) is not.
  Go reads $ZONEINFO, /usr/share/zoneinfo, or $GOROOT/lib/time/zoneinfo.zip.
- /etc/passwd and a user: os/user is linked (user.Current, user.Lookup read /etc/passwd when
  built without cgo); the image gets a passwd naming nobody and runs as USER 65534.
- a writable /tmp: os.TempDir is linked (os.CreateTemp and os.MkdirTemp use it when given no
  folder), or the binary holds a path under /tmp/ of its own; scratch has no /tmp at all.
- a static binary: the binary asks for a program interpreter (the C library's loader), which
  scratch lacks: cgo, or net and os/user built with CGO_ENABLED=1.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection
from elftools.elf.segments import InterpSegment

__all__ = ["CERTS", "TMP", "TZDATA", "USERS", "Needs", "needs_of"]

CERTS = "certs"
TZDATA = "tzdata"
USERS = "passwd"
TMP = "tmp"

# A need, and the symbols any of which shows it.
_EVIDENCE = {
    CERTS: (
        "crypto/x509.loadSystemRoots",
        "crypto/x509.systemRootsPool",
        "crypto/x509.initSystemRoots",
        "crypto/x509.SystemCertPool",
    ),
    TZDATA: ("time.LoadLocation",),
    USERS: (
        "os/user.Current",
        "os/user.Lookup",
        "os/user.LookupId",
        "os/user.lookupUser",
        "os/user.lookupUserId",
    ),
    TMP: ("os.TempDir", "os.CreateTemp", "os.MkdirTemp", "io/ioutil.TempFile", "io/ioutil.TempDir"),
}
# A path of the program's own under /tmp (Go's runtime and standard library hold none).
_TMP_PATH = b"/tmp/"
_EMBEDDED_TZDATA = "time/tzdata."


@dataclass(frozen=True)
class Needs:
    # Each need found, with the symbol that showed it.
    found: tuple[tuple[str, str], ...] = ()
    # The program interpreter the binary asks for ("" for a static binary).
    interpreter: str = ""
    # False where the binary could not be read as ELF or had no symbols (stripped).
    readable: bool = True

    def __contains__(self, need: object) -> bool:
        return any(name == need for name, _ in self.found)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.found)

    def evidence(self, need: str) -> str:
        return next((symbol for name, symbol in self.found if name == need), "")


def needs_of(binary: bytes) -> Needs:
    """What `binary`, an unstripped Go program, needs at run time beyond itself."""

    try:
        elf = ELFFile(io.BytesIO(binary))
        interpreter = ""
        for segment in elf.iter_segments():
            if isinstance(segment, InterpSegment):
                interpreter = segment.get_interp_name()
        table = elf.get_section_by_name(".symtab")
        if not isinstance(table, SymbolTableSection):
            return Needs(interpreter=interpreter, readable=False)
        names = {symbol.name for symbol in table.iter_symbols()}
    except (ELFError, ValueError, KeyError):
        return Needs(readable=False)
    embedded_tzdata = any(name.startswith(_EMBEDDED_TZDATA) for name in names)
    found = []
    for need, symbols in _EVIDENCE.items():
        if need == TZDATA and embedded_tzdata:
            continue
        shown = next((symbol for symbol in symbols if symbol in names), "")
        if not shown and need == TMP and _TMP_PATH in binary:
            shown = "a path under /tmp/"
        if shown:
            found.append((need, shown))
    return Needs(found=tuple(found), interpreter=interpreter)
