"""B3: a NetCDF4 hyperslab through xarray + h5netcdf, over the HTTP transport and WAN model of B1/B2.

The file looks like daily model output: ``tas(time, lat, lon)`` float32, 256 days on a 512 x 512
grid, HDF5-chunked ``(1, 256, 256)`` (256 KiB chunks, four per day), zlib off, so the file is
256 MiB and the bytes moved are not blurred by inflate CPU time; ``time``, ``lat`` and ``lon`` are
contiguous float64 coordinate variables, which xarray's h5netcdf writer puts after the data, at the
end of the file. It is written once per run, seeded, into the server's temporary directory.

The hyperslab is a contiguous time range: 26 consecutive days of the whole grid (10.2 % of the
data), the "load one month of global fields" access. Its chunks lie one after another in the file,
so the reader sees HDF5 metadata reads (superblock, object headers, coordinates) at both ends of
the file, then 104 back-to-back 256 KiB chunk reads with chunk B-tree node reads among them. (A
10 % spatial box over all days would read at least one chunk per day, one in every 1 MiB of the
file, so every 4 MiB block: any whole-block cache then moves the whole file.)
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .harness import CaseReport, MiB, run_alternating

if TYPE_CHECKING:
    from .http_cases import HTTPBench

NAME = "model_tas_daily.nc"
SHAPE = (256, 512, 512)  #: time, lat, lon
CHUNKS = (1, 256, 256)
SUBSET = slice(115, 141)  #: 26 of 256 days


def make_netcdf(path: Path, seed: int = 42) -> None:
    """Write the B3 file (deterministic for a seed): a seasonal climatology plus noise."""
    import xarray as xr

    nt, ny, nx = SHAPE
    lat = np.linspace(-90 + 90 / ny, 90 - 90 / ny, ny)
    lon = np.arange(nx) * (360 / nx)
    days = np.arange(nt, dtype="f8")
    sin_lat = np.sin(np.deg2rad(lat))
    data = np.random.default_rng(seed).standard_normal(SHAPE, dtype=np.float32)
    data *= 2
    data += (288 - 40 * sin_lat**2)[:, None].astype("f4") + 3 * np.cos(np.deg2rad(lon)).astype("f4")
    data += (10 * np.sin(2 * np.pi * days / 365.25)[:, None, None] * sin_lat[None, :, None]).astype("f4")
    ds = xr.Dataset(
        {"tas": (("time", "lat", "lon"), data, {"units": "K", "long_name": "near-surface air temperature"})},
        coords={
            "time": ("time", days, {"units": "days since 2000-01-01", "calendar": "standard"}),
            "lat": ("lat", lat, {"units": "degrees_north"}),
            "lon": ("lon", lon, {"units": "degrees_east"}),
        },
        attrs={"title": "fsspec-research B3 synthetic daily model output"},
    )
    tmp = path.with_suffix(".tmp")
    ds.to_netcdf(tmp, engine="h5netcdf", encoding={"tas": {"chunksizes": CHUNKS, "zlib": False}})
    tmp.replace(path)


def ensure_netcdf(directory: str | Path) -> Path:
    """The B3 file in ``directory`` (the server's temporary directory), written once."""
    path = Path(directory) / NAME
    if not path.exists():
        make_netcdf(path)
    return path


def load_subset(f) -> np.ndarray:
    """What a user does: open with xarray's h5netcdf engine, select the hyperslab, load it."""
    import xarray as xr

    with xr.open_dataset(f, engine="h5netcdf") as ds:
        return ds["tas"].isel(time=SUBSET).values


class _TracedFile(io.FileIO):
    """A local file recording the ``(offset, length)`` of every read h5py makes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "r")
        self.reads: list[tuple[int, int]] = []

    def readinto(self, buffer) -> int:
        pos = self.tell()
        n = super().readinto(buffer)
        self.reads.append((pos, n or 0))
        return n

    def read(self, size: int = -1) -> bytes:
        pos = self.tell()
        data = super().read(size)
        self.reads.append((pos, len(data)))
        return data


def trace_reads(path: Path) -> list[tuple[int, int]]:
    """The reads of :func:`load_subset` on the local file, in order."""
    with _TracedFile(path) as f:
        load_subset(f)
        return f.reads


def case_b3(bench: HTTPBench, reps: int, block: int = 4 * MiB) -> CaseReport:
    path = ensure_netcdf(bench.server.directory)
    url = f"{bench.net.url('http')}/{NAME}"
    with open(path, "rb") as f:
        expected = load_subset(f)
    reads = trace_reads(path)
    size = path.stat().st_size
    touched = {b for pos, n in reads if n for b in range(pos // block, (pos + n - 1) // block + 1)}
    floor = sum(min(size, (b + 1) * block) - b * block for b in touched)  # whole-block caches move this

    def reader(fs, cache_type: str | None):
        options = (
            {"block_size": block} if cache_type is None else {"block_size": block, "cache_type": cache_type}
        )

        def run() -> np.ndarray:
            with fs.open(url, "rb", **options) as f:
                return load_subset(f)

        return run

    candidate = "parallel:: blockcache"
    runners = {
        candidate: reader(bench.parallel, "blockcache"),
        "parallel:: default cache (no cache_type)": reader(bench.parallel, None),
        "fsspec http blockcache (xarray default)": reader(bench.http, "blockcache"),
        "fsspec http readahead": reader(bench.http, "readahead"),
    }
    results = run_alternating(
        "B3", runners, bench.counters, reps, candidate, lambda out: np.array_equal(out, expected)
    )
    cand, base = results[0], results[2]
    speedup, byte_ratio = base.median / cand.median, cand.bytes_moved / base.bytes_moved
    met = "met" if speedup >= 2 and byte_ratio <= 0.5 else "MISSED"
    return CaseReport(
        "B3",
        f"xarray h5netcdf, {SUBSET.stop - SUBSET.start} of {SHAPE[0]} days",
        results,
        expected.nbytes,
        None,
        ">= 2x faster and <= 0.5x bytes moved vs fsspec http blockcache (xarray default), 4 MiB blocks",
        [
            f"{size / MiB:.0f} MiB NetCDF4 file, tas{SHAPE} float32, chunks {CHUNKS}, no zlib; hyperslab "
            f"time[{SUBSET.start}:{SUBSET.stop}] x all lat/lon (10 %) is contiguous chunks",
            f"goal {met}: {speedup:.1f}x faster, {byte_ratio:.2f}x the bytes moved of fsspec blockcache; "
            f"the hyperslab alone is {expected.nbytes / base.bytes_moved:.2f}x those bytes",
            f"h5py makes {len(reads)} reads of {sum(n for _, n in reads) / MiB:.1f} MiB on the local file, "
            f"in {len(touched)} of {-(-size // block)} blocks of {block // MiB} MiB: a whole-block cache "
            f"moves at least {floor / MiB:.1f} MiB",
            "both parallel:: rows use the parallel block cache (blockcache is served by it)",
            "no latency limit: h5py's reads are serial and data-dependent (metadata, then chunks)",
        ],
    )
