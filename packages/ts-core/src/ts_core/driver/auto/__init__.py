"""The ``auto`` driver: opens whatever format a kvstore holds, found by detection plugins.

A format says how it is recognised with an ``auto_detect`` record (see ``docs/urls.md``):
a directory format names files whose presence marks it (``all_files_present`` is the
usual matcher), a single-file format a matcher of the file's first and last bytes.
"""

from ._detect import DetectedFormat, all_files_present, detect_format

__all__ = ["DetectedFormat", "all_files_present", "detect_format"]
