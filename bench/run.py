#!/usr/bin/env python
"""Run every benchmark in `bench/` on this machine; write `bench/results.json` and `bench/results.md`.

    python bench/run.py                        # full sizes (about 25 minutes on 2 cores)
    python bench/run.py --smoke                # tiny sizes, a minute or two: what the test suite runs (no peers needed)
    python bench/run.py --smoke --jobs 2       # the same, two scripts at a time (smoke only)
    python bench/run.py --only bench_lstm,bench_serve   # rerun some scripts, merge them into the existing results

Each `bench/bench_*.py` accepts `--smoke` and prints one JSON object (its figures) on stdout; they run one after
the other (never in parallel: they would compete for the 2 cores). Peers used only for comparison (`lifetimes`)
come from `pip install -e ".[bench]"`; without them the peer comparisons are skipped and the JSON says so.
`results.json` records, per script, its figures, wall time, exit status and the load average when it started;
at the top, the run's start time, total wall time and load average at start. `results.md` holds the targets table
(every figure with a target, grouped by the area it measures, and whether it is met) and then every figure.
"""
import argparse, json, os, platform, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Run order: quick targeted figures first, the longest (the deep model's training) last, so an interrupted run
# (results.json is rewritten after every script, `complete: false` until the end) still holds most targets.
ORDER = ['bench_data', 'bench_lstm', 'bench_baselines', 'bench_scale', 'bench_serve', 'bench_evaluate', 'bench_spark', 'bench_deep']

# Every figure with a target: (area of the package it measures, what, JSON path(s) tried in order, comparison, target, unit).
# A path is 'script:key.key...'; the first one present is used. `None` comparison = reported, no numeric target.
TARGETS = [
    ('data', 'CDNOW (69,659 lines) -> summary + input tensors (active-week sequences)', ['bench_data:cdnow_summary_plus_tensors_s.median'], '<', 1, 's'),
    ('scale', '~10M simulated lines (1M customers) -> input tensors (active-week sequences), time',
     ['bench_scale:tensors.by_size.1000000.time_s.median'], '<', 60, 's'),
    ('scale', '~10M simulated lines (1M customers) -> input tensors (active-week sequences), peak memory',
     ['bench_scale:tensors.by_size.1000000.process_peak_gb'], '<', 8, 'GB'),
    ('data', 'summary speed vs lifetimes on CDNOW (wall, median ratio)', ['bench_data:vs_lifetimes.speedup_wall_median'], '>=', 10, 'x'),
    ('data', 'summary speed vs lifetimes on CDNOW (CPU, median ratio)', ['bench_data:vs_lifetimes.speedup_cpu_median'], '>=', 10, 'x'),
    ('scale', 'summary speed vs lifetimes on ~10M simulated lines', ['bench_scale:lifetimes.speedup_median.1000000'], '>=', 10, 'x'),
    ('lstm', 'one incremental LSTM step (64 units, 10 inputs), median', ['bench_lstm:step_us.median'], '<', 50, 'us'),
    ('lstm', 'lstm_forward, 23,570 x 39 x 10, 64 units (best of 3)', ['bench_lstm:forward.numpy_s'], '<', 2, 's'),
    ('lstm', 'lstm_forward speed vs Keras LSTM forward (Keras / NumPy)', ['bench_lstm:forward.keras_over_numpy'], '>=', 1, 'x'),
    ('baselines', 'BG/NBD fit on CDNOW vs lifetimes.BetaGeoFitter (lifetimes / ours)',
     ['bench_baselines:bgnbd_cdnow.speed_ratio_lifetimes_over_ours'], '>=', 1, 'x'),
    ('baselines', 'BG/NBD parameters vs lifetimes, max relative difference', ['bench_baselines:bgnbd_cdnow.max_rel_param_diff'], '<=', 1e-3, ''),
    ('baselines', 'BG/NBD fit on 1M simulated customers', ['bench_baselines:bgnbd_sim.fit_s'], '<', 30, 's'),
    ('evaluate', '`clv_nb evaluate` on full CDNOW (all models and plots, single run)',
     ['bench_evaluate:results_by_case.cdnow.wall_s'], '<', 300, 's'),
    ('evaluate', '`clv_nb evaluate` on ~1M lines / 30k customers (single run)', ['bench_evaluate:results_by_case.sim_1m.wall_s'],
     '<', 600, 's'),
    ('deep model', 'deep model fit on full CDNOW (single run)', ['bench_deep:cdnow.fit_s'], None, None, 's'),
    ('deep model', 'deep model predict on full CDNOW (median of 5)', ['bench_deep:cdnow.predict_s.median'], None, None, 's'),
    ('serving', 'in-process incremental update, p99', ['bench_serve:in_process.update_p99_ms'], '<', 1, 'ms'),
    ('serving', 'HTTP open loop 500 events/s for 60 s, p99', ['bench_serve:http_open_loop.p99_ms'], '<', 20, 'ms'),
    ('serving', 'HTTP open loop, errors', ['bench_serve:http_open_loop.errors'], '==', 0, ''),
    ('serving', 'batch scoring throughput on the default bundle', ['bench_serve:batch.customers_per_s'], '>=', 25_000, 'customers/s'),
    ('benchmark', 'whole benchmark run, wall time', [':total_wall_s'], '<', 1800, 's'),
]


def lookup(res, path):
    "Value at 'script:a.b.c' in a results dict (':a.b' for a top-level key), or None."
    script, _, keys = path.partition(':')
    v = res.get('benchmarks', {}).get(script) if script else res
    for k in keys.split('.'):
        if not isinstance(v, dict) or k not in v: return None
        v = v[k]
    return v


def target_rows(res):
    "One dict per target: area, figure, measured value, target, whether met (None: not measured or no target)."
    ops = {'<': lambda a, b: a < b, '<=': lambda a, b: a <= b, '>=': lambda a, b: a >= b, '==': lambda a, b: a == b}
    rows = []
    for area, what, paths, op, tgt, unit in TARGETS:
        val, src = None, paths[0]
        for p in paths:
            v = lookup(res, p)
            if isinstance(v, (int, float)) and not isinstance(v, bool): val, src = v, p; break
        met = None if val is None or op is None else bool(ops[op](val, tgt))
        rows.append(dict(area=area, figure=what, value=val, unit=unit, target=None if op is None else f'{op} {tgt:g}',
                         met=met, source=src))
    return rows


def flatten(d, prefix=''):
    "Nested dict -> [(dotted key, value)] for the markdown table."
    out = []
    for k, v in d.items():
        key = f'{prefix}{k}'
        if isinstance(v, dict): out += flatten(v, key + '.')
        else: out.append((key, v))
    return out


def fmt(v):
    if isinstance(v, bool) or v is None: return str(v)
    if isinstance(v, float): return f'{v:.4g}'
    if isinstance(v, (list, tuple)): return ', '.join(fmt(x) for x in v)
    return str(v).replace('|', '\\|')


def targets_markdown(res):
    mark = {True: 'yes', False: '**no**', None: '—'}
    lines = ['| area | figure | measured | target | met |', '|---|---|---|---|---|']
    for r in target_rows(res):
        v = r['value']
        num = f'{v:,.0f}' if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) >= 1000 else fmt(v)
        val = 'not measured' if v is None else f"{num} {r['unit']}".strip()
        lines.append(f"| {r['area']} | {r['figure']} | {val} | {r['target'] or 'none set'} | {mark[r['met']]} |")
    return '\n'.join(lines)


