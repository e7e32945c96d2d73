"""Arrow arrays without pyarrow's pandas check: the same values and types as ``pa.array``, and the archive
job's Parquet steps (window table, file, read back, staged columns) run in a process that never imports
pandas."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from feefifofunds.store import arrow

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("values, kind", [
    (np.arange(5, dtype=np.int64), None),
    (np.array([3, -1, 7], dtype=np.int32), None),
    (np.array([1, 0], dtype=np.int8), None),
    (np.linspace(0.5, 2.5, 4), None),
    (np.arange(3, dtype=np.int64) * 1_000_000, pa.timestamp("us", tz="UTC")),
    (np.arange(10, dtype=np.int64)[::3], None),  # not contiguous: copied once
    (np.array([], dtype=np.int16), None),
])
def test_array_equals_pyarrow(values, kind):
    ours = arrow.array(values, kind)
    assert ours.equals(pa.array(values, kind))
    assert arrow.to_numpy(ours).tolist() == pa.array(values, kind).to_numpy().tolist()


def test_to_numpy_of_chunks_slices_and_timestamps():
    chunked = pa.chunked_array([arrow.array(np.arange(3)), arrow.array(np.arange(10, 12))])
    assert arrow.to_numpy(chunked).tolist() == [0, 1, 2, 10, 11]
    assert arrow.to_numpy(arrow.array(np.arange(8)).slice(5, 2)).tolist() == [5, 6]
    times = arrow.to_numpy(arrow.array(np.array([0, 60_000_000]), pa.timestamp("us", tz="UTC")))
    assert times.dtype == np.dtype("datetime64[us]") and times[1] == np.datetime64(60, "s")


def test_refused_shapes():
    with pytest.raises(TypeError, match="bits wide"):
        arrow.array(np.arange(3, dtype=np.int32), pa.timestamp("us"))
    with pytest.raises(TypeError, match="numeric"):
        arrow.array(np.array(["a"]))
    with pytest.raises(TypeError, match="without nulls"):
        arrow.to_numpy(pa.nulls(2, pa.int64()))


def test_strings():
    assert arrow.strings(["USD", "", "EUR€"]).equals(pa.array(["USD", "", "EUR€"], pa.string()))
    assert arrow.strings([]).equals(pa.array([], pa.string()))


def test_parquet_steps_never_import_pandas(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        import numpy as np, polars as pl, pyarrow as pa
        from feefifofunds.store import arrow, parquet_import
        n = 1000
        rows = pl.DataFrame({{
            "time": 1_700_000_000 + 60 * np.arange(n, dtype=np.int64), "open": np.ones(n), "high": np.ones(n),
            "low": np.ones(n), "close": np.ones(n), "volume": np.ones(n),
            "asset_id": np.full(n, 3, np.int32), "interval_minutes": np.full(n, 1, np.int32),
            "quote_code": np.zeros(n, np.int16)}})
        table = parquet_import.window_table(rows, ["USD"], "kraken")
        parquet_import.write_parquet(table, {str(tmp_path / "w.parquet")!r})
        back = arrow.read_parquet({str(tmp_path / "w.parquet")!r})
        assert back.num_rows == n and back.column("quote_currency").to_pylist()[0] == "USD"
        order = np.argsort(arrow.to_numpy(back.column("time")))[::-1]
        assert back.take(arrow.array(order)).column("asset_id").to_pylist()[0] == 3
        assert "pandas" not in sys.modules, "pandas was imported"
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
