"""The run folder (``--out``): its layout and file names, whose it is, its lock, and writing and
reading its files. It stores; it computes no statistic."""

from .. import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "RunPaths": ".layout",
        "check_owned": ".folder",
        "clear_run": ".folder",
        "locked": ".lock",
        "Units": ".units",
        "write_unit": ".units",
        "write_header": ".records",
        "Thumbnails": ".records",
    },
)
