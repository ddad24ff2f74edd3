"""``taxvault copybook decode|layout`` end to end, through the real top-level CLI.

Files are written here with the copybook writer; the command's outputs are
read back (JSON Lines, CSV with the csv module, Parquet with pyarrow) and
compared with the values.  Errors must be one ``error:`` line and a non-zero
exit; quarantined records go to a 0600 side file and their values never
reach the terminal.
"""

from __future__ import annotations

import csv
import json
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from taxvault.cli import app
from taxvault.formats.copybook import encode_record, load_bundled_copybook, rdw_header
from taxvault.formats.copybook.bundled import bundled_copybook_text
from taxvault.formats.copybook.cli import quarantine_path, reason_kind

MODULE = load_bundled_copybook("imf_module")
TIN = "912345678"


def module_row(i: int, count: int = 2) -> dict[str, Any]:
    return {
        "MOD_KEY": {"MOD_TIN": f"{900000000 + i:09d}", "MOD_MFT_CODE": 30, "MOD_TAX_PERIOD": 202312},
        "MOD_STATUS": 10,
        "MOD_BALANCE": Decimal("-12.34") * i,
        "MOD_TRANSACTION": [
            {"TXN_CODE": 150, "TXN_AMOUNT": Decimal("1.05"), "TXN_23C_DATE": 20240415, "TXN_CYCLE": 202416}
        ]
        * count,
    }


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    cpy = tmp_path / "imf_module.cpy"
    cpy.write_text(bundled_copybook_text("imf_module"), encoding="latin-1")
    payloads = [encode_record(MODULE, module_row(i), variable_size_occurs=True) for i in range(5)]
    bad = bytearray(encode_record(MODULE, module_row(0) | {"MOD_KEY": {"MOD_TIN": TIN}}, variable_size_occurs=True))
    bad[26:28] = (500).to_bytes(2, "big")  # a counter beyond OCCURS 99: the record's shape is unknowable
    payloads.insert(2, bytes(bad))
    data = tmp_path / "modules.dat"
    data.write_bytes(b"".join(rdw_header(len(p)) + p for p in payloads))
    return {"cpy": cpy, "data": data, "dir": tmp_path}


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["copybook", *args])


def decode_args(files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "decode",
        str(files["data"]),
        "--copybook",
        str(files["cpy"]),
        "--record-format",
        "V",
        "--variable-size-occurs",
        "--out",
        str(out),
        *extra,
    ]


def test_decode_to_jsonl_with_quarantine(files: dict[str, Path]) -> None:
    out = files["dir"] / "out.jsonl"
    result = run(*decode_args(files, out))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["MOD_KEY"]["MOD_TIN"] for r in rows] == [f"{900000000 + i:09d}" for i in range(5)]
    assert rows[1]["MOD_BALANCE"] == "-12.34" and rows[1]["MOD_TRANSACTION"][0]["TXN_AMOUNT"] == "1.05"
    assert "6 records: 5 decoded" in result.output and "1 quarantined" in result.output
    assert "MOD-TXN-COUNT" in result.output and "500" not in result.output and TIN not in result.output
    qpath = quarantine_path(out)
    assert qpath.name == "out.quarantine.jsonl"
    entry = json.loads(qpath.read_text())
    assert entry["index"] == 2 and entry["field"] == "MOD-TRANSACTION"
    assert bytes.fromhex(entry["raw_hex"])[26:28] == (500).to_bytes(2, "big")
    for path in (out, qpath):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    strict = run(*decode_args(files, files["dir"] / "strict.jsonl", "--strict"))
    assert strict.exit_code == 1


