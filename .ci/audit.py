"""pip-audit over the project's installed dependencies, strict about what it could not check.

Usage: .venv/bin/python .ci/audit.py [--report FILE]   (run by .ci/run and `make audit`)

pip-audit exits 0 with "No known vulnerabilities found" even when it skipped every dependency because no
vulnerability service answered; this wrapper reads its JSON report instead and decides:

- a known vulnerability not in .ci/pip-audit-exceptions.txt (one "ID  reason" per line) fails the run;
- an exception that no longer matches anything is reported, so the list does not go stale unnoticed;
- a dependency pip-audit could not check fails the run, unless no dependency at all could be checked
  (no vulnerability service reachable, as on the sandboxed CI machine: the per-version PyPI JSON answers
  404 and api.osv.dev does not resolve); then it says loudly that nothing was audited and exits 0, because
  that is a fact about the machine, not about the dependencies. docs/security.md records it.

Exit codes: 0 clean (or nothing could be audited, said so), 1 vulnerabilities or partial coverage,
2 pip-audit itself failed to run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXCEPTIONS = ROOT / ".ci" / "pip-audit-exceptions.txt"
EDITABLE = "distribution marked as editable"


@dataclass
class Verdict:
    code: int
    lines: list[str] = field(default_factory=list)


def read_exceptions(text: str) -> dict[str, str]:
    """`ID  reason` per line; blank lines and # comments ignored; a reason is required."""
    exceptions = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        ident, _, reason = line.partition(" ")
        if not reason.strip():
            raise ValueError(f"line {number}: {ident} needs a reason after the id")
        exceptions[ident] = reason.strip()
    return exceptions


def judge(report: dict, exceptions: dict[str, str]) -> Verdict:
    """The verdict on pip-audit's JSON report (`--format json`)."""
    # The project itself, installed editable, is left out on purpose (--skip-editable).
    dependencies = [
        d for d in report.get("dependencies", []) if not d.get("skip_reason", "").startswith(EDITABLE)
    ]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = [d for d in dependencies if not d.get("skip_reason")]
    lines: list[str] = []
    if dependencies and not audited:
        reasons = sorted({d["skip_reason"].split(":")[0] for d in skipped})
        return Verdict(
            0,
            [
                f"pip-audit: NOTHING AUDITED - none of {len(dependencies)} dependencies could be checked "
                f"({'; '.join(reasons)}). No vulnerability service answers from this machine; "
                "see docs/security.md (Static analysis and dependencies).",
            ],
        )
    found, used = [], set()
    for dependency in audited:
        for vuln in dependency.get("vulns", []):
            ids = {vuln["id"], *vuln.get("aliases", [])}
            excepted = ids & exceptions.keys()
            if excepted:
                used |= excepted
                continue
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            found.append(f"  {dependency['name']} {dependency['version']}: {vuln['id']} (fixed in {fixes})")
    code = 0
    if found:
        code = 1
        lines += ["pip-audit: known vulnerabilities:", *found]
    if skipped:
        code = 1
        lines += ["pip-audit: could not check:", *(f"  {d['name']}: {d['skip_reason']}" for d in skipped)]
    for ident in sorted(exceptions.keys() - used):
        lines.append(
            f"pip-audit: the exception {ident} matches nothing any more; remove it from {EXCEPTIONS.name}"
        )
    if code == 0:
        lines.insert(
            0,
            f"pip-audit: {len(audited)} dependencies audited, no known vulnerability"
            + (f" outside {len(used)} documented exceptions" if used else ""),
        )
    return Verdict(code, lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="keep pip-audit's JSON report here")
    args = parser.parse_args()
    exceptions = read_exceptions(EXCEPTIONS.read_text() if EXCEPTIONS.exists() else "")
    with tempfile.TemporaryDirectory() as tmp:
        report_path = args.report or Path(tmp) / "pip-audit.json"
        command = [
            sys.executable,
            "-m",
            "pip_audit",
            "--path",
            sysconfig.get_paths()["purelib"],
            "--skip-editable",
            "--progress-spinner",
            "off",
            "--timeout",
            "20",
            "--format",
            "json",
            "--output",
            str(report_path),
        ]
        run = subprocess.run(command, capture_output=True, text=True)  # noqa: S603 - our own interpreter and arguments
        if not report_path.exists():
            print(run.stdout, run.stderr, sep="\n", file=sys.stderr)
            print("pip-audit: did not run (see its output above)", file=sys.stderr)
            return 2
        report = json.loads(report_path.read_text())
    verdict = judge(report, exceptions)
    print("\n".join(verdict.lines))
    return verdict.code


if __name__ == "__main__":
    sys.exit(main())
