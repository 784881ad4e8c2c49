#!/usr/bin/env python
"""Research on the deep model's defaults, scored on the development suite's INNER split only.

Selection protocol (what the tool's recommendation will use): for a log with calibration end C, holdout length H
weeks and calibration span S weeks (first transaction day to C), the inner calibration end is
C' = C - round(7 min(H, S/2)) days and the inner holdout is (C', C]. Every model is fitted on the log truncated at C'
(nothing after C is ever read), (C', C] is scored with `clv_nb.evaluate.metrics`, horizon (C - C')/7 weeks.
Candidates are compared only on these inner figures (and on the deep model's own `model.inner`), across all the
suite's logs (`bench/suite_logs.py`). Every fit appends one JSON line to `experiments/research_log.jsonl`: the log,
the candidate and its configuration, the split, every metric, fit time, epochs, training-set size, the model's
`inner` windows, or the error of a failed fit (recorded; the run goes on).

    python experiments/deep_research.py --logs cdnow,cj --candidates default,horizon_windows   # inner split
    python experiments/deep_research.py --summary                  # candidates vs BG/NBD+GG and naive, inner figures
    python experiments/deep_research.py --final --candidates default,recipe   # the real holdout: the FINAL REPORT only

`--final` fits on the calibration period and scores the real holdout (what `clv_nb evaluate` does); it writes to
`experiments/final_log.jsonl`, never read by `--summary` or by any selection.
"""
import argparse, json, os, sys, time, traceback
from pathlib import Path

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'bench')); sys.path.insert(0, str(ROOT/'experiments'))
import numpy as np, pandas as pd  # noqa: E402
from suite_logs import LOGS, read_clean, CACHE, VERSION  # noqa: E402

RESEARCH_LOG = ROOT/'experiments'/'research_log.jsonl'
FINAL_LOG = ROOT/'experiments'/'final_log.jsonl'
BASELINES = ('bgnbd_gg', 'paretonbd_gg', 'naive')
SUITE = [n for n, l in LOGS.items() if not l.big]
TARGET_LOGS = [n for n in SUITE if n != 'sim_tiny_50']   # the targets exclude the tiny shop


def cleaned(name, smoke=False):
    "The suite log cleaned as `clv_nb evaluate` cleans it (cached as parquet)."
    p = CACHE/f'clean_{name}{"_smoke" if smoke else ""}_v{VERSION}.parquet'
    if not p.exists():
        tx, _ = read_clean(name, smoke)
        tx.to_parquet(p, index=False)
    return pd.read_parquet(p)


def inner_split(tx, calibration_end, holdout_end) -> dict:
    "The inner split: the log truncated at C, inner calibration end C', horizon (C - C')/7 (the protocol above)."
    from clv_nb.evaluate import as_day, calibration_rows
    C, he = as_day(calibration_end, 'calibration end'), as_day(holdout_end, 'holdout end')
    t = calibration_rows(tx, C)                                        # nothing after C is read
    S = (C - t['date'].min().normalize()).days/7; H = (he - C).days/7
    d = int(round(7*min(H, S/2)))
    return dict(tx=t, calibration_end=C - pd.Timedelta(days=d), end=C, horizon=d/7, S=S, H=H)


def fit_score(model, tx, calibration_end, end, horizon, posthoc=None) -> dict:
    "Fit `model` on rows <= calibration_end (customers in scope), predict `horizon`, score (calibration_end, end]; + post-hoc variants."
    from clv_nb.evaluate import summarize, calibration_rows, metrics, _isin, _clip_prob, check_predictions
    actual = summarize(tx, calibration_end, end)
    cal = calibration_rows(tx, calibration_end); cal = cal[_isin(cal['customer_id'], actual.index)]
    t0 = time.time()
    if hasattr(model, 'horizon_hint'): model.horizon_hint = float(horizon)  # the evaluation knows its horizon before fitting
    try:
        m = model.fit(cal.copy(), calibration_end) or model
        t1 = time.time()
        p = check_predictions(_clip_prob(m.predict(horizon)))
        out = dict(metrics=metrics(actual, p), fit_s=round(t1 - t0, 1), predict_s=round(time.time() - t1, 2))
    except Exception as e:  # a failed fit is recorded and the run goes on
        return dict(error=f'{type(e).__name__}: {e}'[:500], fit_s=round(time.time() - t0, 1),
                    where=traceback.format_exc().strip().splitlines()[-3][:300])
    for k in ('epochs_run', 'inner', 'n_train', 'train_info'):
        if hasattr(m, k): out[k] = getattr(m, k)
    out['posthoc'] = {}
    for vn, over in (posthoc or {}).items():  # prediction-time settings: the same fitted network, predicted again
        saved = {k: m.config[k] for k in over}
        m.config.update(over)
        try: out['posthoc'][vn] = dict(metrics=metrics(actual, check_predictions(_clip_prob(m.predict(horizon)))), overrides=over)
        except Exception as e: out['posthoc'][vn] = dict(error=f'{type(e).__name__}: {e}'[:300], overrides=over)
        m.config.update(saved)
    return out


