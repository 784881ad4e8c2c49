#!/usr/bin/env python
"""Run notebooks in full mode (not `IN_TEST`, slow cells included) and store their outputs in place.

The stored outputs are what the documentation shows, so they must come from this run.

    python tools/run_full.py                       # every notebook in nbs/
    python tools/run_full.py nbs/03_baselines.ipynb
    python tools/run_full.py --scrub-only          # clean the stored outputs without running anything
"""
import argparse, os, re, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


FRAMEWORK_LOG = re.compile(r'^([EIWF]0000 \d\d:\d\d:[\d.]+ +\d+ [\w.]+:\d+\] |WARNING:tensorflow:|WARNING: All log messages before absl::InitializeLog\(\))')   # TensorFlow's log lines (C++ absl format, its start-up line, Python logger)


TEMP_DIR = re.compile(re.escape(tempfile.gettempdir().rstrip('/')) + r'/tmp\w{8}/')   # a `tempfile.TemporaryDirectory` of a cell: its random name would change with every run


LIBRARY_WARNING = re.compile(r'^\S*/site-packages/\S+:\d+: \w*Warning: ')   # a library's warning about itself (file:line: XWarning: ...)


def _drop_lines(lines: list) -> list:
    "The lines that are not framework noise: TensorFlow's log lines, and a library's warning with the source line Python prints under it."
    kept, skip_source = [], False
    for l in lines:
        if skip_source and l.startswith('  '): skip_source = False; continue
        skip_source = bool(LIBRARY_WARNING.match(l))
        if not (skip_source or FRAMEWORK_LOG.match(l)): kept.append(l)
    return kept


def drop_framework_log(nb, root: Path = ROOT) -> int:
    """Remove framework noise from the stream outputs (the number of lines removed), and write paths inside the repository
    relative to it and paths inside a cell's temporary folder relative to that folder (the docs must not show the machine
    the notebook ran on, and a re-run must not change an output by a random folder name)."""
    n = 0
    for c in nb.cells:
        keep = []
        for o in c.get('outputs', []):
            if o.get('output_type') == 'stream':
                lines = o['text'].splitlines(keepends=True)
                kept = _drop_lines(lines)
                n += len(lines) - len(kept)
                if not kept: continue
                o['text'] = TEMP_DIR.sub('', ''.join(kept).replace(str(root) + '/', ''))
            keep.append(o)
        if c.cell_type == 'code': c.outputs = keep
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('paths', nargs='*')
    ap.add_argument('--timeout', type=int, default=1200, help='seconds per cell')
    ap.add_argument('--scrub-only', action='store_true', help='only clean the stored outputs (framework noise, machine paths), run nothing')
    a = ap.parse_args()
    import nbformat
    from nbclient import NotebookClient
    env_defaults = {'TF_NUM_INTRAOP_THREADS': '2', 'TF_NUM_INTEROP_THREADS': '1', 'TF_CPP_MIN_LOG_LEVEL': '3'}
    for k, v in env_defaults.items(): os.environ.setdefault(k, v)
    os.environ.pop('IN_TEST', None)
    os.environ['MPLBACKEND'] = 'module://matplotlib_inline.backend_inline'   # always inline: under Agg (CI's) no figure would be stored
    files = [Path(p).resolve() for p in a.paths] or sorted(
        p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
    failed = []
    if a.scrub_only:
        for f in files:
            nb = nbformat.read(f, as_version=4)
            before = [c.get('outputs') for c in nb.cells if c.cell_type == 'code'].__repr__()
            drop_framework_log(nb)
            if [c.get('outputs') for c in nb.cells if c.cell_type == 'code'].__repr__() != before: nbformat.write(nb, f); print(f"scrubbed {f.name}")
        subprocess.run([str(Path(sys.executable).parent/'nbdev_clean')], cwd=ROOT, check=True)
        return
    for f in files:
        t0 = time.time()
        nb = nbformat.read(f, as_version=4)
        try:
            NotebookClient(nb, timeout=a.timeout, kernel_name='python3',
                           resources={'metadata': {'path': str(f.parent)}}).execute()
        except Exception as e:
            failed.append(f.name)
            print(f"FAIL {f.name} after {time.time()-t0:.0f}s: {str(e).splitlines()[-1] if str(e) else e!r}",
                  flush=True)
            continue
        drop_framework_log(nb)
        nbformat.write(nb, f)
        print(f"ran {f.name} in full mode in {time.time()-t0:.0f}s", flush=True)
    subprocess.run([str(Path(sys.executable).parent/'nbdev_clean')], cwd=ROOT, check=True)
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
