"""Policy: what may decide things about people, and on which data. In progress (issue 5).

So far: data categories and the event-type registry that refuses forbidden ones
(``categories.py``), and the sanctions lists' file formats (``lists.py``). See ``docs/rules.md``.
"""

from tessera.rules.categories import (
    FAVOURABLE_ONLY,
    FORBIDDEN,
    Category,
    EventField,
    EventType,
    EventTypes,
    FieldType,
    event_type,
)
from tessera.rules.lists import (
    OFAC_EMPTY,
    OFAC_EOF_MARKER,
    OFAC_KINDS,
    XML_CHUNK_BYTES,
    ListedEntity,
    parse_ofac,
    parse_ofac_remarks,
    parse_un,
)

__all__ = [
    "FAVOURABLE_ONLY",
    "FORBIDDEN",
    "OFAC_EMPTY",
    "OFAC_EOF_MARKER",
    "OFAC_KINDS",
    "XML_CHUNK_BYTES",
    "Category",
    "EventField",
    "EventType",
    "EventTypes",
    "FieldType",
    "ListedEntity",
    "event_type",
    "parse_ofac",
    "parse_ofac_remarks",
    "parse_un",
]
