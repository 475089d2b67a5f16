"""The run folder (``--out``): its layout and file names, whose it is, its lock, and writing and
reading its files. It stores; it computes no statistic."""
