"""The PyData stack on ``pfs://`` URLs: pandas, xarray (h5netcdf), zarr v3 and dask."""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
import pandas as pd
import xarray as xr
import zarr

FRAME = pd.DataFrame(
    {"image": ["a.png", "b.png", "c.png"], "cells": [120, 98, 143], "score": [0.5, 0.25, 0.75]}
)


def test_pandas_csv_round_trip(pfs, fs, root):
    url = f"pfs://{root}/tables/cells.csv"
    FRAME.to_csv(url, index=False, storage_options=pfs.storage_options)
    pd.testing.assert_frame_equal(pd.read_csv(url, storage_options=pfs.storage_options), FRAME)


def test_xarray_netcdf_round_trip(pfs, fs, root, tmp_path):
    ds = xr.Dataset(
        {"intensity": (("t", "y"), np.random.default_rng(1).normal(size=(40, 20)))},
        coords={"t": np.arange(40), "y": np.arange(20)},
    )
    ds.to_netcdf(tmp_path / "x.nc", engine="h5netcdf")
    fs.put(str(tmp_path / "x.nc"), f"{root}/x.nc")
    with xr.open_dataset(f"pfs://{root}/x.nc", engine="h5netcdf", storage_options=pfs.storage_options) as got:
        xr.testing.assert_identical(got.load(), ds)


def test_zarr_round_trip_pinned_to_a_commit(pfs, fs, repo, root):
    data = np.arange(60 * 30, dtype="i4").reshape(60, 30)
    group = zarr.open_group(f"pfs://{root}/stack.zarr", mode="w", storage_options=pfs.storage_options)
    group.create_array("img", shape=data.shape, chunks=(20, 15), dtype="i4")[:] = data
    commit = fs.resolve(root)
    pinned = zarr.open_group(
        f"pfs://{repo}@{commit}/stack.zarr", mode="r", storage_options=pfs.storage_options
    )
    np.testing.assert_array_equal(pinned["img"][:], data)


def test_dask_reads_many_files(pfs, fs, root):
    fs.pipe({f"{root}/parts/{i}.csv": FRAME.assign(cells=FRAME["cells"] + i).to_csv(index=False).encode()
             for i in range(5)})  # fmt: skip
    ddf = dd.read_csv(f"pfs://{root}/parts/*.csv", storage_options=pfs.storage_options)
    assert ddf.npartitions == 5
    assert ddf["cells"].sum().compute(scheduler="threads") == sum(
        FRAME["cells"].sum() + 3 * i for i in range(5)
    )


def test_dask_distributed_workers_in_other_processes(pfs, fs, root):
    """The filesystem is pickled to worker processes, which open their own gRPC channels."""
    import os

    import distributed

    fs.pipe({f"{root}/dist/{i}.csv": FRAME.assign(cells=FRAME["cells"] * i).to_csv(index=False).encode()
             for i in range(4)})  # fmt: skip
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        ddf = dd.read_csv(f"pfs://{root}/dist/*.csv", storage_options=pfs.storage_options)
        assert int(client.compute(ddf["cells"].sum()).result()) == sum(
            int(FRAME["cells"].sum()) * i for i in range(4)
        )
        pids = client.run(os.getpid)
        assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
