"""A chapter's conclusions as claims its own run checks (medsynth_nb.course.claims)."""
from __future__ import annotations

import json

import pytest

from medsynth_nb.course import results
from medsynth_nb.course.claims import FAILS, HOLDS, UNDECIDED, check_claims, claim


def test_claims_are_judged_on_the_figures_given():
    assert claim("a beats b", 0.9, ">", 0.5).verdict == HOLDS
    assert claim("a beats b", 0.4, ">", 0.5).verdict == FAILS
    assert claim("error falls", 0.1, "<=", 0.1).verdict == HOLDS
    assert claim("no score", float("nan"), ">", 0.5).verdict == UNDECIDED
    assert claim("a beats b", 0.91234, ">", 0.5).evidence == "0.912 > 0.5"
    with pytest.raises(ValueError, match="relation"):
        claim("a beats b", 1, "=>", 0)


def test_check_claims_says_how_many_hold_and_records_the_table(tmp_path, monkeypatch, capsys):
    target = tmp_path / "figures.json"
    monkeypatch.setenv(results.RECORD_ENV, str(target))
    table = check_claims("Chapter 99: what this run shows",
                         [claim("the model beats the lookup", 24.0, ">", 16.0),
                          claim("the lookup beats the model", 24.0, "<", 16.0)])
    assert list(table["verdict"]) == [HOLDS, FAILS]
    said = capsys.readouterr().out
    assert "1 of 2 claims of the text hold for this run" in said and "reference run" in said
    kept = json.loads(target.read_text())["Chapter 99: what this run shows"]["value"]
    assert kept["index"] == ["the model beats the lookup", "the lookup beats the model"]
    assert kept["rows"][1] == ["24 < 16", FAILS]
