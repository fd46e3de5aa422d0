"""The pip-audit wrapper of .ci/run: what counts as clean, as a finding, and as "nothing could be audited"."""

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "ci_audit", Path(__file__).resolve().parent.parent / ".ci" / "audit.py"
)
audit = importlib.util.module_from_spec(_spec)
sys.modules["ci_audit"] = audit  # dataclasses look their module up while the file runs
_spec.loader.exec_module(audit)


def _dep(name, version="1.0", vulns=()):
    return {"name": name, "version": version, "vulns": list(vulns)}


def _vuln(ident, aliases=(), fixes=("2.0",)):
    return {"id": ident, "aliases": list(aliases), "fix_versions": list(fixes), "description": "..."}


def test_a_clean_report_passes_and_says_how_many_were_audited():
    verdict = audit.judge({"dependencies": [_dep("django"), _dep("celery")]}, {})
    assert verdict.code == 0
    assert verdict.lines == ["pip-audit: 2 dependencies audited, no known vulnerability"]


def test_the_project_itself_installed_editable_is_not_a_gap():
    report = {
        "dependencies": [_dep("django"), {"name": "wiser", "skip_reason": "distribution marked as editable"}]
    }
    verdict = audit.judge(report, {})
    assert verdict.code == 0
    assert verdict.lines == ["pip-audit: 1 dependencies audited, no known vulnerability"]


def test_a_vulnerability_fails_the_run_and_names_the_fix():
    report = {
        "dependencies": [_dep("django", "5.2.1", [_vuln("PYSEC-2025-1", fixes=("5.2.2",))]), _dep("celery")]
    }
    verdict = audit.judge(report, {})
    assert verdict.code == 1
    assert "  django 5.2.1: PYSEC-2025-1 (fixed in 5.2.2)" in verdict.lines


def test_a_documented_exception_matches_by_id_or_alias_and_a_stale_one_is_reported():
    report = {"dependencies": [_dep("django", "5.2.1", [_vuln("PYSEC-2025-1", aliases=("CVE-2025-9",))])]}
    verdict = audit.judge(report, {"CVE-2025-9": "not reachable here", "GHSA-old": "fixed long ago"})
    assert verdict.code == 0
    assert (
        verdict.lines[0]
        == "pip-audit: 1 dependencies audited, no known vulnerability outside 1 documented exceptions"
    )
    assert any("GHSA-old matches nothing any more" in line for line in verdict.lines)


def test_a_dependency_that_could_not_be_checked_fails_when_others_were():
    report = {
        "dependencies": [
            _dep("django"),
            {"name": "private-lib", "skip_reason": "Dependency not found on PyPI"},
        ]
    }
    verdict = audit.judge(report, {})
    assert verdict.code == 1
    assert "  private-lib: Dependency not found on PyPI" in verdict.lines


def test_nothing_audited_at_all_is_said_loudly_not_called_clean():
    report = {
        "dependencies": [
            {"name": n, "skip_reason": f"Dependency not found on PyPI and could not be audited: {n} (1)"}
            for n in ("a", "b")
        ]
    }
    verdict = audit.judge(report, {})
    assert verdict.code == 0
    assert verdict.lines[0].startswith("pip-audit: NOTHING AUDITED - none of 2 dependencies could be checked")
    assert "no known vulnerability" not in " ".join(verdict.lines)


def test_exceptions_need_a_reason():
    assert audit.read_exceptions("# comment\n\nGHSA-1  only in the admin we do not ship  # note\n") == {
        "GHSA-1": "only in the admin we do not ship"
    }
    with pytest.raises(ValueError, match="line 1: GHSA-2 needs a reason"):
        audit.read_exceptions("GHSA-2\n")
