"""Canonical person fields for cross-agency matching, and their normalisation.

Two agencies never write a person the same way: "O'Brien" and "OBRIEN",
"123-45-6789" and "123456789", "12 Oak Street" and "12 OAK ST", "Texas" and
"TX", "03/07/1980" and "1980-03-07". Linkage compares normalised values, so
that formatting differences cost nothing and only real disagreements count as
evidence against a match. Normalisation is columnar (pyarrow.compute): no
Python per row, whatever the size of the file.

What normalisation does *not* do is resolve nicknames (BOB stays BOB): a
nickname is a real difference between two records that the linkage model
weighs on its own comparison level (:func:`canonical_given_names` gives the
canonical given name that level compares).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

PERSON_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "birth_date",
    "tin",
    "street_number",
    "street",
    "city",
    "postcode",
    "state",
)
"""The canonical person fields a partner file can be mapped onto."""


class FieldError(ValueError):
    """A field name that is not one of :data:`PERSON_FIELDS`."""


# Nicknames and short forms -> the canonical given name (upper case). Small and
# deliberate: common US diminutives of the given names the generator uses, plus
# a few frequent ones beyond them. A nickname shared by two names (e.g. "TERRY",
# "CHRIS") maps to the more frequent one.
NICKNAMES: dict[str, str] = {
    "BOB": "ROBERT", "BOBBY": "ROBERT", "ROB": "ROBERT", "ROBBIE": "ROBERT", "BERT": "ROBERT",
    "BILL": "WILLIAM", "BILLY": "WILLIAM", "WILL": "WILLIAM", "WILLIE": "WILLIAM", "LIAM": "WILLIAM",
    "JIM": "JAMES", "JIMMY": "JAMES", "JAMIE": "JAMES",
    "JACK": "JOHN", "JOHNNY": "JOHN",
    "MIKE": "MICHAEL", "MICKEY": "MICHAEL",
    "DAVE": "DAVID", "DAVEY": "DAVID",
    "RICK": "RICHARD", "RICKY": "RICHARD", "DICK": "RICHARD", "RICH": "RICHARD", "RICHIE": "RICHARD",
    "JOE": "JOSEPH", "JOEY": "JOSEPH",
    "TOM": "THOMAS", "TOMMY": "THOMAS",
    "CHRIS": "CHRISTOPHER", "KIT": "CHRISTOPHER",
    "CHUCK": "CHARLES", "CHARLIE": "CHARLES",
    "DAN": "DANIEL", "DANNY": "DANIEL",
    "MATT": "MATTHEW",
    "TONY": "ANTHONY",
    "DON": "DONALD", "DONNIE": "DONALD",
    "STEVE": "STEVEN", "STEVIE": "STEVEN",
    "ANDY": "ANDREW", "DREW": "ANDREW",
    "JOSH": "JOSHUA",
    "KEN": "KENNETH", "KENNY": "KENNETH",
    "KEV": "KEVIN",
    "TIM": "TIMOTHY", "TIMMY": "TIMOTHY",
    "RON": "RONALD", "RONNIE": "RONALD",
    "JAY": "JASON",
    "ED": "EDWARD", "EDDIE": "EDWARD", "TED": "EDWARD", "NED": "EDWARD",
    "JEFF": "JEFFREY",
    "JAKE": "JACOB",
    "NICK": "NICHOLAS", "NICKY": "NICHOLAS",
    "JON": "JONATHAN",
    "LARRY": "LAWRENCE",
    "BEN": "BENJAMIN", "BENNY": "BENJAMIN",
    "SAM": "SAMUEL", "SAMMY": "SAMUEL",
    "GREG": "GREGORY",
    "ALEX": "ALEXANDER", "AL": "ALEXANDER",
    "PAT": "PATRICK", "PADDY": "PATRICK",
    "FRANKIE": "FRANK",
    "RAY": "RAYMOND",
    "DENNY": "DENNIS",
    "JERRY": "GERALD",
    "ZACH": "ZACHARY", "ZACK": "ZACHARY",
    "DOUG": "DOUGLAS",
    "PETE": "PETER",
    "WALT": "WALTER",
    "TERRY": "TERRENCE",
    "HARRY": "HENRY", "HANK": "HENRY",
    "ART": "ARTHUR", "ARTIE": "ARTHUR",
    "GABE": "GABRIEL",
    "RANDY": "RANDALL",
    "VINCE": "VINCENT", "VINNY": "VINCENT",
    "PHIL": "PHILIP",
    "GENE": "EUGENE",
    "BRAD": "BRADLEY",
    "RUSS": "RUSSELL",
    "NATE": "NATHAN",
    "GERRY": "GERALD",
    "HAL": "HAROLD",
    "LIZ": "ELIZABETH", "BETH": "ELIZABETH", "LIZZIE": "ELIZABETH", "BETSY": "ELIZABETH", "ELIZA": "ELIZABETH",
    "BETTY": "ELIZABETH",
    "PATTY": "PATRICIA", "PATSY": "PATRICIA", "TRISH": "PATRICIA", "TRICIA": "PATRICIA",
    "JEN": "JENNIFER", "JENNY": "JENNIFER",
    "BARB": "BARBARA", "BARBIE": "BARBARA",
    "SUE": "SUSAN", "SUSIE": "SUSAN", "SUZY": "SUSAN",
    "JESS": "JESSICA", "JESSIE": "JESSICA",
    "KATE": "KATHERINE", "KATIE": "KATHERINE", "KATHY": "KATHERINE", "KAT": "KATHERINE",
    "MAGGIE": "MARGARET", "PEGGY": "MARGARET", "MEG": "MARGARET", "MARGE": "MARGARET",
    "KIM": "KIMBERLY",
    "MANDY": "AMANDA",
    "MISSY": "MELISSA", "MEL": "MELISSA",
    "DEB": "DEBORAH", "DEBBIE": "DEBORAH",
    "STEPH": "STEPHANIE",
    "DOT": "DOROTHY", "DOTTIE": "DOROTHY",
    "BECKY": "REBECCA", "BECCA": "REBECCA",
    "CINDY": "CYNTHIA",
    "ANGIE": "ANGELA",
    "PAM": "PAMELA",
    "NIKKI": "NICOLE",
    "CHRISTY": "CHRISTINE", "TINA": "CHRISTINA",
    "VICKY": "VICTORIA", "TORI": "VICTORIA",
    "GINNY": "VIRGINIA",
    "JUDY": "JUDITH",
    "JACKIE": "JACQUELINE",
    "MARTY": "MARTHA", "MATTIE": "MARTHA",
    "ABBY": "ABIGAIL", "ABBIE": "ABIGAIL",
    "FRAN": "FRANCES", "FRANNIE": "FRANCES",
    "ALLIE": "ALICE",
    "CAROL": "CAROLINE", "CARRIE": "CAROLINE",
    "HANNIE": "HANNAH",
    "SANDY": "SANDRA",
    "SHERRY": "SHARON",
    "ANNIE": "ANN", "ANNA": "ANN", "ANNE": "ANN",
    "TESS": "THERESA", "TERESA": "THERESA", "TESSA": "THERESA",
    "DEE": "DIANE",
    "BEV": "BEVERLY",
    "NAT": "NATALIE",
    "LOLLY": "LAURA", "LAURIE": "LAURA", "LORI": "LAURA",
    "MOLLY": "MARY", "POLLY": "MARY", "MAMIE": "MARY",
    "SOPHIE": "SOPHIA",
    "BELLA": "ISABELLA", "IZZY": "ISABELLA",
    "LOTTIE": "CHARLOTTE",
    "EM": "EMILY", "EMMY": "EMMA",
    "SALLY": "SARAH", "SADIE": "SARAH", "SARA": "SARAH",
    "GRACIE": "GRACE",
    "JULES": "JULIA",
}  # fmt: skip

# USPS street suffix and direction abbreviations (the forms partner files spell out).
STREET_WORDS: dict[str, str] = {
    "STREET": "ST", "STR": "ST", "AVENUE": "AVE", "AV": "AVE", "ROAD": "RD", "DRIVE": "DR",
    "LANE": "LN", "BOULEVARD": "BLVD", "COURT": "CT", "PLACE": "PL", "TERRACE": "TER",
    "HIGHWAY": "HWY", "PARKWAY": "PKWY", "CIRCLE": "CIR", "SQUARE": "SQ", "TRAIL": "TRL",
    "NORTH": "N", "SOUTH": "S", "EAST": "E", "WEST": "W",
}  # fmt: skip

CITY_WORDS: dict[str, str] = {"SAINT": "ST", "FORT": "FT", "MOUNT": "MT"}

STATE_CODES: dict[str, str] = {
    "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA",
    "COLORADO": "CO", "CONNECTICUT": "CT", "DELAWARE": "DE", "FLORIDA": "FL", "GEORGIA": "GA",
    "HAWAII": "HI", "IDAHO": "ID", "ILLINOIS": "IL", "INDIANA": "IN", "IOWA": "IA", "KANSAS": "KS",
    "KENTUCKY": "KY", "LOUISIANA": "LA", "MAINE": "ME", "MARYLAND": "MD", "MASSACHUSETTS": "MA",
    "MICHIGAN": "MI", "MINNESOTA": "MN", "MISSISSIPPI": "MS", "MISSOURI": "MO", "MONTANA": "MT",
    "NEBRASKA": "NE", "NEVADA": "NV", "NEW HAMPSHIRE": "NH", "NEW JERSEY": "NJ", "NEW MEXICO": "NM",
    "NEW YORK": "NY", "NORTH CAROLINA": "NC", "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK",
    "OREGON": "OR", "PENNSYLVANIA": "PA", "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC",
    "SOUTH DAKOTA": "SD", "TENNESSEE": "TN", "TEXAS": "TX", "UTAH": "UT", "VERMONT": "VT",
    "VIRGINIA": "VA", "WASHINGTON": "WA", "WEST VIRGINIA": "WV", "WISCONSIN": "WI", "WYOMING": "WY",
    "DISTRICT OF COLUMBIA": "DC", "PUERTO RICO": "PR",
}  # fmt: skip

_NAME_SUFFIXES = r"( (JR|SR|II|III|IV))+$"


def check_fields(fields: Sequence[str]) -> None:
    """Raise :class:`FieldError` unless every name is a canonical person field (and none repeats)."""
    unknown = [f for f in fields if f not in PERSON_FIELDS]
    if unknown:
        raise FieldError(f"unknown person field(s) {unknown}; expected some of {list(PERSON_FIELDS)}")
    if len(set(fields)) != len(fields):
        raise FieldError("a person field is named twice")


def _null_if_empty(arr: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(pc.utf8_length(arr), 0), pa.scalar(None, pa.string()), arr)


def _as_text(arr: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr])
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    if pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.string())
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    return arr


def clean_text(arr: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """Upper case, diacritics removed, apostrophes and dots dropped, other punctuation -> one space."""
    a = _as_text(arr)
    a = pc.utf8_normalize(a, form="NFKD")
    a = pc.replace_substring_regex(a, r"\p{Mn}+", "")
    a = pc.utf8_upper(a)
    a = pc.replace_substring_regex(a, r"['’`.]", "")
    a = pc.replace_substring_regex(a, r"[^A-Z0-9]+", " ")
    a = pc.utf8_trim_whitespace(a)
    return _null_if_empty(a)


def _replace_words(a: pa.ChunkedArray, words: dict[str, str]) -> pa.ChunkedArray:
    for long, short in words.items():
        a = pc.replace_substring_regex(a, rf"\b{long}\b", short)
    return a


def _digits(arr: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    a = pc.replace_substring_regex(_as_text(arr), r"[^0-9]+", "")
    return _null_if_empty(a)


def _dates(arr: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO "YYYY-MM-DD" from ISO, compact YYYYMMDD, or US M/D/YYYY (or M-D-YYYY, M.D.YYYY); else null."""
    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr])
    if pa.types.is_date(arr.type) or pa.types.is_timestamp(arr.type):
        return pc.strftime(pc.cast(arr, pa.timestamp("s")), format="%Y-%m-%d")
    a = pc.utf8_trim_whitespace(_as_text(arr))
    iso = pc.extract_regex(a, r"^(?P<y>[0-9]{4})-?(?P<m>[0-9]{2})-?(?P<d>[0-9]{2})(?:[T ].*)?$")
    us = pc.extract_regex(a, r"^(?P<m>[0-9]{1,2})[/.-](?P<d>[0-9]{1,2})[/.-](?P<y>[0-9]{4})$")

    def part(name: str, width: int) -> pa.ChunkedArray:
        first = pc.struct_field(iso, name)
        second = pc.utf8_lpad(pc.struct_field(us, name), width, "0")
        return pc.coalesce(first, second)

    return pc.binary_join_element_wise(part("y", 4), part("m", 2), part("d", 2), "-")


