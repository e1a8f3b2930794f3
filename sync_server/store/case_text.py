"""How the SQLite store keeps a case's document on disk: its JSON text, deflated.

A stored document is either its JSON text (TEXT, as every store wrote it before) or, since this
module, a BLOB: one format byte, then the UTF-8 text compressed with raw deflate against a preset
dictionary fixed for that format byte. Reads accept both, so no migration rewrites old rows; a case
is stored compressed the next time it is saved. `unpack(pack(text)) == text` exactly: the changes
feed sends phones the same bytes whichever way the row was stored.

Why: a document is ~1.4–1.9 kB of JSON whose key names and common values repeat in every case; two
rarely fit in one 4 kB page, so the `cases` table held about one case per page. The dictionary
gives deflate those repeats up front, so a small document compresses too (it holds key names and
generic values only — no text of any city). A 4 kB window and a small hash table keep deflate's
set-up cheap (the library's defaults cost more to set up than to compress a document).

A format byte and its dictionary are fixed forever once released: stored rows depend on them. A
better dictionary is a new format byte, with the old one kept for reading.
"""

from __future__ import annotations

import zlib

# Format 1: raw deflate, 4 kB window (wbits 12), memLevel 6, level 6, dictionary `_DICTIONARY_1`.
_FORMAT_1 = b"\x01"
_WBITS = -12
_MEM_LEVEL = 6
_LEVEL = 6
# Later strings are cheaper to refer to: the keys every document has come last, in document order.
_DICTIONARY_1 = (
    b'"conflict_id":"","field":"","kept":"","proposed":"","proposed_by":"","base_version":0,'
    b'"at_version":0,"resolved":false,"resolution":null,"resolved_by":null}'
    b'"photo_id":"","sha256":"","size":0,"stage":"before","key":"","added_by":"","captured_at":0},'
    b'"stage":"after""stage":"verification""status":"dispatched""status":"handling"'
    b'"status":"returned""status":"reported_back""status":"verified""status":"closed"'
    b'"status":"rejected""status":"voided""status":"duplicate""outcome":"soft_conflict"'
    b'"outcome":"hard_conflict""outcome":"duplicate""source":"manual""source":"photo"'
    b'"kind":"edit","action":"""kind":"photo","action":"""kind":"move","action":"'
    b'{"case_id":"","case_no":"","category":"","reporter":"","status":"reported","description":"",'
    b'"location":{"lat":0.0,"lon":0.0,"accuracy_m":0.0,"source":"gps"},"grid_code":"","address":"",'
    b'"department":null,"handler":null,"deadline":null,"version":1,"captured_at":0,"reported_at":0,'
    b'"closed_at":null,"on_spot":false,"overdue":false,"hard_conflict":false,"possible_duplicates":[],'
    b'"duplicate_of":null,"extension_hours":null,"extensions":0,"reworks":0,"photos":[],'
    b'"notes":[{"note_id":"","author":"","text":"","captured_at":0}],'
    b'"timeline":[{"version":1,"op_id":"","actor":"","kind":"create","action":"","status":"reported",'
    b'"outcome":"applied","at":0},{"version":2,"op_id":"","actor":"","kind":"note","action":"",'
    b'"status":"reported","outcome":"applied","at":0}],"conflicts":[],'
    b'"field_versions":{"category":[1,""],"description":[1,""],"location":[1,""],"grid_code":[1,""],'
    b'"address":[1,""],"status":[1,""]}}'
)


# A compressor primed with the dictionary, never used itself: each document is deflated by a copy of
# it, byte for byte what a new one gives, without loading the dictionary again (~1.3 of ~12 µs).
_PRIMED_1 = zlib.compressobj(
    _LEVEL, zlib.DEFLATED, _WBITS, _MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, _DICTIONARY_1
)


def pack(text: str) -> bytes:
    """The stored form of a document's JSON text (format 1)."""
    deflate = _PRIMED_1.copy()
    return _FORMAT_1 + deflate.compress(text.encode()) + deflate.flush()


def unpack(stored: str | bytes) -> str:
    """A document's JSON text from its stored form: TEXT as it is, a BLOB by its format byte."""
    if isinstance(stored, str):
        return stored
    if stored[:1] != _FORMAT_1:
        raise ValueError(f"a case document in an unknown stored format {stored[:1]!r}")
    inflate = zlib.decompressobj(_WBITS, _DICTIONARY_1)
    return (inflate.decompress(stored[1:]) + inflate.flush()).decode()