def to_markdown(res):
    lines = [f"Benchmarks run {res['started']} on {res['machine']} ({res['cpus']} cores), "
             f"{'smoke sizes' if res['smoke'] else 'full sizes'}; load average at start {res['loadavg']}; "
             f"total wall time {res.get('total_wall_s', '?')} s; peers: {res.get('peers')}.", '',
             '## Targets', '', targets_markdown(res), '', '## Every figure', '',
             '| benchmark | figure | value |', '|---|---|---|']
    for name, r in res['benchmarks'].items():
        for k, v in flatten(r):
            lines.append(f'| {name} | {k} | {fmt(v)} |')
    return '\n'.join(lines) + '\n'


def index_cases(out):
    "Lists of dicts that each name their `case` are also given as `<key>_by_case` ({case: dict}), so paths can reach them."
    for k, v in list(out.items()):
        if isinstance(v, list) and v and all(isinstance(x, dict) and 'case' in x for x in v):
            out[f'{k}_by_case'] = {str(x['case']): x for x in v}
        elif isinstance(v, dict): index_cases(v)
    return out


def parse_json(text):
    "The script's JSON object: the whole stdout, or the last object that starts a line and runs to the end."
    text = text.strip()
    try: return json.loads(text)
    except json.JSONDecodeError: pass
    starts = [i for i, ch in enumerate(text) if ch == '{' and (i == 0 or text[i-1] == '\n')]
    for i in starts:
        try: return json.loads(text[i:])
        except json.JSONDecodeError: continue
    return None


