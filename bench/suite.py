#!/usr/bin/env python
"""Development suite: `clv_nb evaluate` with its defaults on CDNOW, the Complete Journey and simulator regimes.

    python bench/suite.py                          # every log but the 1M-customer one -> bench/suite_results.json + .md
    python bench/suite.py --only sim_1m            # the long one (about 10M lines); merged into the results file
    python bench/suite.py --smoke                  # tiny versions of every log, tiny training (IN_TEST=1)
    python bench/suite.py --profile cj,sim_grocery_weekly   # stage-by-stage time and memory, in-process

Each log (`bench/suite_logs.py`: how it is built and what it stands for) is built once and cached under
`bench/out/suite/`; the real `clv_nb` console script then runs `evaluate` on the file in a child process (its
defaults, only the column options a user would need to read the file), and the child's wall time and peak resident
set (`ru_maxrss` of RUSAGE_CHILDREN in a wrapper, `bench_evaluate.run_cli`) are recorded with every model's metrics
from its `metrics.json`, the `default_model`, the seconds per model and whether the default model meets the
development targets against BG/NBD + Gamma-Gamma and the naive model. A failed run is recorded with the end of its
stderr and the suite goes on. Prints the results as one JSON object on stdout (the `bench/run.py` convention).

`--profile` runs `evaluate_models` and `write_evaluation` (what `clv_nb evaluate` runs) in this process, with every
step they call timed as a stage (wall time, CPU time and peak resident set, sampled every 20 ms): the split, each
model's fit and predict (the inner backtests' fits under `inner_backtests`), intervals and value, the tracking, the
plots; the deep model's fit is broken down further (its data preparation, BTYD priors, sequences, training, scoring).
"""
import argparse, contextlib, json, os, statistics, sys, threading, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from suite_logs import LOGS, build, read_clean  # noqa: E402
from bench_evaluate import run_cli  # noqa: E402  (wall time + peak RSS of the CLI child)
from clv_nb.protocol import KEY_METRICS, as_loss  # noqa: E402  (the key metrics and their better directions: METRIC_REGISTRY's)

RUNS = HERE/'out'/'suite'/'runs'
DEEP = 'lstm_hybrid'   # the model the targets are about (the recommended default is whatever wins the inner split)
TARGETS = KEY_METRICS   # the deep model is to beat BG/NBD + GG on every key metric of `METRIC_REGISTRY`, in its direction
NO_WORSE = {'tx_rmse'}   # ... except these, where not losing is enough
MARGIN = {'agg_spend_err_pct': 0.05}   # ... and these by that much of the loss (points of |total error %|)


def beats(k, a, b, eps=1e-9):
    "Is value `a` of metric `k` better than `b` (both `as_loss`): by more than a rounding tie (`eps`, relative beyond 1) and `MARGIN[k]`; for `NO_WORSE` metrics, not worse."
    la, lb = as_loss(k, a), as_loss(k, b)
    tie = eps*max(abs(lb), 1.0)   # a difference of rounding is a tie, and a tie is not a win (the deep model's total is BG/NBD + GG's whenever its clock is off)
    return la <= lb + tie if k in NO_WORSE else la < lb - max(tie, MARGIN.get(k, 0.0))


def tied(r, ref='bgnbd_gg'):
    "Is the deep model's |total spend error| on log record `r` its reference's, to within `MARGIN` (a tie, not a win)?"
    m = r.get('models') or {}
    if DEEP not in m or ref not in m or m[DEEP].get('agg_spend_err_pct') is None or m[ref].get('agg_spend_err_pct') is None: return False
    return abs(abs(m[DEEP]['agg_spend_err_pct']) - abs(m[ref]['agg_spend_err_pct'])) <= MARGIN['agg_spend_err_pct']


def targets(models, deep, ref='bgnbd_gg'):
    "Does `deep` meet the suite's targets: beat `ref` on every key metric (`TARGETS`; not worse on `NO_WORSE`), and beat naive on spend_rmse."
    if deep not in models or ref not in models: return None
    d, b = models[deep], models[ref]
    ok = lambda v: v is not None
    if not all(ok(d.get(k)) and ok(b.get(k)) for k in TARGETS): return None
    t = {k: bool(beats(k, d[k], b[k])) for k in TARGETS}
    if 'naive' in models and ok(models['naive'].get('spend_rmse')): t['spend_rmse_vs_naive'] = bool(beats('spend_rmse', d['spend_rmse'], models['naive']['spend_rmse']))
    t['all'] = all(t.values())
    return t


