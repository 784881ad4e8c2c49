#!/usr/bin/env python
"""Spark benchmark: the per-customer pipeline on Spark `local[2]` against the single-machine path, stage by stage.

    python bench/bench_spark.py            # 1M simulated customers (~10M lines), both paths
    python bench/bench_spark.py --smoke    # 3k customers, a minute or so (JVM start included)
    python bench/bench_spark.py --customers 100000 --out f.json

The log is `clv_nb.data.simulate_transactions(n, seed=0, lines_per_tx=3)` (the `bench_scale.py` setup), written once
as Parquet; calibration end 2021-06-30. Stages, each timed once (single runs: the Spark ones are long, and the
machine is shared):

- `summary`: `clv_nb.features.summarize` | `clv_nb.spark.summarize_spark` (forced with a no-op write);
- `sequences`: `clv_nb.features.summarize` + `week_sequences` (the deep model's input) | `clv_nb.spark.sequences_spark`;
- `btyd_fit`: BG/NBD + Gamma-Gamma fits on the summary (summary excluded) | `fit_btyd_spark` (summary in Spark,
  distinct rows collected with their counts, fits on the driver; summary included), with the rows each fit reads;
- `scoring`: `clv_nb.score.predict_bundle` | `clv_nb.spark.predict_spark` with the same `bgnbd_gg` bundle
  (fitted on a separate 20k-customer simulated log), with the maximum relative difference of `pred_spend`.

Each single-machine stage runs in its own child process (peak memory = that process's `VmHWM` after `clear_refs`,
input included). The Spark stages run in one child process with one session (`local[2]`, driver memory 6 GB at full
size): its peak memory per stage is the sum of the peaks of the driver's Python process, the JVM and the Python
workers (each reset before the stage), and its shuffled bytes come from Spark's monitoring API. The JVM start is
reported apart. The load average is recorded at start and end: other work on the 2 cores slows both paths.
"""
import argparse, json, os, re, subprocess, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np

END = '2021-06-30'


def _status(pid, key):
    try: return int(re.search(rf'{key}:\s+(\d+)', open(f'/proc/{pid}/status').read()).group(1)) / 1e6   # kB -> GB
    except (OSError, AttributeError): return 0.0


def _tree(root):
    "The process `root` and all its descendants (pids)."
    kids = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try: kids.setdefault(int(open(f'/proc/{d}/stat').read().rsplit(')', 1)[1].split()[1]), []).append(int(d))
            except (OSError, IndexError, ValueError): pass
    out, todo = [], [root]
    while todo:
        p = todo.pop(); out.append(p); todo += kids.get(p, [])
    return out


def _reset(pids):
    import ctypes, gc
    gc.collect()
    try: ctypes.CDLL('libc.so.6').malloc_trim(0)
    except OSError: pass
    for p in pids:
        try: open(f'/proc/{p}/clear_refs', 'w').write('5')
        except OSError: pass


def _bundle(d):
    "A bgnbd_gg bundle fitted on a separate simulated log (the bundle kind's parameters, not the benchmark's data)."
    from clv_nb.data import simulate_transactions
    from clv_nb.bundle import fit_bundle
    log, _ = simulate_transactions(20_000, seed=1, lines_per_tx=3.0)
    return fit_bundle(log, END, Path(d)/'bundle', kind='bgnbd_gg')


