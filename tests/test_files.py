"""Output files are replaced whole or not at all; a failed write keeps the previous file."""
from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

from covsev_tools import files


class Unwritable(pd.DataFrame):
    """A table whose CSV writing dies half-way, like a run killed or a full disk."""

    @property
    def _constructor(self):  # copies (e.g. the spreadsheet-safe one) keep the failing writer
        return Unwritable

    def to_csv(self, path, **kwargs):
        with open(path, "w") as fh:
            fh.write("case_id,score\nc1,")
        raise OSError(28, "No space left on device")


def test_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "predictions.csv"
    files.write_csv_atomic(pd.DataFrame({"case_id": ["c1"], "score": [3.5]}), target)
    with pytest.raises(OSError, match="No space"):
        files.write_csv_atomic(Unwritable({"case_id": ["c2"]}), target)
    assert target.read_text() == "case_id,score\nc1,3.5\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.csv"]


def test_text_and_npy_keep_their_exact_names(tmp_path):
    files.write_text_atomic(tmp_path / "mapping.json", "{}\n")
    files.save_npy_atomic(np.arange(6, dtype=np.float32).reshape(2, 3), tmp_path / "features.npy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.npy", "mapping.json"]
    np.testing.assert_array_equal(np.load(tmp_path / "features.npy"), [[0, 1, 2], [3, 4, 5]])
    assert (tmp_path / "mapping.json").read_text() == "{}\n"


def test_docstring_example():
    result = doctest.testmod(files)
    assert result.failed == 0 and result.attempted > 0


def test_symlink_target_is_replaced_and_permissions_kept(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    files.write_text_atomic(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    assert (real.stat().st_mode & 0o777) == 0o640


def test_a_pipe_is_written_directly(tmp_path):
    import os
    import threading

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_text()))
    reader.start()
    files.write_text_atomic(pipe, "streamed\n")  # e.g. --out /dev/stdout
    reader.join(timeout=10)
    assert received == ["streamed\n"] and pipe.is_fifo()


def test_two_writers_of_one_path_use_different_temporaries(tmp_path):
    target = tmp_path / "out.txt"
    with files.replaced_atomically(target) as first, files.replaced_atomically(target) as second:
        assert first != second
        first.write_text("first")
        second.write_text("second")
    assert target.read_text() == "first"  # the outer block finishes last and wins
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
