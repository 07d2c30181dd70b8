"""SVG images made safe to show: an allow-list of drawing elements and attributes, nothing that runs or
fetches. Scripts, event handlers, `<foreignObject>` (HTML inside the picture), `<style>` sheets, animation
and every reference outside the file (`href` other than `#id`, `url(...)` other than `url(#id)`) go;
what is left is re-serialised from the parsed tree, so no markup the parser did not understand survives.
Parsed with defusedxml: a document type with entities is refused."""

from __future__ import annotations

import re
from xml.etree import ElementTree

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"

ALLOWED_ELEMENTS = frozenset(
    {
        "svg", "g", "defs", "title", "desc", "symbol", "use", "path", "rect", "circle", "ellipse", "line",
        "polyline", "polygon", "text", "tspan", "textPath", "linearGradient", "radialGradient", "stop",
        "clipPath", "mask", "marker", "pattern",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = frozenset(
    {
        "id", "class", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "fx", "fy", "width",
        "height", "d", "points", "transform", "viewBox", "preserveAspectRatio", "version", "fill",
        "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity", "stroke-linecap",
        "stroke-linejoin", "stroke-dasharray", "stroke-dashoffset", "stroke-miterlimit", "opacity", "color",
        "font-family", "font-size", "font-weight", "font-style", "text-anchor", "dominant-baseline",
        "alignment-baseline", "baseline-shift", "letter-spacing", "dx", "dy", "rotate", "textLength",
        "lengthAdjust", "offset", "stop-color", "stop-opacity", "gradientUnits", "gradientTransform",
        "spreadMethod", "clip-path", "clip-rule", "clipPathUnits", "mask", "maskUnits", "maskContentUnits",
        "marker-start", "marker-mid", "marker-end", "markerWidth", "markerHeight", "markerUnits", "refX",
        "refY", "orient", "patternUnits", "patternContentUnits", "patternTransform", "visibility", "display",
        "vector-effect", "style", "href", "startOffset",
    }
)  # fmt: skip
_URL = re.compile(r"url\s*\(\s*(['\"]?)\s*([^)'\"]*)\1\s*\)", re.IGNORECASE)
_STYLE_DANGER = re.compile(r"@import|expression\s*\(|javascript:|behavior\s*:|-moz-binding", re.IGNORECASE)


class UnsafeSvg(ValueError):
    """The bytes are not an SVG image this site can clean."""


def _local_name(name: str) -> tuple[str, str]:
    """`{namespace}local` → (namespace, local)."""
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        return namespace, local
    return "", name


def _safe_value(name: str, value: str) -> bool:
    if name == "href":
        return value.strip().startswith("#")
    if name == "style" and _STYLE_DANGER.search(value):
        return False
    return all(target.strip().startswith("#") for _, target in _URL.findall(value))


def _clean_attributes(element: ElementTree.Element) -> None:
    for name, value in list(element.attrib.items()):
        del element.attrib[name]
        namespace, local = _local_name(name)
        if namespace == XLINK_NS and local == "href":
            local = "href"  # xlink:href becomes plain href (SVG 2), checked the same way
        elif namespace:
            continue
        if local in ALLOWED_ATTRIBUTES and _safe_value(local, value):
            element.set(local, value)


def _remove_keeping_tail(parent: ElementTree.Element, child: ElementTree.Element) -> None:
    """Remove an element; the text after it (its tail) stays where it was."""
    if child.tail:
        index = list(parent).index(child)
        if index:
            previous = parent[index - 1]
            previous.tail = (previous.tail or "") + child.tail
        else:
            parent.text = (parent.text or "") + child.tail
    parent.remove(child)


def _clean(element: ElementTree.Element) -> None:
    for child in list(element):
        namespace, local = _local_name(child.tag) if isinstance(child.tag, str) else ("", "")
        if namespace != SVG_NS or local not in ALLOWED_ELEMENTS:
            _remove_keeping_tail(element, child)
            continue
        child.tag = local
        _clean_attributes(child)
        _clean(child)


def svg_clean(data: bytes) -> bytes:
    """The SVG reduced to the allow-list, as UTF-8 bytes; UnsafeSvg when it is not an SVG document."""
    try:
        root = fromstring(data, forbid_dtd=True)
    except (DefusedXmlException, ElementTree.ParseError, ValueError) as exc:
        raise UnsafeSvg(f"not a readable SVG document: {exc}") from exc
    if root.tag != f"{{{SVG_NS}}}svg":
        raise UnsafeSvg("the document is not an <svg> in the SVG namespace")
    root.tag = "svg"
    _clean_attributes(root)
    _clean(root)
    root.set("xmlns", SVG_NS)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=False)
