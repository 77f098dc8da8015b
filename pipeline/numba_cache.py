"""`python -m pipeline.numba_cache`: compile every numba function the pipeline uses
into numba's cache (NUMBA_CACHE_DIR) once, at install or image build time, instead of in the
first job of each worker process: librosa's beat tracker (the music analysis, ~37 CPU-seconds
to compile) and the comparison's alignment (a few seconds)."""

from __future__ import annotations

from pipeline.analysis import music
from pipeline.compare import alignment


def main() -> None:
    music.warm_up()
    alignment.warm_up()


if __name__ == "__main__":
    main()