def _lookup(a: pa.ChunkedArray, mapping: dict[str, str]) -> pa.ChunkedArray:
    keys = pa.array(list(mapping), pa.string())
    values = pa.array(list(mapping.values()), pa.string())
    mapped = pc.take(values, pc.index_in(a, value_set=keys))
    return pc.coalesce(mapped, a)


_DISTINCT_FIRST = ("first_name", "last_name", "street", "city", "state", "street_number", "birth_date", "postcode")


def normalise_field(field: str, arr: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """The normalised form of one canonical field's values (nulls stay null; empty becomes null).

    Names, streets, cities, dates repeat a lot, so they are normalised once per
    distinct value (dictionary encoding) and expanded back: a few thousand
    regex passes instead of millions.
    """
    if field not in PERSON_FIELDS:
        raise FieldError(f"unknown person field {field!r}")
    if field in _DISTINCT_FIRST:
        chunked = pa.chunked_array([arr]) if isinstance(arr, pa.Array) else arr
        if pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type):
            encoded = pc.dictionary_encode(chunked.combine_chunks())
            values = _normalise_values(field, encoded.dictionary).combine_chunks()
            return pa.chunked_array([values.take(encoded.indices)])
    return _normalise_values(field, arr)


def _normalise_values(field: str, arr: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    if field == "birth_date":
        return _dates(arr)
    if field in ("tin", "postcode"):
        digits = _digits(arr)
        return pc.utf8_slice_codeunits(digits, 0, 5) if field == "postcode" else digits
    a = clean_text(arr)
    if field == "first_name":
        a = pc.replace_substring_regex(a, r"( [A-Z])+$", "")  # a trailing middle initial
    elif field == "last_name":
        a = _null_if_empty(pc.utf8_trim_whitespace(pc.replace_substring_regex(a, _NAME_SUFFIXES, "")))
    elif field == "street_number":
        a = pc.replace_substring_regex(a, " ", "")
    elif field == "street":
        a = _replace_words(a, STREET_WORDS)
    elif field == "city":
        a = _replace_words(a, CITY_WORDS)
    elif field == "state":
        a = _lookup(a, STATE_CODES)
    return a


def normalise_people(table: pa.Table, fields: Sequence[str]) -> pa.Table:
    """Normalise the named canonical fields of ``table`` (other columns pass through unchanged).

    Upper case, diacritics and punctuation removed, whitespace collapsed; TINs and
    postcodes reduced to digits (ZIP+4 to five digits); dates to ISO; USPS street
    abbreviations, state codes. Nicknames are left as written.
    """
    check_fields(fields)
    missing = [f for f in fields if f not in table.column_names]
    if missing:
        raise FieldError(f"table has no column(s) {missing}")
    out = table
    for field in fields:
        idx = out.column_names.index(field)
        out = out.set_column(idx, field, normalise_field(field, out.column(field)))
    return out


def canonical_given_names(first_names: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """The canonical given name of each *normalised* first name (BOB -> ROBERT; unknown names unchanged)."""
    return _lookup(_as_text(first_names), NICKNAMES)
