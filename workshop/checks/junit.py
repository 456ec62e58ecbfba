"""JUnit XML, as CI systems read it: one test suite, one test case per check."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Case", "junit_suite"]


@dataclass(frozen=True)
class Case:
    classname: str
    name: str
    outcome: str  # "passed", "failed" or "skipped"
    message: str = ""
    details: str = ""


def junit_suite(name: str, cases: Iterable[Case]) -> str:
    cases = list(cases)
    suite = ElementTree.Element(
        "testsuite",
        name=name,
        tests=str(len(cases)),
        failures=str(sum(case.outcome == "failed" for case in cases)),
        skipped=str(sum(case.outcome == "skipped" for case in cases)),
    )
    for case in cases:
        element = ElementTree.SubElement(
            suite, "testcase", classname=case.classname, name=case.name
        )
        if case.outcome == "failed":
            ElementTree.SubElement(element, "failure", message=case.message).text = case.details
        elif case.outcome == "skipped":
            ElementTree.SubElement(element, "skipped", message=case.message)
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True)
