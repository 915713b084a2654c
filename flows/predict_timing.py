"""Time to the first prediction: a fresh `hanflow predict --model M "text"` process, as a user starts it.

Most of a one-text predict is the start (Python, torch, the model, the tagger), not the prediction, so this
is the figure a user waits for. The benchmark calls `time_to_first_prediction` per problem type.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def time_to_first_prediction(
    problem: str, model_dir: str | Path, text: str, repeats: int = 1, timeout: float = 300.0
) -> float:
    """Seconds from starting `hanflow predict --problem P --model M TEXT` to its first output line (the median
    of `repeats` fresh processes); raises RuntimeError when the command fails."""
    script = Path(sys.executable).parent / "hanflow"  # the console script a user runs, when installed
    start = [str(script)] if script.is_file() else [sys.executable, "-m", "flows.cli"]
    command = [*start, "predict", "--problem", problem, "--model", str(model_dir), text]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    times = []
    for _ in range(max(1, int(repeats))):
        started = time.perf_counter()
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8"
        )
        try:
            first = proc.stdout.readline()
            elapsed = time.perf_counter() - started
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise RuntimeError(f"hanflow predict --problem {problem} ran past {timeout:.0f} s") from None
        if proc.returncode != 0 or not first.strip():
            raise RuntimeError(
                f"hanflow predict --problem {problem} --model {model_dir} failed "
                f"(exit {proc.returncode}): {err.strip().splitlines()[-1:] or 'no output'}"
            )
        times.append(elapsed)
    return statistics.median(times)


if __name__ == "__main__":  # python -m flows.predict_timing PROBLEM MODEL_DIR TEXT [REPEATS]
    problem, model_dir, text = sys.argv[1:4]
    seconds = time_to_first_prediction(problem, model_dir, text, int(sys.argv[4]) if len(sys.argv) > 4 else 3)
    print(f"{problem}: {seconds:.2f} s to the first prediction")