def make(name):
    "A fresh model for a candidate or baseline name."
    from clv_nb.baselines import BGNBDGG, ParetoNBDGG, Naive
    if name in BASELINES: return dict(bgnbd_gg=BGNBDGG, paretonbd_gg=ParetoNBDGG, naive=Naive)[name]()
    from deep_candidates import CANDIDATES, build
    return build(name)


def config_of(name):
    if name in BASELINES: return {}
    from deep_candidates import CANDIDATES
    return CANDIDATES[name]


def _jsonable(x):
    if isinstance(x, dict): return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)): return [_jsonable(v) for v in x]
    if isinstance(x, np.integer): return int(x)
    if isinstance(x, (float, np.floating)): return None if not np.isfinite(x) else float(x)
    return x


def read_log(path=RESEARCH_LOG):
    if not Path(path).exists(): return []
    return [json.loads(l) for l in Path(path).read_text().splitlines() if l.strip()]


def done(recs, log, cand, inner_end):
    return any(r['log'] == log and r['candidate'] == cand and r['split']['calibration_end'] == inner_end and 'error' not in r
               for r in recs)


def run(logs, cands, final=False, smoke=False, rerun=False, tag=None):
    out = FINAL_LOG if final else RESEARCH_LOG
    if smoke: out = CACHE/('smoke_' + out.name)
    recs = read_log(out)
    for ln in logs:
        tx = cleaned(ln, smoke); L = LOGS[ln]
        if final:
            from clv_nb.evaluate import as_day, default_horizon
            sp = dict(tx=tx, calibration_end=as_day(L.calibration_end), end=as_day(L.holdout_end),
                      horizon=default_horizon(L.calibration_end, L.holdout_end))
        else: sp = inner_split(tx, L.calibration_end, L.holdout_end)
        split = dict(calibration_end=str(sp['calibration_end'].date()), end=str(sp['end'].date()), horizon_weeks=round(sp['horizon'], 4),
                     kind='final_holdout' if final else 'inner')
        for c in cands:
            if not rerun and c in BASELINES and done(recs, ln, c, split['calibration_end']): continue
            t = time.time()
            r = fit_score(make(c), sp['tx'], sp['calibration_end'], sp['end'], sp['horizon'], config_of(c).get('posthoc'))
            ph = r.pop('posthoc', {})
            rec = _jsonable(dict(log=ln, candidate=c, config=config_of(c), split=split, smoke=smoke, tag=tag,
                                 at=time.strftime('%Y-%m-%d %H:%M:%S'), load=round(os.getloadavg()[0], 2), wall_s=round(time.time() - t, 1), **r))
            sub = [_jsonable(dict(log=ln, candidate=f'{c}@{vn}', config=dict(config_of(c), **v['overrides']), base=c, split=split, smoke=smoke,
                                  tag=tag, at=rec['at'], fit_s=rec.get('fit_s'), **{k: x for k, x in v.items() if k != 'overrides'}))
                   for vn, v in ph.items()]
            with open(out, 'a') as f:
                for x in [rec] + sub: f.write(json.dumps(x) + '\n')
            recs += [rec] + sub
            for x in sub:
                mm = x.get('metrics')
                if mm: print(f"{ln:22s} {x['candidate']:28s} spend_rmse {mm['spend_rmse']:9.3f} tx_rmse {mm['tx_rmse']:7.4f} gini {mm['gini']:.4f} "
                             f"top20 {mm['top20_capture']:.4f} agg {mm['agg_spend_err_pct']:+7.1f}%", file=sys.stderr, flush=True)
            m = rec.get('metrics')
            print(f"{ln:22s} {c:28s} " + (f"spend_rmse {m['spend_rmse']:9.3f} tx_rmse {m['tx_rmse']:7.4f} gini {m['gini']:.4f} "
                  f"top20 {m['top20_capture']:.4f} agg {m['agg_spend_err_pct']:+7.1f}% fit {rec['fit_s']}s ep {rec.get('epochs_run')}"
                  if m else f"FAILED {rec['error'][:150]}"), file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------- summary
KEYS = ('spend_rmse', 'gini', 'top20_capture', 'agg_spend_err_pct', 'tx_rmse')


def wins(m, b, nv):
    "The targets on one log: beats BG/NBD+GG on spend_rmse, gini, top20, |agg spend|, no worse tx_rmse; beats naive spend_rmse."
    return dict(spend_rmse=m['spend_rmse'] < b['spend_rmse'], gini=m['gini'] > b['gini'], top20=m['top20_capture'] > b['top20_capture'],
                agg=abs(m['agg_spend_err_pct']) < abs(b['agg_spend_err_pct']), tx_rmse=m['tx_rmse'] <= b['tx_rmse'],
                naive=(nv is None) or m['spend_rmse'] < nv['spend_rmse'])


def latest(recs):
    "Latest successful record per (log, candidate, split end)."
    out = {}
    for r in recs:
        if 'metrics' in r: out[(r['log'], r['candidate'])] = r
    return out


def summary(recs, cands=None, logs=None, quiet=False):
    "Per candidate: per log the spend_rmse ratio to BG/NBD+GG, gini/top20 differences, |agg| and targets met; means over logs."
    L = latest(recs)
    logs = logs or [l for l in SUITE if any(k[0] == l for k in L)]
    cands = cands or list(dict.fromkeys(r['candidate'] for r in recs if r['candidate'] not in BASELINES))
    rows = []
    for c in cands:
        per = {}
        for l in logs:
            if (l, c) not in L or (l, 'bgnbd_gg') not in L: continue
            m, b = L[(l, c)]['metrics'], L[(l, 'bgnbd_gg')]['metrics']
            nv = L.get((l, 'naive'), {}).get('metrics')
            w = wins(m, b, nv)
            per[l] = dict(spend_ratio=m['spend_rmse']/b['spend_rmse'], tx_ratio=m['tx_rmse']/b['tx_rmse'],
                          d_gini=m['gini'] - b['gini'], d_top20=m['top20_capture'] - b['top20_capture'],
                          agg=m['agg_spend_err_pct'], agg_b=b['agg_spend_err_pct'], wins=w, all=all(w.values()),
                          fit_s=L[(l, c)].get('fit_s'))
        if not per: continue
        tl = [l for l in per if l in TARGET_LOGS]
        rows.append(dict(candidate=c, logs=len(per), all_met=sum(per[l]['all'] for l in tl), of=len(tl),
                         targets_met=sum(sum(per[l]['wins'].values()) for l in tl), targets_of=6*len(tl),
                         mean_spend_ratio=float(np.mean([per[l]['spend_ratio'] for l in per])),
                         mean_tx_ratio=float(np.mean([per[l]['tx_ratio'] for l in per])),
                         mean_d_gini=float(np.mean([per[l]['d_gini'] for l in per])),
                         mean_abs_agg=float(np.mean([abs(per[l]['agg']) for l in per])), per=per))
    if not quiet:
        for r in rows:
            print(f"\n{r['candidate']}: all targets on {r['all_met']}/{r['of']} logs, {r['targets_met']}/{r['targets_of']} targets; "
                  f"mean spend_rmse ratio {r['mean_spend_ratio']:.4f}, tx ratio {r['mean_tx_ratio']:.4f}, "
                  f"d_gini {r['mean_d_gini']:+.4f}, mean |agg| {r['mean_abs_agg']:.1f}%")
            for l, p in r['per'].items():
                lost = [k for k, v in p['wins'].items() if not v]
                print(f"   {l:22s} spend x{p['spend_ratio']:.4f} tx x{p['tx_ratio']:.4f} gini {p['d_gini']:+.4f} top20 {p['d_top20']:+.4f} "
                      f"agg {p['agg']:+6.1f}% (bg {p['agg_b']:+6.1f}%) fit {p['fit_s']}s " + ('ALL' if p['all'] else 'lost: ' + ','.join(lost)))
    return rows


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--logs', default=','.join(SUITE))
    ap.add_argument('--candidates', default='default')
    ap.add_argument('--baselines', action='store_true', help='also fit the baselines (once per log and split; cached in the log)')
    ap.add_argument('--final', action='store_true', help='the real holdout (final report only; written to final_log.jsonl)')
    ap.add_argument('--smoke', action='store_true'); ap.add_argument('--rerun', action='store_true')
    ap.add_argument('--tag', help='free-form label stored with each record (e.g. a screening round)')
    ap.add_argument('--summary', action='store_true')
    a = ap.parse_args()
    if a.summary:
        summary(read_log(FINAL_LOG if a.final else RESEARCH_LOG), a.candidates.split(',') if a.candidates != 'default' else None,
                a.logs.split(',') if a.logs != ','.join(SUITE) else None)
    else:
        cands = (list(BASELINES) if a.baselines else []) + [c for c in a.candidates.split(',') if c]
        run(a.logs.split(','), cands, a.final, a.smoke, a.rerun, a.tag)