def run_guarded(args, log, smoke=False, min_free_gb=1.5, timeout=None):
    "`bench_evaluate.run_cli` with guards: (wall, peak RSS MB, exit, killed); the CLI is killed below `min_free_gb` available or after `timeout` s."
    # the machine is shared: an out-of-memory kill by the kernel could hit someone else's process
    import psutil
    me, killed, stop = psutil.Process(), [], threading.Event()
    t0 = time.time()
    def watch():
        while not stop.wait(0.5):
            low = psutil.virtual_memory().available < min_free_gb*2**30
            late = timeout is not None and time.time() - t0 > timeout
            if low or late:
                for c in me.children(recursive=True):
                    if 'evaluate' in ' '.join(c.cmdline()) and not c.children():
                        c.kill(); killed.append('memory' if low else 'timeout')
    th = threading.Thread(target=watch, daemon=True); th.start()
    try: wall, rss, rc = run_cli(args, log, smoke)
    finally: stop.set()
    return wall, rss, rc, killed


def run_log(name, smoke=False, timeout=None):
    "Build log `name`, run `clv_nb evaluate` on it, return its record."
    t0 = time.time()
    path, log = build(name, smoke)
    build_s = time.time() - t0
    out = RUNS/(name + ('_smoke' if smoke else ''))
    out.mkdir(parents=True, exist_ok=True)
    args = ['evaluate', '--transactions', str(path), *log.cli_args, '--calibration-end', log.calibration_end,
            '--holdout-end', log.holdout_end, '--out', str(out)]
    if (out/'metrics.json').exists(): (out/'metrics.json').unlink()
    load = [round(x, 2) for x in os.getloadavg()]
    wall, rss, rc, killed = run_guarded(args, out/'stderr.txt', smoke, timeout=timeout)
    rec = dict(log=name, what=log.what, file=str(path.relative_to(HERE.parent)) if HERE.parent in path.parents else str(path),
               cli=' '.join(['clv_nb'] + args[:-2] + ['--out', 'DIR']), calibration_end=log.calibration_end,
               holdout_end=log.holdout_end, exit=rc, wall_s=round(wall, 1), peak_rss_mb=round(rss), build_s=round(build_s, 1),
               loadavg_at_start=load, run_at=time.strftime('%Y-%m-%d %H:%M:%S'))
    err = (out/'stderr.txt').read_text(errors='replace') if (out/'stderr.txt').exists() else ''
    if rc != 0 or not (out/'metrics.json').exists():
        lines = [l for l in err.strip().splitlines() if l.strip()]
        rec['error'] = '\n'.join(lines[-6:])[-1500:] or 'no output'
        if killed: rec['error'] = (f"killed by the suite's guard after {wall:.0f} s: " + ("the machine's available memory fell below 1.5 GB"
                                   if killed[0] == 'memory' else f"still running at the --timeout of {timeout:.0f} s") + "\n" + rec['error'])
        return rec
    m = json.loads((out/'metrics.json').read_text())
    cr = json.loads((out/'cleaning_report.json').read_text()) if (out/'cleaning_report.json').exists() else {}
    rec.update(input_rows=cr.get('input_rows'), clean_rows=cr.get('kept_rows'), dropped=cr.get('dropped'),
               customers_in_scope=m['n_customers'], horizon_weeks=round(m['horizon_weeks'], 3), default_model=m['default_model'],
               models=m['models'], failed=m.get('failed', {}), seconds=m['seconds'], targets=targets(m['models'], DEEP),
               inner=inner_record(m))
    return rec


def _clock_state(choices):
    "Was the deep model's seasonal clock on (True) or off (False), as its `fit_choices` in metrics.json say (None: they do not say)."
    return {'on': True, 'off': False}.get(((choices or {}).get(DEEP) or {}).get('seasonal clock'))


def inner_record(m):
    "What the inner split said, from a run's metrics.json: its cut, horizon, every model's key metrics, the mean ranks; the deep model's clock there and in the final fit."
    b = m.get('default_model_basis') or {}
    if 'metrics' not in b: return {'rule': b.get('rule')}
    return dict(calibration_end=b['calibration_end'], holdout_end=b['holdout_end'], horizon_weeks=round(b['horizon_weeks'], 3),
                metrics=b['metrics'], mean_rank=b.get('mean_rank'), backtests=[{k: t[k] for k in ('calibration_end', 'holdout_end', 'n_customers', 'metrics')}
                                                                               for t in b.get('backtests') or []],
                clock=_clock_state(b.get('fit_choices')),
                clock_final=_clock_state({k: v.get('fit_choices') for k, v in m['models'].items()}))


