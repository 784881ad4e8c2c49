#!/usr/bin/env python
"""The deep model's cost: `clv_nb.deep.DeepCLVModel()` (defaults) fit + predict on full CDNOW and on 10k -> 100k simulated customers.

    python bench/bench_deep.py             # full CDNOW (23,570 customers) + 10k and 100k simulated customers
    python bench/bench_deep.py --smoke     # CDNOW sample (2,357) + 300 and 600 simulated customers, 1 epoch, one process
    python bench/bench_deep.py --sizes 10000 --out f.json

Each case runs in its own child process (this script with `--child CASE`) so its peak memory is its own
(`process_peak_gb`: the child's resident-set high-water mark, TensorFlow and input included; `fit_extra_peak_gb`:
above the resident set just before `fit`). Cases:

- `cdnow`: `load_cdnow('master')`, calibration end 1997-09-30, predict 39 weeks (the standard split);
- `sim_N`: `simulate_transactions(N, seed=0)` (104 weeks from 2020-01-01), calibration end 2021-06-30, predict 26 weeks.

Under `--smoke` every case runs in this one process (seconds; memory figures then include the earlier cases).
Fit is the whole `fit` (summary, BTYD fits, tensors, inner-window labels, Keras training with early stopping,
the sequence encoding kept for prediction); it is measured once per case (`single_run: true`: training is
deterministic by seed, and a repeat would double the benchmark's wall time), `epochs_run` says how much training it did.
Predict (sub-second) is the median of 5 calls after a warm-up. Growth between simulated sizes is the log-log slope
of fit time and of memory against customers (`linear` when within 0.85-1.15).
"""
import argparse, json, os, re, subprocess, sys, time, warnings
import numpy as np


def _release():
    "Return freed heap to the OS (glibc `malloc_trim`), so the resident set before `fit` holds live data only."
    import ctypes, gc
    gc.collect()
    try: ctypes.CDLL('libc.so.6').malloc_trim(0)
    except OSError: pass


def _status(key):
    return int(re.search(rf'{key}:\s+(\d+)', open('/proc/self/status').read()).group(1)) / 1e6  # kB -> GB


def child(case, smoke):
    warnings.simplefilter('ignore')
    from clv_nb.data import load_cdnow, simulate_transactions
    from clv_nb.deep import DeepCLVModel
    import keras  # imported before timing: TensorFlow's start-up is not the model's cost
    t0 = time.perf_counter()
    if case == 'cdnow':
        tx, cal, horizon = load_cdnow('sample' if smoke else 'master'), '1997-09-30', 39
    else:
        tx, _ = simulate_transactions(int(case.split('_')[1]), seed=0); cal, horizon = '2021-06-30', 26
    out = {'case': case, 'lines': len(tx), 'customers_in_log': int(tx.customer_id.nunique()),
           'load_s': time.perf_counter() - t0}
    kw = dict(epochs=1) if smoke else {}
    _release(); base = _status('VmRSS'); open('/proc/self/clear_refs', 'w').write('5')
    t0 = time.perf_counter(); m = DeepCLVModel(**kw).fit(tx, cal); fit_s = time.perf_counter() - t0
    out['fit_extra_peak_gb'] = _status('VmHWM') - base
    out.update(fit_s=fit_s, single_run=True, epochs_run=int(m.epochs_run), config='defaults' + (' (epochs=1: smoke)' if smoke else ''))
    p = m.predict(horizon)
    ts = []
    for _ in range(5):
        t0 = time.perf_counter(); p = m.predict(horizon); ts.append(time.perf_counter() - t0)
    out.update(customers_in_scope=len(p), horizon_weeks=horizon,
               predict_s=dict(median=float(np.median(ts)), min=float(min(ts)), max=float(max(ts)), repeats=5),
               fit_customers_per_s=len(p) / fit_s, process_peak_gb=_status('VmHWM'),
               pred_spend_sum=float(p.pred_spend.sum()), finite=bool(np.isfinite(p[['pred_transactions', 'pred_spend', 'p_purchase']].to_numpy()).all()))
    return out


def slope(x, y):
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.maximum(np.asarray(y, float), 1e-9)), 1)[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--smoke', action='store_true', help='tiny sizes and 1 epoch, in one process')
    ap.add_argument('--sizes', help='comma-separated simulated customer counts (default 10000,100000)')
    ap.add_argument('--no-cdnow', action='store_true', help='skip the CDNOW case')
    ap.add_argument('--out', help='also write the JSON here')
    ap.add_argument('--child', help=argparse.SUPPRESS)
    a = ap.parse_args()
    for k, v in {'TF_NUM_INTRAOP_THREADS': '2', 'TF_NUM_INTEROP_THREADS': '1', 'TF_CPP_MIN_LOG_LEVEL': '2'}.items():
        os.environ.setdefault(k, v)
    if a.child:
        print(json.dumps(child(a.child, a.smoke), default=float)); return
    sizes = [int(s) for s in a.sizes.split(',')] if a.sizes else [300, 600] if a.smoke else [10_000, 100_000]
    res = {'smoke': a.smoke, 'model': 'clv_nb.deep.DeepCLVModel() defaults', 'loadavg_start': [round(x, 2) for x in os.getloadavg()],
           'cpus': os.cpu_count()}
    cases = ([] if a.no_cdnow else ['cdnow']) + [f'sim_{n}' for n in sizes]
    for case in cases:
        if a.smoke:
            res[case] = child(case, True); continue
        p = subprocess.run([sys.executable, __file__, '--child', case] + (['--smoke'] if a.smoke else []),
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f'{case}: exit {p.returncode}: {(p.stderr.strip().splitlines() or ["?"])[-1]}')
        res[case] = json.loads(p.stdout.strip().splitlines()[-1])
        print(f'{case}: fit {res[case]["fit_s"]:.1f}s', file=sys.stderr, flush=True)
    if len(sizes) >= 2:
        n = [res[f'sim_{s}']['customers_in_scope'] for s in sizes]
        st = slope(n[-2:], [res[f'sim_{s}']['fit_s'] for s in sizes[-2:]])
        sm = slope(n[-2:], [res[f'sim_{s}']['fit_extra_peak_gb'] for s in sizes[-2:]])
        verdict = lambda s: 'linear' if 0.85 <= s <= 1.15 else 'sublinear' if s < 0.85 else 'superlinear'
        res['growth'] = {'sizes': sizes[-2:], 'customers_in_scope': n[-2:], 'fit_time_slope': st, 'fit_time_verdict': verdict(st),
                         'fit_memory_slope': sm, 'fit_memory_verdict': verdict(sm),
                         'epochs_run': [res[f'sim_{s}']['epochs_run'] for s in sizes[-2:]]}
    res['loadavg_end'] = [round(x, 2) for x in os.getloadavg()]
    txt = json.dumps(res, indent=1, default=float)
    if a.out: open(a.out, 'w').write(txt + '\n')
    print(txt)


if __name__ == '__main__':
    main()
