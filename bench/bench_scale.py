#!/usr/bin/env python
"""Scale benchmark: data preparation and the BG/NBD fit at 10k -> 100k -> 1M simulated customers, time and peak memory.

    python bench/bench_scale.py            # 10k, 100k, 1M customers (~10 lines each: the 1M log has ~10M lines)
    python bench/bench_scale.py --smoke    # 2k and 5k customers, every stage in this one process, a few seconds
    python bench/bench_scale.py --sizes 10000,100000 --out f.json

Every (stage, size) runs in its own child process (this script with `--child STAGE N`), so peak memory is that
stage's alone: the child builds its input, returns freed heap to the OS (`malloc_trim`), resets the kernel's resident-set high-water mark
(`/proc/self/clear_refs`), runs the stage, and reports `VmHWM` minus the resident set before the stage
(`extra_peak_gb`) next to the whole process's peak (`process_peak_gb`, input included). Stages:

- `summary`: `clv_nb.features.summarize` (frequency, recency, T, monetary_value) on the simulated log
  (`clv_nb.data.simulate_transactions(n, seed=0, lines_per_tx=3)`, calibration end 2021-06-30);
- `tensors`: `clv_nb.features.week_sequences` on the same log (the deep model's input tensors);
- `lifetimes`: the peer, `lifetimes.utils.summary_data_from_transaction_data(freq='D')` on the calibration part of
  the same log, timed against our `summarize` on the same frame in the same process, with an identity check of
  frequency/recency/T (skipped and said so when `lifetimes` is not importable);
- `bgnbd`: `clv_nb.baselines.BetaGeo().fit` on a summary drawn from known BG/NBD parameters
  (`sample_bgnbd_summary(n, daily=True)`), with the fitted parameters and the number of unique rows it fits.

Timing: one warm-up call, then the median (with min and max) of 5 timed calls if the warm-up took under 1 s,
3 if under 10 s, 2 if under 60 s; a stage slower than 60 s is reported as its single (warm-up) run with `single_run: true`.
Growth: the log-log slope of time and of extra memory against customers, over all sizes and over the last
segment (the largest two sizes, where fixed costs no longer hide the trend); `linear` is said when the last
segment's slope is within 0.85-1.15.
"""
import argparse, json, os, re, subprocess, sys, time, warnings
import numpy as np

END = '2021-06-30'


def _release():
    "Return freed heap to the OS (glibc `malloc_trim`), so the resident set before a stage holds live data only."
    import ctypes, gc
    gc.collect()
    try: ctypes.CDLL('libc.so.6').malloc_trim(0)
    except OSError: pass


def _status(key):
    return int(re.search(rf'{key}:\s+(\d+)', open('/proc/self/status').read()).group(1)) / 1e6  # kB -> GB


def timed(f):
    "Warm-up call, then median/min/max of repeats (5 if < 1 s, 3 if < 10 s, 2 if < 60 s; beyond: single run, flagged)."
    t0 = time.perf_counter(); f(); first = time.perf_counter() - t0
    reps = 5 if first < 1 else 3 if first < 10 else 2 if first < 60 else 0
    if not reps: return dict(median=first, min=first, max=first, repeats=1, single_run=True)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return dict(median=float(np.median(ts)), min=float(min(ts)), max=float(max(ts)), repeats=reps, single_run=False)


def child(stage, n):
    "Run one stage at one size in this process; return its figures."
    warnings.simplefilter('ignore')
    out = {'stage': stage, 'customers': n}
    if stage in ('summary', 'tensors', 'lifetimes'):
        from clv_nb.data import simulate_transactions
        from clv_nb.features import summarize, week_sequences
        t0 = time.perf_counter()
        log, _ = simulate_transactions(n, seed=0, lines_per_tx=3.0)
        out.update(lines=len(log), simulate_s=time.perf_counter() - t0,
                   input_gb=float(log.memory_usage(deep=True).sum() / 1e9))
        if stage == 'lifetimes':
            try:
                import lifetimes
                from lifetimes.utils import summary_data_from_transaction_data
            except ImportError as e:
                return {**out, 'skipped': f'lifetimes not importable ({e}); peer comparison skipped'}
            log = log[log.date <= END]
            out['calibration_lines'] = len(log)
            peer = lambda: summary_data_from_transaction_data(log, 'customer_id', 'date', monetary_value_col='amount',
                                                              observation_period_end=END, freq='D')
            ours = lambda: summarize(log, END)
            _release(); base = _status('VmRSS'); open('/proc/self/clear_refs', 'w').write('5')
            out['peer'] = f'lifetimes {lifetimes.__version__} summary_data_from_transaction_data'
            out['lifetimes_s'] = timed(peer)
            out['lifetimes_extra_peak_gb'] = _status('VmHWM') - base
            out['ours_s'] = timed(ours)
            out['speedup_median'] = out['lifetimes_s']['median'] / out['ours_s']['median']
            L, S = peer(), ours()
            L = L.loc[S.index]
            out['identical_frequency_recency_T'] = bool(
                (L.frequency.to_numpy() == S.frequency.to_numpy()).all()
                and np.allclose(L.recency.to_numpy() / 7, S.recency.to_numpy())
                and np.allclose(L['T'].to_numpy() / 7, S['T'].to_numpy()))
            out['process_peak_gb'] = _status('VmHWM')
            return out
        f = (lambda: summarize(log, END)) if stage == 'summary' else (lambda: week_sequences(log, END))
    elif stage == 'bgnbd':
        from clv_nb.baselines import BetaGeo, sample_bgnbd_summary
        s = sample_bgnbd_summary(n, seed=0, daily=True)
        fr, re_, T = (np.asarray(s[c], dtype='float64') for c in ('frequency', 'recency', 'T'))
        fits = []
        f = lambda: fits.append(BetaGeo().fit(fr, re_, T))
    else: raise SystemExit(f'unknown stage {stage!r}')
    _release(); base = _status('VmRSS'); open('/proc/self/clear_refs', 'w').write('5')
    out['time_s'] = timed(f)
    out['extra_peak_gb'] = _status('VmHWM') - base
    out['process_peak_gb'] = max(_status('VmHWM'), base)
    if stage == 'bgnbd':
        b = fits[-1]
        out.update(unique_rows=int(b.n_rows_), params={k: round(float(v), 4) for k, v in b.params_.items()},
                   truth=dict(r=0.25, alpha=4.0, a=0.8, b=2.5))
    return out