def backfill_inner(res, smoke=False):
    "Records kept before the inner figures were: take them from their run's own metrics.json when it is the same run (every model's metrics equal). Returns the logs filled."
    done = []
    for n, r in res['logs'].items():
        f = RUNS/(n + ('_smoke' if smoke else ''))/'metrics.json'
        if 'inner' in r or 'models' not in r or not f.exists(): continue
        m = json.loads(f.read_text())
        if m.get('models') == r['models']: r['inner'] = inner_record(m); done.append(n)
    return done


def foretold(res):
    "Per log: the inner split's figures next to the holdout's (the deep model against BG/NBD + GG, the totals, the pick of the same rule)."
    import pandas as pd
    from clv_nb.protocol import recommend
    rows = []
    for n, r in res['logs'].items():
        i, ms = r.get('inner') or {}, r.get('models') or {}
        if 'metrics' not in i or DEEP not in ms or 'bgnbd_gg' not in ms or DEEP not in i['metrics'] or 'bgnbd_gg' not in i['metrics']: continue
        im, cands = i['metrics'], list(i['mean_rank'] or i['metrics'])
        hold_pick, _ = recommend(pd.DataFrame(ms).T[KEY_METRICS], [c for c in cands if c in ms])
        ratio = lambda t: t[DEEP]['spend_rmse']/t['bgnbd_gg']['spend_rmse']
        each = [ratio(t['metrics']) for t in i.get('backtests') or [] if DEEP in t['metrics'] and 'bgnbd_gg' in t['metrics']]
        rows.append(dict(log=n, inner_cut=i['calibration_end'], inner_h=i['horizon_weeks'], h=r['horizon_weeks'], ratio_each=each,
                         clock=i.get('clock'), clock_final=i.get('clock_final'), ratio_inner=ratio(im), ratio_hold=ratio(ms),
                         bg_total_inner=im['bgnbd_gg']['agg_spend_err_pct'], bg_total_hold=ms['bgnbd_gg']['agg_spend_err_pct'],
                         deep_total_inner=im[DEEP]['agg_spend_err_pct'], deep_total_hold=ms[DEEP]['agg_spend_err_pct'],
                         pick_inner=r['default_model'], pick_hold=hold_pick))
    return rows


def fmt(v, d=3):
    if v is None: return '–'
    if isinstance(v, bool): return 'yes' if v else '**no**'
    return f'{v:,.{d}f}'


COLS = [('tx_rmse', 3), ('spend_rmse', 2), ('spend_mae', 2), ('gini', 3), ('top20_capture', 3), ('agg_tx_err_pct', 1),
        ('agg_spend_err_pct', 1), ('tracking_mape', 3), ('spearman', 3), ('decile_mape', 3), ('auc_repurchase', 3)]


def recommendation_check(name, rec, n_boot=200, seed=0):
    "The recommended model on the holdout against the best model and BG/NBD + GG, with the bootstrap noise of the differences."
    import numpy as np, pandas as pd
    from clv_nb.features import summarize
    from clv_nb.protocol import align
    L = LOGS[name]; out = RUNS/(name + ('_smoke' if rec.get('smoke') else ''))
    if 'models' not in rec or not (out/'predictions.csv').exists(): return None
    tx, _ = read_clean(name, bool(rec.get('smoke')))
    actual = summarize(tx, L.calibration_end, L.holdout_end)
    long = pd.read_csv(out/'predictions.csv', dtype={'customer_id': str})
    d = {m: align(actual, g) for m, g in long.groupby('model')}
    r, b = rec['default_model'], 'bgnbd_gg'
    if b not in d or r not in d: return None
    best = min(d, key=lambda m: rec['models'][m]['spend_rmse'])
    rng = np.random.default_rng(seed); n = len(d[b]); ys = d[b]['y_spend'].to_numpy()
    def stats(idx):
        e = {m: d[m]['p_spend'].to_numpy()[idx] - ys[idx] for m in (r, b)}
        rm = {m: np.sqrt(np.mean(e[m]**2)) for m in e}; tot = {m: abs(e[m].sum())/max(ys[idx].sum(), 1e-9)*100 for m in e}
        return rm[r] - rm[b], tot[r] - tot[b]
    boot = np.array([stats(rng.integers(0, n, n)) for _ in range(n_boot)])
    drm, dtot = stats(np.arange(n)); se_rm, se_tot = boot.std(axis=0)
    harm = bool(drm > 2*se_rm and dtot > 2*se_tot)
    return dict(recommended=r, best=best, rec_spend_rmse=rec['models'][r]['spend_rmse'], best_spend_rmse=rec['models'][best]['spend_rmse'],
                bgnbd_spend_rmse=rec['models'][b]['spend_rmse'], rec_total_pct=rec['models'][r]['agg_spend_err_pct'],
                bgnbd_total_pct=rec['models'][b]['agg_spend_err_pct'], d_spend_rmse=float(drm), se_d_spend_rmse=float(se_rm),
                d_abs_total=float(dtot), se_d_abs_total=float(se_tot), harm=harm)