def test_decode_to_csv_and_parquet(files: dict[str, Path]) -> None:
    out = files["dir"] / "out.csv"
    assert run(*decode_args(files, out, "--progress")).exit_code == 0  # the bar, even without a terminal
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[3]["MOD_KEY.MOD_TIN"] == "900000003" and rows[3]["MOD_BALANCE"] == "-37.02"
    assert json.loads(rows[3]["MOD_TRANSACTION"])[1]["TXN_CODE"] == 150
    pq = pytest.importorskip("pyarrow.parquet")
    out = files["dir"] / "out.parquet"
    assert run(*decode_args(files, out)).exit_code == 0
    table = pq.read_table(out)
    assert table.num_rows == 5
    assert str(table.schema.field("MOD_BALANCE").type) == "decimal128(38, 2)"
    assert table.column("MOD_BALANCE").to_pylist()[4] == Decimal("-49.36")
    assert table.column("MOD_KEY.MOD_MFT_CODE").to_pylist() == [30] * 5


def test_segments_and_text_records(tmp_path: Path) -> None:
    cpy = tmp_path / "types.cpy"
    cpy.write_text(
        "       01  HEADER-REC.\n           05  REC-TYPE  PIC X.\n           05  FILE-DATE PIC 9(8).\n"
        "       01  DETAIL-REC.\n           05  REC-TYPE  PIC X.\n           05  NAME      PIC X(5).\n"
    )
    data = tmp_path / "types.txt"
    data.write_bytes(b"H20240101\r\nDSMITH\r\nZ\nDJONES\n")
    out = tmp_path / "types.jsonl"
    result = run(
        "decode",
        str(data),
        "-c",
        str(cpy),
        "-f",
        "text",
        "--encoding",
        "ascii",
        "--segment-field",
        "REC-TYPE",
        "--segment-map",
        "H=HEADER-REC",
        "--segment-map",
        "D=DETAIL-REC",
        "-o",
        str(out),
        "--strict",
    )
    assert result.exit_code == 1  # one record of an unknown type, in strict mode
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [
        {"_record_type": "HEADER-REC", "REC_TYPE": "H", "FILE_DATE": 20240101},
        {"_record_type": "DETAIL-REC", "REC_TYPE": "D", "NAME": "SMITH"},
        {"_record_type": "DETAIL-REC", "REC_TYPE": "D", "NAME": "JONES"},
    ]
    assert "DETAIL-REC: 2" in result.output and "not in the segment map" in result.output
    csv_out = tmp_path / "types.csv"
    assert run("decode", str(data), "-c", str(cpy), "-f", "text", "--encoding", "ascii", "--segment-field",
               "REC-TYPE", "--segment-map", "H=HEADER-REC", "--segment-map", "D=DETAIL-REC", "-o",
               str(csv_out)).exit_code == 0  # fmt: skip
    assert csv_out.read_text().splitlines()[0] == "_record_type,REC_TYPE,FILE_DATE,NAME"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--record-format", "U"], "unknown record format"),
        (["--segment-field", "MOD-TIN"], "go together"),
        (["--segment-field", "NOPE", "--segment-map", "1=IMF-MODULE-REC"], "not a single item"),
        (["--encoding", "no-such-page"], "unknown code page"),
        (["--out", "x.xlsx"], "cannot tell the output format"),
        (["--record-format", "F"], "partial record"),  # RDW file read as fixed-length 4087-byte records
        (["--record-format", "VB"], "byte offset"),
    ],
)
def test_errors_are_one_line(files: dict[str, Path], args: list[str], message: str) -> None:
    base = ["decode", str(files["data"]), "-c", str(files["cpy"]), "-o", str(files["dir"] / "o.jsonl")]
    result = run(*base, *args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert [line for line in result.output.splitlines() if line.startswith("error:")]


def test_missing_and_bad_copybooks(files: dict[str, Path]) -> None:
    bad = files["dir"] / "bad.cpy"
    bad.write_text("       01  REC.\n           05  A PIC Q(3).\n")
    for args in (["layout", str(bad)], ["layout", str(files["dir"] / "none.cpy")]):
        result = run(*args)
        assert result.exit_code == 1 and result.output.startswith("error:") and "Traceback" not in result.output
    result = run("decode", str(files["dir"] / "none.dat"), "-c", str(files["cpy"]), "-o", "x.jsonl")
    assert result.exit_code == 1 and "cannot read" in result.output


def test_layout_table_and_json(files: dict[str, Path]) -> None:
    result = run("layout", str(files["cpy"]))
    assert result.exit_code == 0
    line = next(x for x in result.output.splitlines() if "TXN-DLN" in x)
    assert line.split()[-4:] == ["52", "53", "66", "14"]  # offset, 1-based start, end, size
    assert "1..99" in result.output and "record length 4087" in result.output
    data = json.loads(run("layout", str(files["cpy"]), "--json").output)
    assert data["record_length"] == 4087
    by_name = {item["name"]: item for item in data["items"]}
    assert by_name["MOD-BALANCE"] == {
        "level": 5,
        "name": "MOD-BALANCE",
        "slack": False,
        "depth": 1,
        "picture": "S9(11)V99",
        "usage": "packed",
        "occurs": None,
        "depending_on": None,
        "redefines": None,
        "offset": 19,
        "size": 7,
    }
    assert by_name["MOD-TRANSACTION"]["depending_on"] == "MOD-TXN-COUNT"


def test_reason_kind_masks_values() -> None:
    assert reason_kind("N", "counter N = 123456789 is not within 0..3") == "N: counter N = … is not within #..#"
    assert "abc" not in reason_kind(None, "value 'abc' refused")


def test_layout_with_copy_members_replacing_and_source_format(tmp_path: Path) -> None:
    members = tmp_path / "members"
    members.mkdir()
    (members / "ADDR.cpy").write_text("           05  :PFX:-CITY    PIC X(20).\n")
    main = tmp_path / "main.cpy"
    main.write_text("       01  REC.\n           05  :PFX:-ID      PIC 9(5).\n           COPY ADDR.\n")
    result = run("layout", str(main), "--copy-dir", str(members), "--replacing", ":PFX:=CUST", "--json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)["items"]
    assert [(i["name"], i["offset"], i["size"]) for i in items] == [
        ("REC", 0, 25),
        ("CUST-ID", 0, 5),
        ("CUST-CITY", 5, 20),
    ]
    free = tmp_path / "free.cpy"
    free.write_text("01 R.\n 05 A PIC X(2).\n 05 B PIC 9(3).\n")
    assert "record length 5" in run("layout", str(free), "--source-format", "free").output
    bad = run("layout", str(free), "--source-format", "columns")
    assert bad.exit_code == 1 and bad.output.startswith("error: unknown source format")
    bad = run("layout", str(main), "--replacing", "nonsense")
    assert bad.exit_code == 1 and "TAG=TEXT" in bad.output


def test_every_usage_to_parquet_matches_jsonl(tmp_path: Path) -> None:
    """Cobrix's type-variety file (37-digit numbers, binary, COMP-1/2, P scaling, edited): same values both ways."""
    pq = pytest.importorskip("pyarrow.parquet")
    case = Path(__file__).resolve().parents[2] / "conformance" / "cobrix" / "case_type_variety"
    args = ["decode", str(case / "INTEGR.TYPES.NOV28.DATA.dat"), "-c", str(case / "test6_copybook.cob")]
    assert run(*args, "-o", str(tmp_path / "t.jsonl")).exit_code == 0
    result = run(*args, "-o", str(tmp_path / "t.parquet"))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.num_rows == len(rows) == 100
    types = {f.name: str(f.type) for f in table.schema}
    assert types["NUM_STR_INT14"].startswith("decimal128") and types["FLOAT_01"] == "double"
    assert types["NUM_STR_INT01"] == "int64" and types["STRING_VAL"] == "string"
    for name in ("NUM_STR_INT14", "NUM_SBIN_DEC10", "NUM_BCD_SDEC10", "COMMON_UPI5DDC", "EX_NUM_DEC01", "ID"):
        got = table.column(name).to_pylist()
        want = [row.get(name) for row in rows]
        assert [None if g is None else str(g) for g in got] == [None if w is None else str(w) for w in want], name
