"""bench/results.py: docs/results.md rendered from raw benchmark lines, on real files in a tmp folder."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from results import ROOT, ResultsError, main, read_results, render

PROV = "transcribed from the README at commit 5af3ee1; raw output not kept"


def line(**fields) -> str:
    base = {"bench": "demo", "date": "2026-11-27", "machine": "2-core CPU, no GPU", "commit": "abc1234",
            "command": "bench/demo.py --size 64"}
    return json.dumps({**base, **fields})


@pytest.fixture()
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "render.jsonl").write_text(
        line(bench="render", title="Renderer speed", size_px=128, images_per_s=824, provenance=PROV) + "\n"
        + line(bench="render", title="Renderer speed", size_px=224, images_per_s=550, provenance=PROV,
             _key="a cache key for the script") + "\n")
    # raw text, so the number keeps the form it was written in
    (folder / "lr-screen.jsonl").write_text(
        '{"bench": "lr_screen", "date": "2026-11-29", "machine": "1 GPU", "commit": "def5678", '
        '"command": "bench/lr_screen.py --lr 2e-3", "lr": 2e-3, "score": 1.01e6, "caveats": "CPU-sized run"}\n'
        "\n")
    return folder


def test_both_files_become_sections_with_their_values_and_provenance(src, tmp_path):
    out = tmp_path / "results.md"
    assert main(["--src", str(src), "--out", str(out)]) == 0
    page = out.read_text()
    assert "## Renderer speed" in page and "## lr-screen" in page  # title, else the file name
    assert "| size_px | images_per_s |" in page and "| 128 | 824 |" in page and "| 224 | 550 |" in page
    assert "_key" not in page and "cache key" not in page  # fields starting with _ are for scripts
    assert f"- provenance: {PROV}" in page
    assert "- command: `bench/demo.py --size 64`" in page and "- machine: 2-core CPU, no GPU" in page
    assert "- command: `bench/lr_screen.py --lr 2e-3`" in page and "- date: 2026-11-29" in page
    assert "| 2e-3 | 1.01e6 |" in page  # numbers exactly as written, not 0.002 / 1010000.0
    assert "- caveat: CPU-sized run" in page
    assert page.index("## lr-screen") < page.index("## Renderer speed")  # files in name order
    assert main(["--src", str(src), "--out", str(out), "--check"]) == 0


def test_check_reports_a_stale_page_and_writes_nothing(src, tmp_path, capsys):
    out = tmp_path / "results.md"
    out.write_text("old\n")
    assert main(["--src", str(src), "--out", str(out), "--check"]) == 1
    assert out.read_text() == "old\n"
    assert "out of date" in capsys.readouterr().err


@pytest.mark.parametrize("bad, problem", [
    ('{"bench": "x", ', "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"bench": "x", "date": "d", "machine": "m", "commit": "c"}', "missing command"),
    ('{"bench": "x", "date": "d", "machine": "m", "commit": "c", "command": "c", "caveats": 3}', "caveats must be"),
])
def test_a_malformed_line_is_named_by_file_and_line(src, tmp_path, capsys, bad, problem):
    path = src / "render.jsonl"
    path.write_text(path.read_text() + bad + "\n")
    out = tmp_path / "results.md"
    assert main(["--src", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:3: {problem}" in err
    assert not out.exists()  # nothing half written
    with pytest.raises(ResultsError, match=f"render.jsonl:3: {problem}"):
        read_results(src)


def test_an_empty_folder_or_file_is_an_error(tmp_path):
    with pytest.raises(ResultsError, match="no \\*.jsonl files"):
        read_results(tmp_path)
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ResultsError, match="empty.jsonl: no result lines"):
        read_results(tmp_path)


def test_the_committed_results_page_is_up_to_date():
    """docs/results.md is what `make results` renders from docs/results/*.jsonl."""
    page = (ROOT / "docs" / "results.md").read_text()
    assert page == render(read_results(ROOT / "docs" / "results"))


def test_the_answers_table_says_what_is_unmeasured_and_flags_unkept_lines():
    from answers import QUESTIONS, answer_rows

    rows = answer_rows({})
    assert [q for q, *_ in rows] == list(QUESTIONS) and all(a == "not measured yet" for _, a, _, _ in rows)
    line = {"bench": "suite", "date": "2026-11-30", "machine": {"cores": 2}, "commit": "abc+uncommitted",
            "command": "x", "figure": "four_arms", "arm": "tpe_prune", "time_ratio_median": 0.4,
            "reached_share": 1.0, "seeds": 5}
    (row,) = [r for r in answer_rows({"suite-small": [line]}) if r[0].startswith("Is TPE faster")]
    assert row[1].startswith("yes: TPE + pruning reached plain Random's final best in 5 of 5 seeds")
    assert "2-core CPU" in row[2] and "[measured on uncommitted code]" in row[2]
