"""The PyData stack on ``irods://`` URLs: pandas, xarray (h5netcdf), zarr v3 and dask."""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
import pandas as pd
import xarray as xr
import zarr

FRAME = pd.DataFrame(
    {
        "sample": ["Åbo-1", "Jyväskylä-2", "Oulu-3", "Tórshavn-4"],
        "od600": [0.125, 0.5, 0.75, 1.25],
        "n": [1, 2, 3, 4],
    }
)


def url(path: str) -> str:
    return f"irods://{path}"


def dataset() -> xr.Dataset:
    rng = np.random.default_rng(7)
    return xr.Dataset(
        {"signal": (("time", "channel"), rng.normal(size=(64, 16))), "flag": (("time",), np.arange(64))},
        coords={"time": np.arange(64), "channel": np.arange(16)},
        attrs={"title": "irods round trip"},
    )


def test_pandas_csv_round_trip(irods, fs, root):
    target = url(f"{root}/tables/run1.csv")
    FRAME.to_csv(target, index=False, storage_options=irods.storage_options)
    assert fs.cat_file(f"{root}/tables/run1.csv") == FRAME.to_csv(index=False).encode()
    pd.testing.assert_frame_equal(pd.read_csv(target, storage_options=irods.storage_options), FRAME)


def test_xarray_netcdf_round_trip(irods, fs, root, tmp_path):
    ds = dataset()
    ds.to_netcdf(tmp_path / "local.nc", engine="h5netcdf")
    fs.put(str(tmp_path / "local.nc"), f"{root}/nc/run.nc")
    with fs.open(f"{root}/nc/run.nc", "rb") as f, xr.open_dataset(f, engine="h5netcdf") as got:
        np.testing.assert_array_equal(got["signal"].isel(time=slice(5, 9)).values, ds["signal"][5:9])
        got.load()
        xr.testing.assert_identical(got, ds)
    with xr.open_dataset(
        url(f"{root}/nc/run.nc"), engine="h5netcdf", storage_options=irods.storage_options
    ) as got:
        xr.testing.assert_identical(got.load(), ds)


def test_zarr_group_round_trip(irods, fs, root):
    target = url(f"{root}/cube.zarr")
    data = np.arange(90 * 40, dtype="f8").reshape(90, 40)
    group = zarr.open_group(target, mode="w", storage_options=irods.storage_options)
    array = group.create_array("t", shape=data.shape, chunks=(30, 20), dtype="f8", attributes={"unit": "K"})
    array[:] = data
    assert len([p for p in fs.find(f"{root}/cube.zarr") if "/t/c/" in p]) == 3 * 2
    reread = zarr.open_group(target, mode="r", storage_options=irods.storage_options)
    np.testing.assert_array_equal(reread["t"][:], data)
    np.testing.assert_array_equal(reread["t"][29:31, 19:21], data[29:31, 19:21])
    assert reread["t"].attrs["unit"] == "K"


def test_dask_reads_many_files(irods, fs, root):
    for i in range(6):
        part = FRAME.assign(n=FRAME["n"] + 10 * i)
        fs.pipe(f"{root}/parts/p{i}.csv", part.to_csv(index=False).encode())
    ddf = dd.read_csv(url(f"{root}/parts/p*.csv"), storage_options=irods.storage_options)
    assert ddf.npartitions == 6
    total = ddf["n"].sum().compute(scheduler="threads")
    assert total == sum(FRAME["n"].sum() + 4 * 10 * i for i in range(6))


def test_dask_distributed_workers_in_other_processes(irods, fs, root):
    """50 CSV files read by worker processes, to which the filesystem is pickled; each logs in itself."""
    import os

    import distributed

    fs.pipe(
        {
            f"{root}/dist/p{i:02d}.csv": FRAME.assign(n=FRAME["n"] * i).to_csv(index=False).encode()
            for i in range(50)
        }
    )
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        ddf = dd.read_csv(url(f"{root}/dist/*.csv"), storage_options=irods.storage_options)
        assert ddf.npartitions == 50
        assert int(client.compute(ddf["n"].sum()).result()) == sum(
            int(FRAME["n"].sum()) * i for i in range(50)
        )
        pids = client.run(os.getpid)
        assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
