"""The PyData stack on ``swift://`` against a real Swift: pandas, xarray (h5netcdf), zarr v3, dask, and
anonymous reads of a public container."""

from __future__ import annotations

import gzip
import os

import dask.dataframe as dd
import distributed
import fsspec
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import FsspecStore

from fsspec_research.swift import SwiftFileSystem
from fsspec_research.swift.auth import Anonymous
from fsspec_research.testing.swift import SwiftServerHandle

FRAME = pd.DataFrame(
    {
        "station": ["Kumpula", "Sodankylä", "Utö", "Kilpisjärvi"],  # non-ASCII survives the round trip
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
        attrs={"title": "swift round trip"},
    )


def url(path: str) -> str:
    return f"swift://{path}"


# pandas


def test_pandas_csv_round_trip_through_swift_urls(swift: SwiftServerHandle, fs: SwiftFileSystem, root: str):
    target = url(f"{root}/tables/stations.csv")
    FRAME.to_csv(target, index=False, storage_options=swift.storage_options)
    assert fs.cat(f"{root}/tables/stations.csv") == FRAME.to_csv(index=False).encode()
    got = pd.read_csv(target, storage_options=swift.storage_options)
    pd.testing.assert_frame_equal(got, FRAME)


def test_pandas_compressed_csv_is_inferred_from_the_name(
    swift: SwiftServerHandle, fs: SwiftFileSystem, root: str
):
    target = url(f"{root}/stations.csv.gz")
    FRAME.to_csv(target, index=False, storage_options=swift.storage_options)
    stored = fs.cat(f"{root}/stations.csv.gz")
    assert stored[:2] == b"\x1f\x8b"  # really gzip on the server
    assert gzip.decompress(stored) == FRAME.to_csv(index=False).encode()
    pd.testing.assert_frame_equal(pd.read_csv(target, storage_options=swift.storage_options), FRAME)


# xarray / netCDF4 (HDF5) through h5netcdf


def test_xarray_netcdf_put_then_open_from_a_file_object(fs: SwiftFileSystem, root: str, tmp_path):
    ds = dataset()
    local = tmp_path / "local.nc"
    ds.to_netcdf(local, engine="h5netcdf")
    fs.put(str(local), f"{root}/nc/put.nc")
    assert fs.cat(f"{root}/nc/put.nc") == local.read_bytes()
    with fs.open(f"{root}/nc/put.nc", "rb") as f, xr.open_dataset(f, engine="h5netcdf") as got:
        got.load()
        xr.testing.assert_identical(got, ds)
        assert got.attrs["title"] == "swift round trip"


def test_xarray_netcdf_bytes_piped_then_opened_by_url(
    swift: SwiftServerHandle, fs: SwiftFileSystem, root: str
):
    ds = dataset()
    fs.pipe(f"{root}/nc/piped.nc", bytes(ds.to_netcdf(engine="h5netcdf")))
    with xr.open_dataset(
        url(f"{root}/nc/piped.nc"), engine="h5netcdf", storage_options=swift.storage_options
    ) as got:
        np.testing.assert_array_equal(
            got["temperature"].isel(time=slice(10, 12)).values, ds["temperature"][10:12]
        )
        got.load()
        xr.testing.assert_identical(got, ds)


# zarr v3 (the async _cat_file / _cat_ranges / _pipe_file paths)


def test_zarr_group_round_trip_by_url(swift: SwiftServerHandle, fs: SwiftFileSystem, root: str):
    target = url(f"{root}/cube.zarr")
    data = np.arange(120 * 70, dtype="f8").reshape(120, 70)
    group = zarr.open_group(target, mode="w", storage_options=swift.storage_options)
    assert group.store.fs.asynchronous  # zarr drives the filesystem through its coroutines
    array = group.create_array("t", shape=data.shape, chunks=(50, 30), dtype="f8", attributes={"unit": "K"})
    array[:] = data
    chunks = [p for p in fs.find(f"{root}/cube.zarr") if "/t/c/" in p]
    assert len(chunks) == 3 * 3  # every chunk is one object (partial edge chunks included)

    reread = zarr.open_group(target, mode="r", storage_options=swift.storage_options)
    np.testing.assert_array_equal(reread["t"][:], data)
    np.testing.assert_array_equal(reread["t"][49:51, 29:31], data[49:51, 29:31])  # across chunk corners
    assert reread["t"].attrs["unit"] == "K"

    # mode="w" again clears the store (zarr's clear: _find withdirs + _rm recursive)
    fresh = zarr.open_group(target, mode="w", storage_options=swift.storage_options)
    assert list(fresh.array_keys()) == []
    fs.invalidate_cache()
    assert not [p for p in fs.find(f"{root}/cube.zarr") if "/t/" in p]


def test_zarr_sharded_array_reads_chunks_by_range(swift: SwiftServerHandle, fs: SwiftFileSystem, root: str):
    """Inside a shard object each chunk is a byte range: zarr reads them with ranged ``_cat_file``."""
    store = FsspecStore.from_url(url(f"{root}/sharded.zarr"), storage_options=swift.storage_options)
    data = np.random.default_rng(3).integers(0, 1000, size=(64, 64), dtype="i4")
    array = zarr.create_array(store, shape=data.shape, chunks=(8, 8), shards=(32, 32), dtype="i4")
    array[:] = data
    shards = [p for p in fs.find(f"{root}/sharded.zarr") if "/c/" in p]
    assert len(shards) == 4
    again = zarr.open_array(
        FsspecStore.from_url(url(f"{root}/sharded.zarr"), storage_options=swift.storage_options)
    )
    np.testing.assert_array_equal(again[3:5, 40:42], data[3:5, 40:42])
    np.testing.assert_array_equal(again[:], data)


def test_zarr_store_partial_values_use_cat_ranges(swift: SwiftServerHandle, fs: SwiftFileSystem, root: str):
    from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest

    blob = bytes(range(256)) * 40
    fs.pipe(f"{root}/raw/blob", blob)
    fs.pipe(f"{root}/raw/small", b"0123456789")
    store = FsspecStore.from_url(url(f"{root}/raw"), storage_options=swift.storage_options, read_only=True)
    proto = default_buffer_prototype()
    requests = [
        ("blob", RangeByteRequest(0, 5)),
        ("blob", RangeByteRequest(1000, 1300)),
        ("small", RangeByteRequest(2, 9)),
        ("blob", OffsetByteRequest(10_000)),
        ("blob", SuffixByteRequest(7)),
        ("blob", None),
        ("missing", RangeByteRequest(0, 1)),
        ("small", RangeByteRequest(8, 20)),  # past the end: what there is, as a file read gives
    ]
    got = sync(store.get_partial_values(proto, requests))
    assert [g if g is None else g.to_bytes() for g in got] == [
        blob[0:5],
        blob[1000:1300],
        b"2345678",
        blob[10_000:],
        blob[-7:],
        blob,
        None,
        b"89",
    ]
    whole = sync(store.get("blob", proto))
    assert whole.to_bytes() == blob
    assert sync(store.get("missing", proto)) is None
    assert sync(store.exists("small")) and not sync(store.exists("missing"))


def test_zarr_store_writes_lists_and_deletes(swift: SwiftServerHandle, fs: SwiftFileSystem, root: str):
    store = FsspecStore.from_url(url(f"{root}/kv"), storage_options=swift.storage_options)
    proto = default_buffer_prototype()
    for key in ("a/zarr.json", "a/c/0", "a/c/1", "b"):
        sync(store.set(key, proto.buffer.from_bytes(key.encode() * 3)))
    assert fs.cat(f"{root}/kv/a/c/1") == b"a/c/1" * 3
    assert sorted(sync(_collect(store.list()))) == ["a/c/0", "a/c/1", "a/zarr.json", "b"]
    assert sorted(sync(_collect(store.list_dir("a")))) == ["c", "zarr.json"]
    assert sorted(sync(_collect(store.list_prefix("a/c")))) == ["a/c/0", "a/c/1"]
    sync(store.delete("a/c/0"))
    fs.invalidate_cache()
    assert not fs.exists(f"{root}/kv/a/c/0") and fs.exists(f"{root}/kv/a/c/1")


async def _collect(aiter) -> list:
    return [x async for x in aiter]


# a public container, read without credentials


def test_public_container_anonymous_reads_and_revoke(
    swift: SwiftServerHandle, fs: SwiftFileSystem, root: str
):
    fs.pipe(f"{root}/x.csv", FRAME.to_csv(index=False).encode())
    fs.pipe(f"{root}/sub/y.bin", b"\x00\x01binary\xff")
    host, account, container = root.split("/")
    assert f"{host}/{account}" == fs._strip_protocol(swift.root)
    anon_options = {"anon": True, "scheme": "http"}

    def anonymous() -> SwiftFileSystem:
        return fsspec.filesystem("swift", skip_instance_cache=True, **anon_options)

    with pytest.raises(PermissionError):  # private until granted
        anonymous().cat(f"{root}/x.csv")

    fs.grant(root, "public")
    assert set(fs.acl(root)["read"]) >= {".r:*", ".rlistings"}
    anon = anonymous()
    assert isinstance(anon.client.auth, Anonymous)
    assert anon.ls(root, detail=False) == [f"{root}/sub", f"{root}/x.csv"]
    assert anon.cat(f"{root}/x.csv") == FRAME.to_csv(index=False).encode()
    assert anon.cat(f"{root}/sub/y.bin") == b"\x00\x01binary\xff"
    got = pd.read_csv(url(f"{root}/x.csv"), storage_options=anon_options)
    pd.testing.assert_frame_equal(got, FRAME)
    # the storage URL form, as a browser or curl would use it
    http_url = f"{swift.storage_url}/{container}/sub/y.bin"
    assert http_url.startswith(f"http://{host}/v1/{account}/")
    assert SwiftFileSystem(skip_instance_cache=True, **anon_options).cat(http_url) == b"\x00\x01binary\xff"
    # the URL's own scheme wins over the https default
    assert SwiftFileSystem(anon=True, skip_instance_cache=True).cat(http_url) == b"\x00\x01binary\xff"
    with anonymous().open(f"{swift.storage_url}/{container}/x.csv", "rb") as f:
        assert pd.read_csv(f).equals(FRAME)
    with pytest.raises(PermissionError):  # public read is not public write
        anon.pipe(f"{root}/intruder.txt", b"nope")

    fs.revoke(root, "public")
    assert fs.acl(root)["read"] == []
    for call in (
        lambda: anonymous().cat(f"{root}/x.csv"),
        lambda: anonymous().ls(root),
        lambda: anon.cat(f"{root}/x.csv"),  # the same instance: nothing cached lets it read on
        lambda: SwiftFileSystem(skip_instance_cache=True, **anon_options).cat(http_url),
        lambda: pd.read_csv(
            url(f"{root}/x.csv"), storage_options={**anon_options, "skip_instance_cache": True}
        ),
    ):
        with pytest.raises(PermissionError):
            call()
    assert fs.cat(f"{root}/x.csv") == FRAME.to_csv(index=False).encode()  # the owner still reads


# dask


def write_parts(fs: SwiftFileSystem, root: str) -> pd.DataFrame:
    """Ten CSV objects of different lengths under ``parts/`` (and one non-CSV); their concatenation."""
    parts = []
    for i in range(10):
        part = pd.DataFrame({"part": [i] * (i + 3), "value": np.arange(i + 3) * 0.5 + i})
        fs.pipe(f"{root}/parts/p{i:02d}.csv", part.to_csv(index=False).encode())
        parts.append(part)
    fs.pipe(f"{root}/parts/readme.txt", b"not a csv")  # the glob must not pick this up
    return pd.concat(parts).sort_values(["part", "value"]).reset_index(drop=True)


def test_dask_read_csv_glob_over_many_objects(swift: SwiftServerHandle, fs: SwiftFileSystem, root: str):
    expected = write_parts(fs, root)
    frame = dd.read_csv(url(f"{root}/parts/*.csv"), storage_options=swift.storage_options)
    assert frame.npartitions == 10
    got = frame.compute().sort_values(["part", "value"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)
    assert int(frame["part"].sum().compute()) == sum(i * (i + 3) for i in range(10))


def test_dask_distributed_workers_in_other_processes(
    swift: SwiftServerHandle, fs: SwiftFileSystem, root: str
):
    """The filesystem is pickled to worker processes, which log in on their own and read their parts."""
    expected = write_parts(fs, root)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        frame = dd.read_csv(url(f"{root}/parts/*.csv"), storage_options=swift.storage_options)
        got = client.compute(frame).result().sort_values(["part", "value"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected)
        pids = client.run(os.getpid)
        assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
