"""hanflow's benchmark, apart from the product: it is not in the wheel and runs from the project checkout.

- quality.py: `hanflow bench`, the real-data entries (overlays/*.yaml, loaded by overlays.py) over several
  seeds, each next to a baseline built on the same split (baselines.py), with mean ± sd over seeds and paired
  bootstrap intervals (stats.py); reports/bench.json and bench.md (report.py).
- perf.py, perf_parts.py: `hanflow bench --perf`, the pipeline's performance figures (reports/perf.json, perf.md).
- train_perf.py: N21 training throughput, length-bucketed batches against padded ones (reports/train_perf.json).

It uses the product's public functions only. `python -m bench` is `hanflow bench`.
"""