def slope(x, y):
    x, y = np.log(np.asarray(x, float)), np.log(np.maximum(np.asarray(y, float), 1e-9))
    return float(np.polyfit(x, y, 1)[0]) if len(x) >= 2 else None


def growth(sizes, ys):
    "Log-log slope over all sizes and over the last segment, and whether the last segment is linear."
    s_all, s_last = slope(sizes, ys), slope(sizes[-2:], ys[-2:])
    verdict = None if s_last is None else 'linear' if 0.85 <= s_last <= 1.15 else \
        'sublinear' if s_last < 0.85 else 'superlinear'
    return dict(slope_all=s_all, slope_last_segment=s_last, last_segment=[sizes[-2], sizes[-1]], verdict=verdict)


def run_child(stage, n, smoke=False):
    if smoke: return json.loads(json.dumps(child(stage, n), default=float))   # smoke: in this process (seconds)
    p = subprocess.run([sys.executable, __file__, '--child', stage, str(n)], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f'{stage} at {n}: exit {p.returncode}: {(p.stderr.strip().splitlines() or ["?"])[-1]}')
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--smoke', action='store_true', help='tiny sizes, a few seconds')
    ap.add_argument('--sizes', help='comma-separated customer counts (default 10000,100000,1000000)')
    ap.add_argument('--out', help='also write the JSON here')
    ap.add_argument('--child', nargs=2, metavar=('STAGE', 'N'), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], int(a.child[1])), default=float)); return
    sizes = [int(s) for s in a.sizes.split(',')] if a.sizes else [2000, 5000] if a.smoke else [10_000, 100_000, 1_000_000]
    res = {'smoke': a.smoke, 'sizes': sizes, 'loadavg_start': [round(x, 2) for x in os.getloadavg()], 'cpus': os.cpu_count()}
    for stage in ('summary', 'tensors', 'bgnbd', 'lifetimes'):
        rows = [run_child(stage, n, a.smoke) for n in sizes]
        r = {'by_size': {str(n): row for n, row in zip(sizes, rows)}}
        if stage == 'lifetimes':
            if any('skipped' in row for row in rows):
                r = {'skipped': rows[0].get('skipped', 'lifetimes not importable')}
            else:
                r['speedup_median'] = {str(n): row['speedup_median'] for n, row in zip(sizes, rows)}
                r['time_growth_lifetimes'] = growth(sizes, [row['lifetimes_s']['median'] for row in rows])
                r['time_growth_ours'] = growth(sizes, [row['ours_s']['median'] for row in rows])
        else:
            r['time_growth'] = growth(sizes, [row['time_s']['median'] for row in rows])
            r['memory_growth'] = growth(sizes, [row['extra_peak_gb'] for row in rows])
        res[stage] = r
        print(f'{stage}: done', file=sys.stderr, flush=True)
    big = str(sizes[-1])
    res['largest'] = {'customers': sizes[-1], 'lines': res['tensors']['by_size'][big]['lines'],
                      'summary_plus_tensors_s': res['summary']['by_size'][big]['time_s']['median']
                      + res['tensors']['by_size'][big]['time_s']['median'],
                      'tensors_process_peak_gb': res['tensors']['by_size'][big]['process_peak_gb'],
                      'bgnbd_fit_s': res['bgnbd']['by_size'][big]['time_s']['median']}
    res['loadavg_end'] = [round(x, 2) for x in os.getloadavg()]
    txt = json.dumps(res, indent=1, default=float)
    if a.out: open(a.out, 'w').write(txt + '\n')
    print(txt)


if __name__ == '__main__':
    main()
