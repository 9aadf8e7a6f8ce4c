"""Write the bundled synthetic population (run from the repository root).

    python data/make_data.py            # seed 2007, the bundled files
    python data/make_data.py --seed 5   # another draw (same calibrated 2006 figures)

Writes ``register.parquet``, ``quarterly.parquet`` and ``metadata.json`` into the
package's data folder ``survey/datasets/data/`` (shipped in the wheel and found with
``importlib.resources``). ``size_thresholds.csv`` there is a
hand-written code list and is read, not written. Generation is deterministic
given the seed (see ``survey.datasets.generate_population``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from survey.datasets import DEFAULT_SEED, generate_population  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--n-firms", type=int, default=34000)
    parser.add_argument("--output", type=Path, default=HERE.parent / "survey" / "datasets" / "data")
    args = parser.parse_args(argv)

    population = generate_population(seed=args.seed, n_firms=args.n_firms)
    args.output.mkdir(parents=True, exist_ok=True)
    options = {"index": False, "compression": "zstd", "compression_level": 19}
    population.register.to_parquet(args.output / "register.parquet", **options)
    population.quarterly.to_parquet(args.output / "quarterly.parquet", **options)
    (args.output / "metadata.json").write_text(
        json.dumps(population.metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    for name in ("register.parquet", "quarterly.parquet", "metadata.json"):
        size = (args.output / name).stat().st_size
        print(f"wrote {args.output / name} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
