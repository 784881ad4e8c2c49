"""Wall time and peak memory of `clv_nb evaluate` (every model and plot, via the CLI in a subprocess).

Cases (2 cores):
- `cdnow`: the full bundled CDNOW log, standard split (target < 300 s);
- `sim_1m`: a simulated log of ~1M lines / 30k customers (`clv_nb.data.simulate_transactions`, written as CSV to a temp
  folder; target < 600 s).
`--smoke` runs tiny versions of both (the CDNOW sample and a 300-customer simulated log) with `IN_TEST=1` in the
child (tiny deep-model training), in a few seconds each: it checks the harness, its figures are not the targets'.
Peak RSS is the child's `ru_maxrss` (`resource.getrusage(RUSAGE_CHILDREN)` after each run in a fresh wrapper process).
Figures are printed as JSON (stdout, or `--out FILE`).

    python bench/bench_evaluate.py [--smoke] [--only cdnow,sim_1m] [--out FILE]
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

TARGETS = {'cdnow': 300., 'sim_1m': 600.}
ENV = dict(os.environ, TF_NUM_INTRAOP_THREADS='2', TF_NUM_INTEROP_THREADS='1', TF_CPP_MIN_LOG_LEVEL='2')


def _cli():
    exe = Path(sys.executable).with_name('clv_nb')
    return [str(exe)] if exe.exists() else [sys.executable, '-m', 'clv_nb.cli']


def run_cli(args, log, smoke=False):
    "Run `clv_nb <args>` in a wrapper process; return (wall seconds, peak RSS MB of the CLI process, exit code)."
    wrapper = ("import resource, subprocess, sys, json, time; t = time.time(); "
               "rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=open(%r, 'w')); "
               "print(json.dumps({'rc': rc, 'wall': time.time() - t, "
               "'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))") % str(log)
    out = subprocess.run([sys.executable, '-c', wrapper] + _cli() + args, capture_output=True, text=True,
                         env=dict(ENV, IN_TEST='1') if smoke else ENV, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r['wall'], r['maxrss_kb']/1024, r['rc']


def write_cdnow(tmp, which):
    "The bundled CDNOW log (cleaned schema) as a CSV, so the CLI reads a file like a user's."
    from clv_nb.data import load_cdnow
    tx = load_cdnow(which)
    p = tmp/f'cdnow_{which}.csv'
    tx[['customer_id', 'date', 'amount']].to_csv(p, index=False)
    return p, len(tx), tx['customer_id'].nunique()


def write_sim(tmp, n_customers, seed=0):
    "A simulated log written as CSV; returns (path, lines, customers, calibration end, holdout end)."
    import pandas as pd
    from clv_nb.data import simulate_transactions
    # ~3.5 transactions per customer at the defaults; 9.5 lines per transaction and 5 % returns give ~33 lines per
    # customer, i.e. ~1M lines for 30k customers (an online-retail-like log: many lines per basket)
    tx, _ = simulate_transactions(n_customers, seed=seed, lines_per_tx=9.5, return_rate=0.05)
    p = tmp/f'sim_{n_customers}.csv'
    tx[['customer_id', 'date', 'amount']].to_csv(p, index=False)
    d0, d1 = tx['date'].min().normalize(), tx['date'].max().normalize()
    ce = d0 + (d1 - d0)*0.6
    return p, len(tx), tx['customer_id'].nunique(), str(ce.date()), str(d1.date())


def case(name, path, lines, customers, ce, he, tmp, smoke=False):
    out = tmp/f'out_{name}'
    args = ['evaluate', '--transactions', str(path), '--customer-col', 'customer_id', '--date-col', 'date',
            '--amount-col', 'amount', '--calibration-end', ce, '--holdout-end', he, '--out', str(out)]
    wall, rss, rc = run_cli(args, tmp/f'{name}.stderr', smoke)
    if rc != 0: sys.exit(f"bench_evaluate: clv_nb evaluate failed on {name} (exit {rc}):\n" + (tmp/f'{name}.stderr').read_text()[-2000:])
    m = json.loads((out/'metrics.json').read_text())
    return {'case': name, 'lines': lines, 'customers': customers, 'customers_in_scope': m['n_customers'],
            'models': list(m['models']), 'wall_s': round(wall, 1), 'peak_rss_mb': round(rss), 
            'evaluation_s': m['seconds']['total'], 'fit_predict_s': {k: round(v['fit'] + v['predict'], 1)
                                                                      for k, v in m['seconds'].items() if k != 'total'},
            'target_s': TARGETS.get(name.replace('_smoke', '')),
            'meets_target': (wall < TARGETS[name]) if name in TARGETS else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--smoke', action='store_true', help='tiny sizes (a few seconds per case)')
    ap.add_argument('--only', default='cdnow,sim_1m', help='comma-separated cases')
    ap.add_argument('--customers', type=int, default=30_000, help='simulated customers for sim_1m')
    ap.add_argument('--out', help='write the JSON here too')
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix='bench_evaluate_'))
    only, res = a.only.split(','), []
    t0 = time.time()
    if 'cdnow' in only:
        p, n, c = write_cdnow(tmp, 'sample' if a.smoke else 'master')
        res.append(case('cdnow_smoke' if a.smoke else 'cdnow', p, n, c, '1997-09-30', '1998-06-30', tmp, a.smoke))
        print(json.dumps(res[-1]), file=sys.stderr, flush=True)
    if 'sim_1m' in only:
        p, n, c, ce, he = write_sim(tmp, 300 if a.smoke else a.customers)
        res.append(case('sim_1m_smoke' if a.smoke else 'sim_1m', p, n, c, ce, he, tmp, a.smoke))
        print(json.dumps(res[-1]), file=sys.stderr, flush=True)
    out = {'bench': 'evaluate', 'smoke': a.smoke, 'cpu_count': os.cpu_count(), 'load_avg_1m': round(os.getloadavg()[0], 2),
           'results': res, 'total_s': round(time.time() - t0, 1)}
    s = json.dumps(out, indent=2)
    if a.out: Path(a.out).write_text(s)
    print(s)


if __name__ == '__main__': main()
