"""The label review's shared parts (tasks/label_review.py): the folds; each problem type's review is tested in
tests/n21/test_label_review.py and tests/n2n/test_label_review.py."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def flip(table: pa.Table, column: str, rows: np.ndarray, values) -> pa.Table:
    data = table.column(column).to_pylist()
    for i in rows:
        data[i] = values(data[i])
    return table.set_column(
        table.schema.get_field_index(column), column, pa.array(data, table.schema.field(column).type)
    )


def test_folds_fall_back_to_plain_k_fold_for_rare_classes():
    from tasks.label_review import folds_for

    labels = np.array([0] * 20 + [1])
    folds = folds_for(labels, 10, 0)
    assert len(folds) == 10 and sorted(np.concatenate([held for _, held in folds]).tolist()) == list(range(21))