def peers():
    try:
        import lifetimes
        return f'lifetimes {lifetimes.__version__}'
    except ImportError:
        return 'lifetimes not importable: peer comparisons skipped (pip install -e ".[bench]")'


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--smoke', action='store_true', help='tiny sizes (what the test suite runs)')
    ap.add_argument('--only', help='comma-separated script names (bench_lstm or lstm); merged into the existing results')
    ap.add_argument('--jobs', type=int, default=1, help='with --smoke only: run this many scripts at once')
    ap.add_argument('--out-dir', default=str(HERE))
    a = ap.parse_args()
    if a.jobs > 1 and not a.smoke: sys.exit('run.py: --jobs is for --smoke only (full-size benchmarks must not compete for the cores)')
    env = {**os.environ, 'TF_NUM_INTRAOP_THREADS': '2', 'TF_NUM_INTEROP_THREADS': '1', 'TF_CPP_MIN_LOG_LEVEL': '2',
           'PYTHONWARNINGS': 'ignore'}
    scripts = sorted(HERE.glob('bench_*.py'), key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else len(ORDER), p.stem))
    only = None
    if a.only:
        only = {n if n.startswith('bench_') else f'bench_{n}' for n in a.only.replace(' ', ',').split(',') if n}
        unknown = only - {s.stem for s in scripts}
        if unknown: sys.exit(f"run.py: unknown benchmark(s) {sorted(unknown)}; have {[s.stem for s in scripts]}")
        scripts = [s for s in scripts if s.stem in only]
    od = Path(a.out_dir); od.mkdir(parents=True, exist_ok=True)
    suffix = '_smoke' if a.smoke else ''
    jpath = od/f'results{suffix}.json'
    t_start = time.time()
    run = {'started': time.strftime('%Y-%m-%d %H:%M:%S'), 'machine': platform.platform(), 'cpus': os.cpu_count(),
           'loadavg': [round(x, 2) for x in os.getloadavg()], 'smoke': a.smoke, 'peers': peers()}
    if only and jpath.exists():   # merge: keep the earlier run's other scripts, note what was rerun and when
        res = json.loads(jpath.read_text())
        res.setdefault('reruns', []).append({**run, 'scripts': sorted(only)})
    else:
        res = {**run, 'benchmarks': {}, 'complete': False}
    write = lambda: (jpath.write_text(json.dumps(res, indent=1) + '\n'), (od/f'results{suffix}.md').write_text(to_markdown(res)))
    failed = []

    def launch(script):
        load = [round(x, 2) for x in os.getloadavg()]
        t0 = time.time()
        cmd = [sys.executable, str(script)] + (['--smoke'] if a.smoke else [])
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        return script, p, time.time() - t0, load

    if a.jobs > 1:   # smoke only (checked above): figures are not timings then, only that every script still works
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(a.jobs) as ex: done = list(ex.map(launch, scripts))
    else: done = (launch(s) for s in scripts)
    for script, p, secs, load in done:
        print(f"{script.stem}: exit {p.returncode} in {secs:.0f}s", file=sys.stderr, flush=True)
        out = parse_json(p.stdout)
        if p.returncode != 0 or not isinstance(out, dict):
            failed.append(script.stem)
            err = [l for l in p.stderr.strip().splitlines() if l.strip()] or ['no output']
            out = {'error': err[-1][:300]}
        out = index_cases(out)
        out.update(wall_s=round(secs, 1), exit=p.returncode, loadavg_at_start=load, run_at=time.strftime('%Y-%m-%d %H:%M:%S'))
        res['benchmarks'][script.stem] = out
        write()
    if not only:
        res['total_wall_s'] = round(time.time() - t_start, 1); res['complete'] = True
    write()
    print(targets_markdown(res))
    if failed: print(f'failed: {failed}', file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
