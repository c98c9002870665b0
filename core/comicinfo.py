"""``ComicInfo.xml`` for colorized chapters, in the order of the ComicInfo v2.0 schema.

ComicInfo is the metadata file of comic archives that ComicRack defined and Komga, Kavita and
other readers read (schema v2.0, https://anansi-project.github.io/docs/comicinfo/schemas/v2.0).
The schema's ``ComicInfo`` type is an ordered ``xs:sequence`` (``Notes`` after ``Summary``, long
before ``PageCount``), so a valid file lists its elements in :data:`SCHEMA_ORDER`.

:func:`colorized_comicinfo` writes the file of a colorized chapter: the input's own metadata
kept (every element and its text, root attributes), ``BlackAndWhite`` set to ``No``, the
colorization recorded in ``Notes`` (appended to the input's notes) and, only when the user names
one, in ``Colorist``; ``PageCount`` is the number of pages written; elements are written in
schema order, elements the schema does not know are kept after them.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from typing import Optional

from . import __version__

__all__ = ["SCHEMA_ORDER", "XSI_NS", "XSD_NS", "colorized_comicinfo", "colorization_note"]

log = logging.getLogger(__name__)

#: The elements of the ComicInfo v2.0 ``ComicInfo`` sequence, in schema order.
SCHEMA_ORDER = (
    "Title", "Series", "Number", "Count", "Volume", "AlternateSeries", "AlternateNumber", "AlternateCount",
    "Summary", "Notes", "Year", "Month", "Day", "Writer", "Penciller", "Inker", "Colorist", "Letterer",
    "CoverArtist", "Editor", "Publisher", "Imprint", "Genre", "Web", "PageCount", "LanguageISO", "Format",
    "BlackAndWhite", "Manga", "Characters", "Teams", "Locations", "ScanInformation", "StoryArc", "SeriesGroup",
    "AgeRating", "Pages", "CommunityRating", "MainCharacterOrTeam", "Review",
)
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
_RANK = {name: i for i, name in enumerate(SCHEMA_ORDER)}


def colorization_note(model: Optional[str] = None) -> str:
    """The line recorded in ``Notes``: ``Colorized with mangacolor X.Y (model NAME).``"""
    return f"Colorized with mangacolor {__version__}" + (f" (model {model})" if model else "") + "."


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _parse(source: bytes, name: str) -> Optional[ET.Element]:
    try:
        root = ET.fromstring(source)
    except ET.ParseError as e:
        log.warning("%s: ComicInfo.xml is not well-formed XML (%s); a new one is written", name, e)
        return None
    if _local(root.tag) != "ComicInfo":
        log.warning("%s: ComicInfo.xml has the root <%s>, not <ComicInfo>; a new one is written", name, _local(root.tag))
        return None
    return root


def colorized_comicinfo(source: Optional[bytes], title: str, page_count: int, colorist: Optional[str] = None,
                        model: Optional[str] = None, all_pages: bool = True, name: str = "") -> bytes:
    """The ``ComicInfo.xml`` of a colorized chapter (UTF-8 bytes, schema v2.0 element order).

    Args:
        source: the input's ``ComicInfo.xml`` bytes, or None for a new file. A file that is not
            well-formed XML, or whose root is not ``ComicInfo``, is replaced by a new one (logged).
        title: ``Title`` of a new file (an input's file keeps its own ``Title``, or none).
        page_count: pages in the written chapter (``PageCount``).
        colorist: the user's name for ``Colorist`` (added to an input's colorists unless it is
            already one of them); None leaves ``Colorist`` as the input has it.
        model: model name recorded in the note (:func:`colorization_note`).
        all_pages: False when pages of the input are missing from the output (failed pages):
            the input's ``Pages`` list, whose image indices would then point at the wrong pages,
            is dropped. Its ``ImageSize`` attributes (bytes of the input's images) are always
            dropped; the other page attributes (type, double page, size in pixels) still hold.
        name: the input, for log messages.

    Returns:
        The XML document, with an XML declaration, 2-space indented.

    Raises:
        ValueError: ``page_count`` is negative.
    """
    if int(page_count) < 0:
        raise ValueError(f"page count must not be negative, got {page_count}")
    root = _parse(source, name) if source is not None else None
    attrib: dict = {}
    items: dict[str, ET.Element] = {}
    extra: list[ET.Element] = []
    if root is not None:
        attrib = {k: v for k, v in root.attrib.items()}
        for el in root:
            local = _local(el.tag)
            if not local:  # comments, processing instructions
                continue
            el.tag = local
            if local in _RANK and local not in items:
                items[local] = el
            else:
                extra.append(el)  # unknown to v2.0 (or repeated): kept after the schema's elements
        if extra:
            log.info("%s: ComicInfo.xml elements not in the v2.0 schema kept at the end: %s", name,
                     ", ".join(sorted({e.tag for e in extra})))

    def put(tag: str, text: str) -> None:
        el = items.get(tag)
        if el is None:
            el = items[tag] = ET.Element(tag)
        el.text = text

    if root is None and title:  # an input's file keeps its own title (or none)
        put("Title", title)
    note = colorization_note(model)
    old = (items["Notes"].text or "").strip() if "Notes" in items else ""
    put("Notes", old if note in old else (f"{old}\n{note}" if old else note))
    if colorist and colorist.strip():
        colorist = " ".join(colorist.split())
        have = (items["Colorist"].text or "").strip() if "Colorist" in items else ""
        names = [n.strip().lower() for n in have.split(",")] if have else []
        put("Colorist", colorist if not have else (have if colorist.lower() in names else f"{have}, {colorist}"))
    put("PageCount", str(int(page_count)))
    put("BlackAndWhite", "No")
    pages = items.get("Pages")
    if pages is not None:
        if not all_pages:
            del items["Pages"]
        else:
            for page in pages.iter():
                page.tag = _local(page.tag)
                page.attrib.pop("ImageSize", None)

    out = ET.Element("ComicInfo", attrib)
    for tag in sorted(items, key=_RANK.__getitem__):
        el = items[tag]
        el.tail = None
        out.append(el)
    for el in extra:
        el.tail = None
        out.append(el)
    ET.register_namespace("xsi", XSI_NS)
    ET.register_namespace("xsd", XSD_NS)
    if not attrib:  # what ComicRack writes on a new file
        out.set("xmlns:xsd", XSD_NS)
        out.set("xmlns:xsi", XSI_NS)
    ET.indent(out, space="  ")
    body = ET.tostring(out, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n").encode("utf-8")
