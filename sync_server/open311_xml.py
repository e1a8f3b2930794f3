"""GeoReport v2 XML: the same documents as the JSON answers, in the specification's element names.

The JSON answers are lists of flat objects (or one object for discovery and service definitions);
the XML wraps them in the specification's root and item elements (`<services><service>…`,
`<service_requests><request>…`, `<errors><error>…`). Nested lists take the singular of their name
(`attributes/attribute`, `values/value`, `endpoints/endpoint`, `formats/format`). `null` is an empty
element, booleans are `true`/`false`, and characters XML 1.0 cannot hold are left out.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

#: (root, item) element names of each kind of answer.
SERVICES = ("services", "service")
REQUESTS = ("service_requests", "request")
ERRORS = ("errors", "error")

# Characters XML 1.0 cannot carry at all (C0 controls but tab, LF, CR; U+FFFE, U+FFFF; lone
# surrogates): a text holding one would make the whole document unreadable, so they are dropped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_ITEM_OF_LIST = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format"}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, child in value.items():
            _fill(SubElement(element, name), child)
    elif isinstance(value, list):
        item = _ITEM_OF_LIST.get(element.tag, "item")
        for child in value:
            _fill(SubElement(element, item), child)
    else:
        element.text = _text(value)


def list_xml(kind: tuple[str, str], items: list[dict[str, Any]]) -> bytes:
    """A list answer (services, requests, errors) as an XML document."""
    root_name, item_name = kind
    root = Element(root_name)
    for item in items:
        _fill(SubElement(root, item_name), item)
    document: bytes = tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def object_xml(root_name: str, document: dict[str, Any]) -> bytes:
    """One object (discovery, a service definition) as an XML document under `root_name`."""
    root = Element(root_name)
    _fill(root, document)
    text: bytes = tostring(root, encoding="utf-8", xml_declaration=True)
    return text
