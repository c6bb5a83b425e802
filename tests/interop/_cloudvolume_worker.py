"""Runs cloud-volume for test_precomputed_cloudvolume.py in a process of its own.

cloud-volume imports gevent and the cloud SDKs, which patch and start things a test process
must not inherit, so it runs here:

    python _cloudvolume_worker.py JOBS.json RESULTS.json

JOBS holds ``write`` jobs (an ``info`` to commit and one ``.npy`` file per scale, each
written whole) and ``read`` jobs (read one scale whole into an ``.npy`` file). RESULTS maps
each job's ``id`` to ``"ok"`` or the error it raised, so one failing job fails one test.
"""

from __future__ import annotations

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
        # A whole scale is one write; a sharded scale must then be a single shard, as
        # cloud-volume writes a shard whole or not at all.
        volume[volume.bounds] = np.load(data_file)


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
