"""Reading demand history CSV files: good rows become a table, bad ones are named."""

import numpy as np
import pytest

from stocksaga import demand_csv


def test_rows_become_a_sku_by_period_table_with_missing_values_kept(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("sku,period_start,qty\nB,2024-02-01,3\nA,2024-01-01,1\nA,2024-02-01,\nB,2024-01-01,0\n")
    table = demand_csv.read(path)
    assert table.skus == ["A", "B"] and [p.isoformat() for p in table.periods] == ["2024-01-01", "2024-02-01"]
    assert table.qty[0, 0] == 1 and np.isnan(table.qty[0, 1]) and list(table.qty[1]) == [0, 3]
    assert table.rejected == []


def test_bad_rows_are_rejected_with_their_line_and_reason(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(
        "sku,period_start,qty\nA,2024-13-01,1\nA,2024-01-01,-2\nA,2024-01-01,x\n,2024-01-01,1\n"
        "A,2024-01-01,1.5\nA,2024-01-01,4\nA,2024-01-01,5\nA\n"
    )
    table = demand_csv.read(path)
    assert [line for line, _ in table.rejected] == [2, 3, 4, 5, 6, 8, 9]
    reasons = dict(table.rejected)
    assert "not a date" in reasons[2] and ">= 0" in reasons[3] and "not a number" in reasons[4]
    assert "sku is empty" in reasons[5] and "whole number" in reasons[6] and "repeats" in reasons[8]
    assert "3 columns" in reasons[9]
    assert table.qty.tolist() == [[4.0]]


def test_a_file_without_the_expected_header_is_refused(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("item,month,units\nA,2024-01-01,1\n")
    with pytest.raises(ValueError, match="header must be sku,period_start,qty"):
        demand_csv.read(path)