def _rel_interval(v):
    "The total's 80 % interval as shares of the actual total (from the forecast total and its error)."
    pct, lo, hi, fc = (v.get(k) for k in ('agg_spend_err_pct', 'total_spend_p10', 'total_spend_p90', 'total_spend_forecast'))
    if None in (pct, lo, hi, fc) or fc <= 0: return '–'
    act = fc/(1 + pct/100)   # agg_spend_err_pct = 100 (forecast - actual) / actual
    return f"{lo/act:.2f} .. {hi/act:.2f}"


def _runs_words(res):
    "When the logs of the results were last run: the first run, then the re-runs merged into it (`--only`), by start time."
    last = {n: res['started'] for n in res['logs']}
    for r in res.get('reruns', []): last.update({n: r['started'] for n in r['logs'] if n in last})
    by = {}
    for n, t in last.items(): by.setdefault(t, []).append(n)
    return 'Run ' + '; '.join(f"{t} ({', '.join(ns) if len(ns) <= 3 else f'{len(ns)} logs'})" for t, ns in sorted(by.items()))


def markdown(res):
    "One table per log (every model's metrics, the default in bold), and the targets summary."
    L = [f"# Development suite: `clv_nb evaluate` with its defaults", '',
         f"{_runs_words(res)} ({'smoke sizes' if res['smoke'] else 'full sizes'}), {res['cpus']} cores, shared machine "
         f"(load average at each run's start is listed). Reproduce: `{res['command']}`.", '',
         '## Targets of the deep model `lstm_hybrid` (vs BG/NBD + GG; spend_rmse also vs naive)', '',
         'The `default` column is the model `evaluate` recommends, chosen on backtests inside the calibration period.', '',
         '| log | default | spend_rmse | gini | top20 | \\|agg spend\\| | tx_rmse no worse | spend vs naive | all | wall s | peak RSS MB |',
         '|---|---|---|---|---|---|---|---|---|---:|---:|']
    for name, r in res['logs'].items():
        if 'models' in r: r['targets'] = targets(r['models'], DEEP)
        t = r.get('targets') or {}
        if 'error' in r:
            L.append(f"| {name} | **failed** (exit {r['exit']}) | | | | | | | | {r['wall_s']} | {r['peak_rss_mb']} |"); continue
        L.append(f"| {name} | {r['default_model']} | " + ' | '.join(fmt(t.get(k)) + (' (tie)' if k == 'agg_spend_err_pct' and tied(r) else '') for k in
                 ('spend_rmse', 'gini', 'top20_capture', 'agg_spend_err_pct', 'tx_rmse', 'spend_rmse_vs_naive', 'all'))
                 + f" | {r['wall_s']:,.0f} | {r['peak_rss_mb']:,} |")
    ties = [n for n, r in res['logs'].items() if tied(r)]
    if ties:
        L += ['', f"*(tie)*: the deep model's |total spend error| is BG/NBD + GG's to within {MARGIN['agg_spend_err_pct']:g} points of a percent, "
                  f"on {len(ties)} of {len(res['logs'])} logs: its total is its time model's (BG/NBD + GG, on the seasonal clock when that is on), "
                  "and a tie is not a win. The time models tried for a better level are in chapter `05b_deep_research` (the level)."]
    chk = {n: r.get('recommendation') for n, r in res['logs'].items() if r.get('recommendation')}
    if chk:
        L += ['', '## The recommendation on the holdout', '',
              'For each log, the model `evaluate` recommended (chosen inside the calibration period) against the best model on the '
              'holdout and against BG/NBD + GG, with the bootstrap standard error (200 resamples of customers) of the differences '
              'to BG/NBD + GG. *Harm*: worse than BG/NBD + GG on both spend_rmse and |total spend error| by more than twice the noise.', '',
              '| log | recommended | spend_rmse | best model | its spend_rmse | BG/NBD + GG spend_rmse | Δ spend_rmse (se) | total % | BG/NBD + GG total % | Δ \\|total\\| (se) | harm |',
              '|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|']
        for n, c in chk.items():
            L.append(f"| {n} | {c['recommended']} | {c['rec_spend_rmse']:,.2f} | {c['best']} | {c['best_spend_rmse']:,.2f} | {c['bgnbd_spend_rmse']:,.2f} | "
                     f"{c['d_spend_rmse']:+,.2f} ({c['se_d_spend_rmse']:,.2f}) | {c['rec_total_pct']:+.1f} | {c['bgnbd_total_pct']:+.1f} | "
                     f"{c['d_abs_total']:+.1f} ({c['se_d_abs_total']:.1f}) | {'**yes**' if c['harm'] else 'no'} |")
    fo = foretold(res)
    if fo:
        onoff = lambda v: '–' if v is None else ('on' if v else 'off')
        agree = sum((f['ratio_inner'] < 1) == (f['ratio_hold'] < 1) for f in fo)
        same = sum(f['pick_inner'] == f['pick_hold'] for f in fo)
        moved = [abs(f['bg_total_hold'] - f['bg_total_inner']) for f in fo]
        unjudged = [f['log'] for f in fo if f['clock_final'] and not f['clock']]
        L += ['', '## What the inner split foretold', '',
              "The recommendation is chosen on backtests inside the calibration period: at the latest (the inner split) the models "
              "are fitted up to C' = C - min(H, S/2) and scored on (C', C], a shorter horizon than the holdout's wherever H > S/2, "
              "and at up to two earlier origins (every half window earlier, while a quarter of the span of history is left) on "
              "windows of the same length; the rule ranks the models at every backtest. Per log: the inner split's figures next "
              "to the holdout's, for the deep model against BG/NBD + GG (spend_rmse as a ratio, below 1 the deep model is better; "
              "also at every backtest, latest first) and for the total spend error; the deep model's seasonal clock at the inner "
              "split and in the final fit; the model the rule picks on the backtests and on the holdout. "
              f"The inner split and the holdout agree on whether the deep model's spend_rmse beats BG/NBD + GG's on {agree} of "
              f"{len(fo)} logs, and the rule picks the same model on both on {same} of {len(fo)}. BG/NBD + GG's total error "
              f"moves by a median of {statistics.median(moved):.1f} points (at most {max(moved):.1f}) from the inner split to the "
              "holdout: the level's noise that no inner figure removes. "
              + (f"On {len(unjudged)} log{'s' if len(unjudged) > 1 else ''} ({', '.join(unjudged)}) the deep model's clock is on in "
                 "the final fit but off at the inner split (it needs 50 weeks of history): there no inner figure judged it."
                 if unjudged else "The deep model's clock is never on in the final fit and off at the inner split."), '',
              '| log | inner fit to | inner h (weeks) | h (weeks) | clock inner / final | spend_rmse deep/BG inner | at each backtest | holdout '
              '| BG total % inner | holdout | deep total % inner | holdout | pick inner | pick holdout |',
              '|---|---|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---|---|']
        for f in fo:
            L.append(f"| {f['log']} | {f['inner_cut']} | {f['inner_h']:.1f} | {f['h']:.1f} | {onoff(f['clock'])} / {onoff(f['clock_final'])} | "
                     f"{f['ratio_inner']:.3f} | {', '.join(f'{x:.3f}' for x in f['ratio_each']) or '–'} | {f['ratio_hold']:.3f} | {f['bg_total_inner']:+.1f} | {f['bg_total_hold']:+.1f} | "
                     f"{f['deep_total_inner']:+.1f} | {f['deep_total_hold']:+.1f} | {f['pick_inner']} | {f['pick_hold']} |")
    cov = {n: r['models'] for n, r in res['logs'].items() if any('coverage_spend' in v for v in r.get('models', {}).values())}
    if cov:
        L += ['', '## The 80 % intervals on the holdout', '',
              'Per log and model: the share of customers whose actual holdout spend (transactions) lies in their 80 % interval '
              '(right: 0.80; the target band for spend is 0.75 to 0.90), and whether the 80 % interval of the total spend holds the '
              'actual total (`total in`; the interval as a share of the actual total); `world_sd` and `rate_sd` are the drift the '
              "intervals used, read from the model's own backtests inside the calibration period.", '',
              '| log | model | spend coverage | transactions coverage | total in | total interval / actual | world_sd | rate_sd |',
              '|---|---|---:|---:|---|---|---:|---:|']
        for n, ms in cov.items():
            act = None
            for mn, v in ms.items():
                if 'coverage_spend' not in v:
                    L.append(f"| {n} | {mn} | – | – | – | {v.get('intervals_failed', '')} | | |"); continue
                L.append(f"| {n} | {mn} | {fmt(v['coverage_spend'])} | {fmt(v['coverage_transactions'])} | {fmt(v['total_spend_in_interval'])} | "
                         f"{_rel_interval(v)} | {fmt(v.get('world_sd'))} | {fmt(v.get('rate_sd'))} |")
    for name, r in res['logs'].items():
        L += ['', f"## {name}", '', f"{r['what']}. Calibration to {r['calibration_end']}, holdout to {r['holdout_end']}."]
        if 'error' in r:
            L += ['', f"`clv_nb evaluate` failed (exit {r['exit']}) after {r['wall_s']} s:", '', '```', r['error'], '```']; continue
        L += ['', f"{r['clean_rows']:,} cleaned lines of {r['input_rows']:,}, {r['customers_in_scope']:,} customers in scope, "
              f"horizon {r['horizon_weeks']:.2f} weeks; wall {r['wall_s']:,.1f} s, peak RSS {r['peak_rss_mb']:,} MB "
              f"(load {r['loadavg_at_start'][0]} at start).", '',
              '| model | fit s | ' + ' | '.join(c for c, _ in COLS) + ' |', '|---|---:|' + '---:|'*len(COLS)]
        for mn, v in r['models'].items():
            lab = f'**{mn}** (default)' if mn == r['default_model'] else mn
            sec = r['seconds'].get(mn, {})
            L.append(f"| {lab} | {fmt(sec.get('fit'), 1)} | " + ' | '.join(fmt(v.get(c), d) for c, d in COLS) + ' |')
        for mn, why in (r.get('failed') or {}).items(): L.append(f"| {mn} | failed: {why} |" + ' |'*len(COLS))
        if 'failed' not in r and 'models' in r:
            try:   # older records: the failures are in the run's own metrics.json
                fj = json.loads((RUNS/name/'metrics.json').read_text()).get('failed', {})
                for mn, why in fj.items(): L.append(f"| {mn} | failed: {why} |" + ' |'*len(COLS))
            except (OSError, ValueError): pass
    return '\n'.join(L) + '\n'


