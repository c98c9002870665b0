"""ComicInfo.xml of colorized chapters against the ComicInfo v2.0 schema (../shared/specs)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from mangacolor.core.archive import minimal_comicinfo
from mangacolor.core.comicinfo import SCHEMA_ORDER, colorized_comicinfo


@pytest.fixture(scope="module")
def schema(shared_data):
    import xmlschema

    xsd = shared_data.parent / "specs" / "ComicInfo-v2.0.xsd"
    if not xsd.is_file():
        pytest.skip(f"ComicInfo schema not found at {xsd}")
    return xmlschema.XMLSchema(str(xsd))


def test_schema_order_is_the_xsd_sequence(schema):
    names = [e.local_name for e in schema.types["ComicInfo"].content.iter_elements()]
    assert tuple(names) == SCHEMA_ORDER


#: A tagger's file for a black-and-white chapter, elements out of order, a page table.
TAGGED = """<?xml version="1.0" encoding="utf-8"?>
<ComicInfo xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="ComicInfo.xsd">
  <PageCount>3</PageCount>
  <Series>Give My Regards to Black Jack</Series>
  <Notes>Scan 600 dpi</Notes>
  <BlackAndWhite>Yes</BlackAndWhite>
  <Writer>Shuho Sato</Writer>
  <Volume>1</Volume>
  <Manga>YesAndRightToLeft</Manga>
  <LanguageISO>ja</LanguageISO>
  <Colorist>Studio A</Colorist>
  <Pages><Page Image="0" Type="FrontCover" ImageSize="1234567"/><Page Image="1"/><Page Image="2"/></Pages>
</ComicInfo>
"""


def test_input_metadata_is_kept_marked_colorized_and_valid(schema):
    assert not schema.is_valid(TAGGED)  # the input itself is out of order
    out = colorized_comicinfo(TAGGED.encode(), "ignored", 3, model="starter").decode("utf-8")
    schema.validate(out)
    root = ET.fromstring(out)
    assert [el.tag for el in root] == [t for t in SCHEMA_ORDER if root.find(t) is not None]
    assert root.findtext("BlackAndWhite") == "No"
    assert root.findtext("Series") == "Give My Regards to Black Jack" and root.findtext("Writer") == "Shuho Sato"
    assert root.findtext("Volume") == "1" and root.findtext("Manga") == "YesAndRightToLeft"
    assert root.find("Title") is None  # the input had none: not invented
    assert root.findtext("Notes").splitlines()[0] == "Scan 600 dpi"
    assert "Colorized with mangacolor" in root.findtext("Notes") and "starter" in root.findtext("Notes")
    assert root.findtext("Colorist") == "Studio A"  # no --colorist: left as it was
    assert root.get("{http://www.w3.org/2001/XMLSchema-instance}noNamespaceSchemaLocation") == "ComicInfo.xsd"
    pages = root.find("Pages")
    assert [p.get("Image") for p in pages] == ["0", "1", "2"] and pages[0].get("Type") == "FrontCover"
    assert all(p.get("ImageSize") is None for p in pages)  # the input's byte sizes no longer hold
    # colorizing the output again does not repeat the note
    again = colorized_comicinfo(out.encode(), "x", 3, model="starter").decode("utf-8")
    assert ET.fromstring(again).findtext("Notes").count("Colorized with mangacolor") == 1


def test_colorist_is_added_only_when_given_and_missing_pages_drop_the_page_table(schema):
    out = colorized_comicinfo(TAGGED.encode(), "x", 2, colorist="  Ana   Lee ", all_pages=False).decode()
    schema.validate(out)
    root = ET.fromstring(out)
    assert root.findtext("Colorist") == "Studio A, Ana Lee" and root.findtext("PageCount") == "2"
    assert root.find("Pages") is None  # its image indices would point at the wrong pages
    twice = colorized_comicinfo(out.encode(), "x", 2, colorist="ana lee").decode()
    assert ET.fromstring(twice).findtext("Colorist") == "Studio A, Ana Lee"


def test_new_file_and_minimal_file_are_valid(schema):
    new = colorized_comicinfo(None, "chapter 1 & 2", 12, colorist="Me").decode()
    schema.validate(new)
    root = ET.fromstring(new)
    assert root.findtext("Title") == "chapter 1 & 2" and root.findtext("PageCount") == "12"
    assert root.findtext("BlackAndWhite") == "No" and root.findtext("Colorist") == "Me"
    assert root.find("Colorist") is not None and colorized_comicinfo(None, "t", 1).decode().count("Colorist") == 0
    schema.validate(minimal_comicinfo("t", 3).decode())


def test_unusable_input_gets_a_new_file_and_unknown_elements_are_kept_last(schema, caplog):
    for bad in (b"<ComicInfo><Title>unclosed", b"<Book><Title>x</Title></Book>"):
        with caplog.at_level("WARNING"):
            out = colorized_comicinfo(bad, "fallback", 1, name="ch1.cbz")
        schema.validate(out.decode())
        assert ET.fromstring(out).findtext("Title") == "fallback" and "ch1.cbz" in caplog.text
        caplog.clear()
    v21 = b"<ComicInfo><Tags>space</Tags><Title>t</Title><Translator>B</Translator></ComicInfo>"
    root = ET.fromstring(colorized_comicinfo(v21, "x", 1))
    assert [el.tag for el in root][-2:] == ["Tags", "Translator"]  # newer elements kept, after v2.0's
    with pytest.raises(ValueError):
        colorized_comicinfo(None, "t", -1)
