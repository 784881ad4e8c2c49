#!/usr/bin/env python
"""Run every benchmark in `bench/` on this machine; write `bench/results.json` and `bench/results.md`.

    python bench/run.py            # full sizes (tens of minutes on 2 cores)
    python bench/run.py --smoke    # tiny sizes, seconds: what the test suite runs so the scripts cannot rot

Each `bench/bench_*.py` prints one JSON object (its figures) on stdout and accepts `--smoke`.
Peers used only for comparison (e.g. `lifetimes`) come from `pip install -e ".[bench]"`.
"""
import argparse, json, os, platform, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def flatten(d, prefix=''):
    "Nested dict -> [(dotted key, value)] for the markdown table."
    out = []
    for k, v in d.items():
        key = f'{prefix}{k}'
        if isinstance(v, dict): out += flatten(v, key + '.')
        else: out.append((key, v))
    return out


def fmt(v):
    if isinstance(v, float): return f'{v:.4g}'
    if isinstance(v, (list, tuple)): return ', '.join(fmt(x) for x in v)
    return str(v)


def to_markdown(res):
    lines = [f"Benchmarks run {res['started']} on {res['machine']} ({res['cpus']} cores), "
             f"{'smoke sizes' if res['smoke'] else 'full sizes'}; load average at start {res['loadavg']}.", '',
             '| benchmark | figure | value |', '|---|---|---|']
    for name, r in res['benchmarks'].items():
        for k, v in flatten(r):
            lines.append(f'| {name} | {k} | {fmt(v)} |')
    return '\n'.join(lines) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--smoke', action='store_true')
    ap.add_argument('--only', nargs='*', help='benchmark names (e.g. bench_lstm)')
    ap.add_argument('--out-dir', default=str(HERE))
    a = ap.parse_args()
    env = {**os.environ, 'TF_NUM_INTRAOP_THREADS': '2', 'TF_NUM_INTEROP_THREADS': '1', 'TF_CPP_MIN_LOG_LEVEL': '2'}
    res = {'started': time.strftime('%Y-%m-%d %H:%M:%S'), 'machine': platform.platform(),
           'cpus': os.cpu_count(), 'loadavg': [round(x, 2) for x in os.getloadavg()], 'smoke': a.smoke,
           'benchmarks': {}}
    failed = []
    for script in sorted(HERE.glob('bench_*.py')):
        if a.only and script.stem not in a.only: continue
        t0 = time.time()
        cmd = [sys.executable, str(script)] + (['--smoke'] if a.smoke else [])
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        secs = time.time() - t0
        print(f"{script.stem}: exit {p.returncode} in {secs:.0f}s", file=sys.stderr, flush=True)
        try:
            out = json.loads(p.stdout.strip().splitlines()[-1] if p.stdout.strip().startswith('{') is False
                             else p.stdout)
        except (json.JSONDecodeError, IndexError):
            out = None
        if p.returncode != 0 or not isinstance(out, dict):
            failed.append(script.stem)
            res['benchmarks'][script.stem] = {'error': (p.stderr.strip().splitlines() or ['no output'])[-1]}
            continue
        out['wall_s'] = round(secs, 1)
        res['benchmarks'][script.stem] = out
    od = Path(a.out_dir); od.mkdir(parents=True, exist_ok=True)
    suffix = '_smoke' if a.smoke else ''
    (od/f'results{suffix}.json').write_text(json.dumps(res, indent=1) + '\n')
    (od/f'results{suffix}.md').write_text(to_markdown(res))
    print(to_markdown(res))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