# ------------------------------------------------------------------------------------------------- profile
def _rss_mb():
    with open('/proc/self/statm') as f: return int(f.read().split()[1])*os.sysconf('SC_PAGE_SIZE')/2**20


class Profiler:
    "Nested stages: wall, CPU and peak RSS (a 20 ms sampler thread) of each; `stages` is the flat list in order."
    def __init__(self):
        self.stages, self._open, self._stop = [], [], False
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self):
        while not self._stop:
            r = _rss_mb()
            for s in self._open: s['peak_rss_mb'] = max(s['peak_rss_mb'], r)
            time.sleep(0.02)

    @contextlib.contextmanager
    def stage(self, name):
        r = _rss_mb()
        s = dict(stage='/'.join([o['stage'].split('/')[-1] for o in self._open] + [name]), depth=len(self._open),
                 rss_before_mb=r, peak_rss_mb=r)
        self.stages.append(s); self._open.append(s)
        t, c = time.perf_counter(), time.process_time()
        try: yield s
        finally:
            s['wall_s'], s['cpu_s'] = time.perf_counter() - t, time.process_time() - c
            s['peak_rss_mb'] = max(s['peak_rss_mb'], _rss_mb()); s['rss_after_mb'] = _rss_mb()
            self._open.remove(s)


@contextlib.contextmanager
def _timed(prof, targets):
    """Time each `(owner, attr, label)` of `targets` as a sub-stage of `prof` while the block runs, then restore it.

    `label` is a name, or a format string of the instance (`'{m.name}.fit'`) for methods shared by several models."""
    saved = []
    def timed(f, label, method):
        if method:
            def g(self, *a, **k):
                with prof.stage(label.format(m=self)): return f(self, *a, **k)
        else:
            def g(*a, **k):
                with prof.stage(label): return f(*a, **k)
        return g
    for owner, attr, label in targets:
        f = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
        saved.append((owner, attr, f)); setattr(owner, attr, timed(f, label, isinstance(owner, type)))
    try: yield
    finally:
        for owner, attr, f in reversed(saved): setattr(owner, attr, f)