def single(stage, parquet, bundle):
    "One single-machine stage in this process."
    warnings.simplefilter('ignore')
    import pandas as pd
    from clv_nb.features import summarize
    log = pd.read_parquet(parquet)
    out = {'stage': stage}
    if stage == 'btyd_fit':
        from clv_nb.baselines import BetaGeo, GammaGamma
        s = summarize(log, END)
        f = lambda: (BetaGeo().fit(s.frequency, s.recency, s['T']), GammaGamma().fit(s.frequency, s.monetary_value))
    elif stage == 'summary': f = lambda: summarize(log, END)
    elif stage == 'sequences':
        from clv_nb.features import week_sequences
        f = lambda: week_sequences(log, END, summarize(log, END).index)
    elif stage == 'scoring':
        from clv_nb.score import predict_bundle
        f = lambda: predict_bundle(bundle, log, 39, as_of=END, progress=False)
    else: raise SystemExit(f'unknown stage {stage!r}')
    _reset([os.getpid()])
    t0 = time.perf_counter(); r = f(); out['time_s'] = time.perf_counter() - t0
    out['peak_gb'] = _status(os.getpid(), 'VmHWM')
    if stage == 'btyd_fit':
        out['rows_fitted'] = {'bgnbd': int(r[0].n_rows_), 'gg': int((s.frequency > 0).sum())}
        out['params'] = {'bgnbd': r[0].params_, 'gg': r[1].params_}
    if stage == 'scoring':
        p = r.sort_values('customer_id')
        out['customers'] = len(p)
        out['pred_spend_sum'] = float(p.pred_spend.sum())
        p[['customer_id', 'pred_spend', 'segment']].to_parquet(Path(parquet).parent/'single_pred.parquet', index=False)
    return out


def spark_run(parquet, bundle, smoke):
    "Every Spark stage in this process, with one session."
    warnings.simplefilter('ignore')
    import pandas as pd
    from clv_nb.spark import (spark_session, read_parquet_spark, summarize_spark, sequences_spark, fit_btyd_spark,
                              predict_spark, shuffle_bytes)
    t0 = time.perf_counter()
    spark = spark_session('local[2]', conf={'spark.driver.memory': '2g' if smoke else '6g'}, ui=True)
    res = {'session_start_s': time.perf_counter() - t0, 'master': 'local[2]', 'spark_version': spark.version}
    tx = read_parquet_spark(spark, parquet)
    noop = lambda df: df.write.format('noop').mode('overwrite').save()
    stages = {'summary': lambda: noop(summarize_spark(tx, END)),
              'sequences': lambda: noop(sequences_spark(tx, END)),
              'btyd_fit': lambda: fit_btyd_spark(summarize_spark(tx, END), ('bgnbd', 'gg')),
              'scoring': lambda: predict_spark(bundle, tx, 39, as_of=END).select('customer_id', 'pred_spend', 'segment').toPandas()}
    for name, f in stages.items():
        pids = _tree(os.getpid()); _reset(pids)
        t0 = time.perf_counter(); r, sh = shuffle_bytes(spark, f); dt = time.perf_counter() - t0
        pids = _tree(os.getpid())
        res[name] = {'time_s': dt, 'peak_gb_sum_of_processes': sum(_status(p, 'VmHWM') for p in pids),
                     'processes': len(pids), **sh}
        if name == 'btyd_fit':
            res[name]['rows_fitted'] = r['rows']; res[name]['customers'] = r['customers']
            res[name]['params'] = {'bgnbd': r['bgnbd'].params_, 'gg': r['gg'].params_}
        if name == 'scoring':
            single_p = Path(parquet).parent/'single_pred.parquet'
            res[name]['customers'] = len(r)
            if single_p.exists():
                a = pd.read_parquet(single_p).set_index('customer_id').sort_index()
                b = r.set_index('customer_id').sort_index()
                res[name]['same_customers'] = bool(a.index.equals(b.index))
                if res[name]['same_customers']:
                    res[name]['max_rel_diff_pred_spend'] = float(np.max(np.abs(a.pred_spend - b.pred_spend) / np.maximum(np.abs(a.pred_spend), 1e-300)))
                    res[name]['same_segments'] = bool((a.segment.astype(str) == b.segment.astype(str)).all())
        print(f'spark {name}: {dt:.1f} s', file=sys.stderr, flush=True)
    spark.stop()
    return res


def child(args):
    kind, parquet, bundle = args[0], args[1], args[2]
    if kind == 'spark': return spark_run(parquet, bundle, args[3] == '1')
    return single(kind, parquet, bundle)


