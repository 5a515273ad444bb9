"""The PyData stack through ``s3r://`` and through ``parallel::s3://`` (plain s3fs behind the range core),
against moto: pandas (CSV, Parquet), xarray (netCDF4 via h5netcdf) and zarr v3 round trips."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import fsspec
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

from fsspec_research.core.file import ResearchFile
from fsspec_research.parallel import ParallelFileSystem
from fsspec_research.s3 import ResearchS3FileSystem
from fsspec_research.testing import S3ServerHandle

FRAME = pd.DataFrame(
    {
        "station": ["Kumpula", "Sodankylä", "Utö", "Kilpisjärvi"],
        "t": [4.25, -11.5, 6.0, -17.75],
        "n": [10, 20, 30, 40],
    }
)


def dataset() -> xr.Dataset:
    rng = np.random.default_rng(5)
    return xr.Dataset(
        {
            "temperature": (("time", "lat"), rng.normal(size=(48, 30))),
            "flag": (("time",), np.arange(48, dtype="i4")),
        },
        coords={"time": np.arange(48), "lat": np.linspace(60.0, 70.0, 30)},
        attrs={"title": "s3 round trip"},
    )


@pytest.fixture(params=["s3r", "parallel::s3"])
def target(request, s3: S3ServerHandle) -> Iterator[tuple[str, dict, fsspec.AbstractFileSystem]]:
    """A URL prefix, the storage_options for it, and its filesystem (for checks)."""
    prefix = f"{s3.bucket}/stack-{uuid.uuid4().hex[:8]}"
    if request.param == "s3r":
        options = dict(s3.storage_options)
        fs = fsspec.filesystem("s3r", skip_instance_cache=True, **options)
        assert isinstance(fs, ResearchS3FileSystem)
    else:
        options = {"s3": dict(s3.s3fs_options)}
        fs, _ = fsspec.core.url_to_fs(f"parallel::s3://{prefix}", **options)
        assert isinstance(fs, ParallelFileSystem) and type(fs.fs).__name__ == "S3FileSystem"
    yield f"{request.param}://{prefix}", options, fs
    fs.invalidate_cache()
    if fs.exists(prefix):
        fs.rm(prefix, recursive=True)


def test_pandas_csv_round_trip(target) -> None:
    url, options, _ = target
    FRAME.to_csv(f"{url}/stations.csv", index=False, storage_options=options)
    with fsspec.open(f"{url}/stations.csv", "rb", **options) as f:
        assert isinstance(f, ResearchFile)  # reads go through the range core
        assert f.read() == FRAME.to_csv(index=False).encode()
    pd.testing.assert_frame_equal(pd.read_csv(f"{url}/stations.csv", storage_options=options), FRAME)


def test_pandas_parquet_round_trip(target) -> None:
    url, options, _ = target
    frame = pd.DataFrame({"x": np.arange(10_000), "y": np.linspace(0, 1, 10_000)})
    frame.to_parquet(f"{url}/table.parquet", storage_options=options)
    got = pd.read_parquet(f"{url}/table.parquet", storage_options=options, columns=["y"])
    pd.testing.assert_frame_equal(got, frame[["y"]])


def test_xarray_netcdf_round_trip(target, tmp_path) -> None:
    url, options, _ = target
    ds = dataset()
    local = tmp_path / "local.nc"
    ds.to_netcdf(local, engine="h5netcdf")
    with fsspec.open(f"{url}/nc/data.nc", "wb", **options) as f:
        f.write(local.read_bytes())
    with xr.open_dataset(f"{url}/nc/data.nc", engine="h5netcdf", storage_options=options) as got:
        np.testing.assert_array_equal(
            got["temperature"].isel(time=slice(10, 12)).values, ds["temperature"][10:12]
        )
        got.load()
        xr.testing.assert_identical(got, ds)
    with fsspec.open(f"{url}/nc/data.nc", "rb", **options) as f, xr.open_dataset(f, engine="h5netcdf") as got:
        xr.testing.assert_identical(got.load(), ds)


def test_zarr_round_trip(target) -> None:
    url, options, fs = target
    data = np.arange(120 * 70, dtype="f8").reshape(120, 70)
    group = zarr.open_group(f"{url}/cube.zarr", mode="w", storage_options=options)
    assert group.store.fs.async_impl and group.store.fs.asynchronous
    array = group.create_array("t", shape=data.shape, chunks=(50, 30), dtype="f8", attributes={"unit": "K"})
    array[:] = data
    fs.invalidate_cache()
    assert len([p for p in fs.find(url.split("://", 1)[1] + "/cube.zarr") if "/t/c/" in p]) == 9
    reread = zarr.open_group(f"{url}/cube.zarr", mode="r", storage_options=options)
    np.testing.assert_array_equal(reread["t"][:], data)
    np.testing.assert_array_equal(reread["t"][49:51, 29:31], data[49:51, 29:31])
    assert reread["t"].attrs["unit"] == "K"


def test_zarr_sharded_partial_reads(target) -> None:
    url, options, _ = target
    data = np.random.default_rng(3).integers(0, 1000, size=(64, 64), dtype="i4")
    array = zarr.create_array(
        f"{url}/sharded.zarr",
        shape=data.shape,
        chunks=(8, 8),
        shards=(32, 32),
        dtype="i4",
        storage_options=options,
    )
    array[:] = data
    again = zarr.open_array(f"{url}/sharded.zarr", mode="r", storage_options=options)
    np.testing.assert_array_equal(again[3:5, 40:42], data[3:5, 40:42])
    np.testing.assert_array_equal(again[:], data)
