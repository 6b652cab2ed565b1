"""The benchmark's fused table alone (bench.fused_table, full size: (4096, 1024), two threads,
the full run's rounds and blocks, its heap settings), every form: what the dead-unit monitor
costs on bias_act as a watched LinearAct runs it (act_stats with the bias) and on the whole
watched LinearAct. Run from the repository root: python <this file> > fused_table.md"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))
import bench  # noqa: E402

bench.warm_allocations()
rows, md = bench.fused_table(["cpu"], 2, 11, 0.02, list(bench.FUSED_ACTS))
print(md)
