"""Runs cloud-volume for test_precomputed_cloudvolume.py in a process of its own.

cloud-volume imports gevent and the cloud SDKs, which patch and start things a test process
must not inherit, so it runs here:

    python _cloudvolume_worker.py JOBS.json RESULTS.json

JOBS holds ``write`` jobs (an ``info`` to commit and one ``.npy`` file per scale, each
written whole) and ``read`` jobs (read one scale whole into an ``.npy`` file). RESULTS maps
each job's ``id`` to ``"ok"`` or the error it raised, so one failing job fails one test.
"""

from __future__ import annotations

import itertools
import json
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from cloudvolume import CloudVolume


def write(job: dict[str, Any]) -> None:
    url = f"file://{job['path']}"
    CloudVolume(url, info=job["info"], progress=False).commit_info()
    for mip, data_file in enumerate(job["data"]):
        volume = CloudVolume(url, mip=mip, compress=job.get("compress", False), progress=False)
        data = np.load(data_file)
        if job.get("shard_boxes"):
            # cloud-volume writes a shard whole or not at all: one write per shard, which
            # the identity hash makes a box of chunks.
            write_shard_boxes(volume, mip, data)
        else:  # one write (a sharded scale must then be one shard)
            volume[volume.bounds] = data


def write_shard_boxes(volume: Any, mip: int, data: np.ndarray[Any, Any]) -> None:
    box = np.asarray(volume.image.shard_shape(mip)).astype(int)
    offset = np.asarray(volume.bounds.minpt)
    size = np.asarray(data.shape[:3])
    for index in itertools.product(*[range(-(-extent // side)) for extent, side in zip(size, box, strict=True)]):
        start = np.asarray(index) * box
        stop = np.minimum(start + box, size)
        target = tuple(slice(int(a), int(b)) for a, b in zip(offset + start, offset + stop, strict=True))
        volume[target] = data[tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))]


def read(job: dict[str, Any]) -> None:
    volume = CloudVolume(f"file://{job['path']}", mip=job["mip"], progress=False)
    np.save(job["out"], np.asarray(volume[volume.bounds]))


def main(jobs_file: str, results_file: str) -> None:
    jobs = json.loads(Path(jobs_file).read_text())
    results = {}
    for kind, run in (("write", write), ("read", read)):
        for job in jobs[kind]:
            try:
                run(job)
                results[job["id"]] = "ok"
            except Exception:
                results[job["id"]] = traceback.format_exc()
    Path(results_file).write_text(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:])