def _owner(cls, attr):
    "The class in `cls`'s MRO that defines `attr` (so a method shared by subclasses is timed once)."
    return next(c for c in cls.__mro__ if attr in c.__dict__)


def profile_log(name, smoke=False):
    "`evaluate_models` + `write_evaluation` (what `clv_nb evaluate` runs) on log `name`, each step they call timed and memory-sampled; the deep fit in detail."
    import tempfile
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    from clv_nb import evaluate as E, deep, features
    from clv_nb.baselines import BGNBDGG
    import keras
    _, log = build(name, smoke)   # built and cached before the clock starts: making the log is not evaluate's work
    models = E.default_models()
    # the steps of `evaluate_models` and `write_evaluation` (module functions they look up at call time) ...
    steps = [(E, f, f) for f in ('evaluation_split', 'score_models', 'intervals_and_value', 'with_segments', 'metrics_by_group',
                                  'inner_backtests', 'choose_default', 'split_tracking', 'report_plots')]
    # ... every model's fit and predict (the inner backtests' fits show under `inner_backtests`) ...
    owners = {(_owner(type(m), a), a) for m in models for a in ('fit', 'predict')}
    steps += [(o, a, '{m.name}.' + a) for o, a in sorted(owners, key=lambda t: (t[0].__name__, t[1]))]
    # ... and the deep model's fit in parts
    steps += [(deep, 'summarize', 'summarize'), (deep, 'week_sequences', 'week_sequences'),
              *[(features.CustomerDays, a, 'customer_days.' + a) for a in ('summary', 'sequences')], (_owner(BGNBDGG, 'fit_summary'), 'fit_summary', 'btyd_prior'),
              *[(deep.DeepCLVModel, a, a) for a in ('training_set', 'encode_log', 'train', 'forecast') if a in deep.DeepCLVModel.__dict__],
              (_owner(keras.Model, 'fit'), 'fit', 'keras_fit'), (_owner(keras.Model, 'predict'), 'predict', 'keras_predict')]
    P, load = Profiler(), [round(x, 2) for x in os.getloadavg()]
    with _timed(P, steps), P.stage('total'):
        with P.stage('clean_transactions'): tx, report = read_clean(name, smoke)
        ev = E.evaluate_models(tx, log.calibration_end, log.holdout_end, models, progress=False)
        with P.stage('write_evaluation'): E.write_evaluation(ev, Path(tempfile.mkdtemp(prefix='clv_profile_')), report, progress=False)
    P._stop = True
    r = lambda v: round(v, 2) if isinstance(v, float) else v
    import subprocess
    commit = subprocess.run(['git', '-C', str(HERE), 'describe', '--always', '--dirty'], capture_output=True, text=True).stdout.strip() or None
    return dict(log=name, lines=len(tx), customers_in_scope=len(ev.split.actual), cpus=os.cpu_count(), run_at=time.strftime('%Y-%m-%d %H:%M:%S'),
                commit=commit, loadavg_at_start=load, loadavg_at_end=[round(x, 2) for x in os.getloadavg()],
                deep_epochs_run=next((m.epochs_run for m in models if hasattr(m, 'epochs_run')), None),
                stages=[{k: r(v) for k, v in s.items()} for s in P.stages])


