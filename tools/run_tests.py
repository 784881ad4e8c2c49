#!/usr/bin/env python
"""Run every notebook's tests, each in a fresh process, and print `N passed, N failed`.

This is `nbdev_test` with two changes that a TensorFlow project needs: every notebook gets its own
worker process (nbdev reuses workers, so TensorFlow state leaks from one notebook into the next),
and the result is counted per notebook. Cells flagged with `tst_flags` from settings.ini
(`slow`, `notest`) are skipped unless passed with `--flags`.

Thread counts already set in the environment are kept (only missing ones get the defaults below), and so is
`OPENBLAS_CORETYPE`: `OPENBLAS_CORETYPE=Sandybridge OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python tools/run_tests.py ...`
runs the tests under another BLAS kernel and thread count, as CI does for the numerically sensitive chapters. The first
line printed says which BLAS kernel and how many threads numpy and scipy use here (the workers inherit the environment).

    python tools/run_tests.py                 # all notebooks, 2 workers
    python tools/run_tests.py nbs/02_lstm.ipynb --flags slow
"""
import argparse, os, sys, time
from concurrent.futures import ProcessPoolExecutor, as_completed
from configparser import ConfigParser
from pathlib import Path
import multiprocessing as mp

ROOT = Path(__file__).resolve().parent.parent
# Thread settings must come from the environment before TensorFlow is imported in a worker.
for k, v in {'TF_NUM_INTRAOP_THREADS': '2', 'TF_NUM_INTEROP_THREADS': '1', 'TF_CPP_MIN_LOG_LEVEL': '2',
             'OMP_NUM_THREADS': '2', 'MPLBACKEND': 'Agg', 'PYTHONWARNINGS': 'ignore'}.items():
    os.environ.setdefault(k, v)


def blas_info() -> str:
    "One line: the BLAS libraries numpy and scipy load in this environment, with their kernel and thread count."
    import numpy, scipy.linalg  # noqa: F401 -- loads both libraries' BLAS
    from threadpoolctl import threadpool_info
    libs = sorted({(i.get('internal_api'), i.get('version'), i.get('architecture'), i.get('num_threads'))
                   for i in threadpool_info() if i.get('user_api') == 'blas'}, key=str)
    env = ' '.join(f"{k}={os.environ[k]}" for k in ('OPENBLAS_CORETYPE', 'OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS') if k in os.environ)
    return 'BLAS: ' + '; '.join(f"{a} {v}, {arch} kernel, {n} threads" for a, v, arch, n in libs) + f" ({env})"


def _run_one(fn, skip_flags, force_flags):
    from nbdev.test import test_nb
    os.chdir(Path(fn).parent)
    ok, secs = test_nb(Path(fn), skip_flags=skip_flags, force_flags=force_flags, basepath=str(ROOT))
    return fn, ok, secs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('paths', nargs='*', help='notebooks to test (default: all in nbs/)')
    ap.add_argument('--flags', default='', help='space-separated test flags to run anyway, e.g. "slow"')
    ap.add_argument('--workers', type=int, default=2)
    a = ap.parse_args()
    cfg = ConfigParser(); cfg.read(ROOT/'settings.ini')
    skip = cfg['DEFAULT'].get('tst_flags', '').split()
    files = [Path(p).resolve() for p in a.paths] or sorted(
        p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
    print(blas_info(), flush=True)
    t0, results = time.time(), []
    ctx = mp.get_context('spawn')
    with ProcessPoolExecutor(max_workers=a.workers, mp_context=ctx, max_tasks_per_child=1) as ex:
        futs = [ex.submit(_run_one, str(f), skip, a.flags.split()) for f in files]
        for fu in as_completed(futs):
            try: fn, ok, secs = fu.result()
            except Exception as e:  # a worker that died (e.g. killed) counts as a failure
                fn, ok, secs = f'<worker crashed: {e!r}>', False, 0.0
            results.append((fn, ok, secs))
            print(f"{'PASS' if ok else 'FAIL'} {Path(fn).name} ({secs:.0f}s)", flush=True)
    n_ok = sum(ok for _, ok, _ in results)
    print(f"test suite wall time: {time.time()-t0:.0f}s")
    print(f"{n_ok} passed, {len(results)-n_ok} failed")
    sys.exit(0 if n_ok == len(results) else 1)


if __name__ == '__main__':
    main()
