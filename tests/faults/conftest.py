"""The fault test's report goes to the end of pytest's output, so a run without `-s` (CI's)
shows what was injected and when, and what followed."""

import pytest

_REPORTS: list[str] = []


@pytest.fixture
def fault_report():
    """Call with the report's text; it is printed after the test summary."""
    return _REPORTS.append


def pytest_terminal_summary(terminalreporter):
    for text in _REPORTS:
        terminalreporter.write_sep("-", "fault test report")
        terminalreporter.write(text)