def run_child(*a):
    p = subprocess.run([sys.executable, __file__, '--child', *map(str, a)], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f'{a[0]}: exit {p.returncode}: {(p.stderr.strip().splitlines() or ["?"])[-1]}')
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--smoke', action='store_true', help='3k customers')
    ap.add_argument('--customers', type=int, help='simulated customers (default 1,000,000; smoke 3,000)')
    ap.add_argument('--out', help='also write the JSON here')
    ap.add_argument('--child', nargs='+', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child: print(json.dumps(child(a.child), default=float)); return
    try:
        import pyspark  # noqa: F401  (the [spark] extra)
        from clv_nb.spark import java_available
        if not java_available(): raise RuntimeError('no Java runtime')
    except Exception as e:
        print(json.dumps({'skipped': f'Spark not available: {e}'})); return
    import pandas as pd
    from clv_nb.data import simulate_transactions
    n = a.customers or (3000 if a.smoke else 1_000_000)
    res = {'smoke': a.smoke, 'customers': n, 'loadavg_start': [round(x, 2) for x in os.getloadavg()], 'cpus': os.cpu_count()}
    with tempfile.TemporaryDirectory() as d:
        log, _ = simulate_transactions(n, seed=0, lines_per_tx=3.0)
        pq = Path(d)/'log.parquet'
        log.to_parquet(pq, index=False, coerce_timestamps='us', allow_truncated_timestamps=True)
        res.update(lines=len(log), parquet_mb=pq.stat().st_size / 1e6, calibration_lines=int((log.date <= END).sum()))
        del log
        bundle = _bundle(d)
        res['single'] = {}
        for st in ('summary', 'sequences', 'btyd_fit', 'scoring'):
            res['single'][st] = run_child(st, pq, bundle)
            print(f"single {st}: {res['single'][st]['time_s']:.1f} s", file=sys.stderr, flush=True)
        res['spark'] = run_child('spark', pq, bundle, int(a.smoke))
    sp, si = res['spark'], res['single']
    res['side_by_side'] = {st: {'single_s': si[st]['time_s'], 'spark_s': sp[st]['time_s'],
                                'spark_over_single': sp[st]['time_s'] / max(si[st]['time_s'], 1e-9),
                                'single_peak_gb': si[st]['peak_gb'], 'spark_peak_gb': sp[st]['peak_gb_sum_of_processes'],
                                'shuffle_mb': sp[st]['shuffle_write_bytes'] / 1e6}
                           for st in ('summary', 'sequences', 'btyd_fit', 'scoring')}
    cust_sum = si['btyd_fit']['rows_fitted']
    res['compression'] = {'customers': sp['btyd_fit']['customers'], 'bgnbd_rows': sp['btyd_fit']['rows_fitted']['bgnbd'],
                          'gg_rows': sp['btyd_fit']['rows_fitted']['gg'], 'gg_repeat_buyers': cust_sum['gg']}
    pb, ps = si['btyd_fit']['params']['bgnbd'], sp['btyd_fit']['params']['bgnbd']
    res['compression']['bgnbd_max_rel_param_diff'] = max(abs(ps[k] - pb[k]) / abs(pb[k]) for k in pb)
    res['shuffle_bytes_per_line'] = {st: sp[st]['shuffle_write_bytes'] / res['lines'] for st in ('summary', 'sequences', 'scoring')}
    res['shuffle_bytes_per_customer'] = {st: sp[st]['shuffle_write_bytes'] / n for st in ('summary', 'sequences', 'scoring')}
    res['shuffle_gb_at_100m_customers'] = {st: v * 100e6 / 1e9 for st, v in res['shuffle_bytes_per_customer'].items()}
    res['loadavg_end'] = [round(x, 2) for x in os.getloadavg()]
    txt = json.dumps(res, indent=1, default=float)
    if a.out: open(a.out, 'w').write(txt + '\n')
    print(txt)


if __name__ == '__main__':
    main()
