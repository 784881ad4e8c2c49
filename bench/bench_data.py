#!/usr/bin/env python
"""Benchmark of clv_nb.data / clv_nb.features on CDNOW: load, summary and the deep model's input tensors (active-week sequences), and the lifetimes peer.

    python bench/bench_data.py            # full CDNOW (69,659 lines), 7 repeats
    python bench/bench_data.py --smoke    # the same data, 2 repeats: a few seconds
    python bench/bench_data.py --out FILE # also write the JSON figures to FILE

(10M simulated lines and the growth from 10k to 1M customers, with the peer at each size: bench/bench_scale.py.)

Prints one JSON object. Times are wall-clock seconds (median of `--repeats` after one warm-up, with min and max); CPU seconds of the
process (`time.process_time`) are reported next to wall time where a shared machine would distort the comparison.
Peak memory is the process's maximum resident set size (`resource.getrusage`).
The peer is `lifetimes.utils.summary_data_from_transaction_data` (benchmark-only; never a clv_nb dependency).
"""
import argparse, json, os, resource, sys, time, warnings
import numpy as np, pandas as pd


def timed(f, repeats, clock=time.perf_counter):
    f()  # warm-up
    ts = []
    for _ in range(repeats):
        t0 = clock(); f(); ts.append(clock() - t0)
    return dict(median=float(np.median(ts)), min=float(min(ts)), max=float(max(ts)), repeats=repeats)


def peak_rss_gb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1e6  # KB on Linux


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--smoke', action='store_true', help='tiny sizes (seconds)')
    ap.add_argument('--out', help='also write the JSON here')
    ap.add_argument('--repeats', type=int, default=None, help='timed repeats after warm-up (default 7; smoke 2)')
    a = ap.parse_args()
    reps = a.repeats or (2 if a.smoke else 7)
    from clv_nb.data import load_cdnow
    from clv_nb.features import summarize, week_sequences
    res = dict(smoke=a.smoke)

    # --- CDNOW (69,659 lines) ---
    t0 = time.perf_counter(); cd = load_cdnow('master'); res['cdnow_load_s'] = time.perf_counter() - t0
    cal, hold = '1997-09-30', '1998-06-30'
    res['cdnow_summary_s'] = timed(lambda: summarize(cd, cal, hold), reps)
    res['cdnow_weekly_tensors_s'] = timed(lambda: week_sequences(cd, cal), reps)
    res['cdnow_summary_plus_tensors_s'] = timed(lambda: (summarize(cd, cal, hold), week_sequences(cd, cal)), reps)

    # --- peer: lifetimes on the CDNOW calibration period, same frequency/recency/T ---
    try:
        from lifetimes.utils import summary_data_from_transaction_data
        warnings.simplefilter('ignore')
        cdc = cd[cd.date <= cal]
        peer = lambda: summary_data_from_transaction_data(cdc, 'customer_id', 'date', monetary_value_col='amount',
                                                           observation_period_end=cal, freq='D')
        ours = lambda: summarize(cdc, cal)
        tl, to = timed(peer, reps), timed(ours, 3*reps)
        cl, co = timed(peer, reps, time.process_time), timed(ours, 3*reps, time.process_time)
        L, S = peer(), ours()
        L = L.loc[S.index]
        same = bool((L.frequency.to_numpy() == S.frequency.to_numpy()).all()
                    and np.allclose(L.recency.to_numpy()/7, S.recency.to_numpy())
                    and np.allclose(L['T'].to_numpy()/7, S['T'].to_numpy())
                    and np.allclose(L.monetary_value.to_numpy(), S.monetary_value.to_numpy()))
        import lifetimes
        res['vs_lifetimes'] = dict(peer=f'lifetimes {lifetimes.__version__} summary_data_from_transaction_data',
                                   peer_wall_s=tl, ours_wall_s=to, speedup_wall_median=tl['median']/to['median'],
                                   peer_cpu_s=cl, ours_cpu_s=co, speedup_cpu_median=cl['median']/co['median'],
                                   identical_frequency_recency_T_monetary=same)
    except ImportError as e:
        res['vs_lifetimes'] = dict(error=f'lifetimes not importable: {e}')

    res['peak_rss_gb'] = peak_rss_gb()
    res['loadavg'] = [round(x, 2) for x in os.getloadavg()]
    out = json.dumps(res, indent=1, default=float)
    print(out)
    if a.out: open(a.out, 'w').write(out)


if __name__ == '__main__': main()
