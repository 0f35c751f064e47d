"""Bulk jobs over the Arrow path: `healthscore rescore` (docs/rescore.md).

`sources` reads accounts (Parquet, CSV, JSON Lines) in record batches, `convert` turns them into the
core's Arrow input by catalog type, `dedupe` finds duplicate ids across batches and files, `sinks`
writes results and rejected rows atomically, `rulesets` fetches the ruleset (data directory or
gRPC), `rescore` runs the local engine and `dask_engine` the same job on a Dask cluster.
"""