def collapse(stages):
    "Sum repeated sub-stages with the same path (calls of one function): calls, wall, CPU, max peak RSS."
    out = {}
    for s in stages:
        if 'wall_s' not in s: out[s['stage']] = s; continue
        o = out.setdefault(s['stage'], dict(stage=s['stage'], depth=s['depth'], calls=0, wall_s=0., cpu_s=0., peak_rss_mb=0.))
        o['calls'] += 1; o['wall_s'] += s['wall_s']; o['cpu_s'] += s['cpu_s']; o['peak_rss_mb'] = max(o['peak_rss_mb'], s['peak_rss_mb'])
    return [{k: round(v, 2) if isinstance(v, float) else v for k, v in o.items()} for o in out.values()]


def profile_markdown(profs):
    L = ['# Where `clv_nb evaluate` spends time and memory, stage by stage', '']
    for p in profs:
        L += [f"## {p['log']}", '', f"{p['lines']:,} lines, {p['customers_in_scope']:,} customers in scope; deep model "
              f"epochs {p['deep_epochs_run']}. Profiled {p['run_at']} (code {p['commit']}), load average {p['loadavg_at_start']} at the start, "
              f"{p['loadavg_at_end']} at the end. Reproduce: `python bench/suite.py --profile {p['log']}`.", '',
              '| stage | calls | wall s | CPU s | peak RSS MB |', '|---|---:|---:|---:|---:|']
        for s in collapse(p['stages']):
            if 'error' in s: L.append(f"| {s['stage']} | | failed: {s['error']} | | |"); continue
            L.append(f"| {'&nbsp;&nbsp;'*s['depth']}{s['stage'].split('/')[-1]} | {s['calls']} | {s['wall_s']:,.1f} | {s['cpu_s']:,.1f} | {s['peak_rss_mb']:,.0f} |")
        L.append('')
    return '\n'.join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--only', help=f'comma-separated logs (default: all but the big ones); have {",".join(LOGS)}')
    ap.add_argument('--all', action='store_true', help='include the big logs (sim_1m)')
    ap.add_argument('--smoke', action='store_true', help='tiny versions of every log, IN_TEST=1 (checks the harness)')
    ap.add_argument('--out', help='results JSON (default bench/suite_results.json; smoke: bench/out/suite_results_smoke.json)')
    ap.add_argument('--profile', help='comma-separated logs to profile stage by stage (in-process) instead of running the suite')
    ap.add_argument('--profile-out', default=str(HERE/'suite_profile.json'))
    ap.add_argument('--render', action='store_true', help="only re-render the markdown of the results JSON (--out); records without the inner split's figures take them from their run's metrics.json when it is the same run")
    ap.add_argument('--timeout', type=float, help='seconds after which a log\'s evaluate run is stopped (recorded as such)')
    a = ap.parse_args()
    names = a.only.split(',') if a.only else [n for n, l in LOGS.items() if a.all or not l.big or a.smoke]
    unknown = [n for n in names if n not in LOGS]
    if unknown: sys.exit(f"suite: unknown log(s) {unknown}; have {list(LOGS)}")
    if a.profile:
        po = Path(a.profile_out); prev = json.loads(po.read_text()) if po.exists() else {'profiles': {}}
        for n in a.profile.split(','):
            p = profile_log(n, a.smoke); prev['profiles'][n] = p
            print(profile_markdown([p]), file=sys.stderr, flush=True)
            po.write_text(json.dumps(prev, indent=1) + '\n'); po.with_suffix('.md').write_text(profile_markdown(prev['profiles'].values()))
        print(json.dumps(prev)); return
    jp = Path(a.out) if a.out else (HERE/'out'/'suite_results_smoke.json' if a.smoke else HERE/'suite_results.json')
    jp.parent.mkdir(parents=True, exist_ok=True)
    if a.render:
        res = json.loads(jp.read_text())
        filled = backfill_inner(res, a.smoke)
        if filled:
            print(f"inner split's figures taken from the runs' own metrics.json: {', '.join(filled)}", file=sys.stderr)
            jp.write_text(json.dumps(res, indent=1) + '\n')
        jp.with_suffix('.md').write_text(markdown(res)); return
    cmd = 'python bench/suite.py' + (' --smoke' if a.smoke else '') + (f' --only {a.only}' if a.only else '') + (' --all' if a.all else '')
    res = json.loads(jp.read_text()) if (a.only and jp.exists()) else {}
    run = dict(started=time.strftime('%Y-%m-%d %H:%M:%S'), cpus=os.cpu_count(), smoke=a.smoke, command=cmd)
    if res: res.setdefault('reruns', []).append({**run, 'logs': names})
    else: res = {**run, 'logs': {}}
    t0 = time.time()
    for n in names:
        rec = run_log(n, a.smoke, a.timeout)
        if 'error' not in rec:
            rec['smoke'] = a.smoke
            try: rec['recommendation'] = recommendation_check(n, rec)
            except Exception as e: rec['recommendation_error'] = f'{type(e).__name__}: {e}'[:300]
        res['logs'][n] = rec
        print(f"{n}: exit {rec['exit']}, {rec['wall_s']} s, {rec['peak_rss_mb']} MB" + (f", default {rec.get('default_model')} "
              f"targets {rec.get('targets')}" if 'error' not in rec else f"\n{rec['error']}"), file=sys.stderr, flush=True)
        jp.write_text(json.dumps(res, indent=1) + '\n'); jp.with_suffix('.md').write_text(markdown(res))
    res['last_run_wall_s'] = round(time.time() - t0, 1)
    jp.write_text(json.dumps(res, indent=1) + '\n'); jp.with_suffix('.md').write_text(markdown(res))
    print(json.dumps(res))


if __name__ == '__main__': main()
