#!/usr/bin/env python
"""Benchmark the classical baselines of `clv_nb.baselines` against `lifetimes` (benchmark-only peer).

    python bench/bench_baselines.py            # full CDNOW (23,570 customers) + 1M simulated customers
    python bench/bench_baselines.py --smoke    # CDNOW sample + 20k simulated customers, a few seconds

Figures (JSON on stdout, or --out FILE):
  bgnbd_cdnow: median fit seconds, ours vs lifetimes.BetaGeoFitter on the same summary, their ratio
               (lifetimes / ours, > 1 means we are faster) and the max relative parameter difference (target <= 1e-3);
  paretonbd_cdnow, gammagamma_cdnow: the same for ParetoNBDFitter / GammaGammaFitter;
  bgnbd_sim / paretonbd_sim: fit seconds on n simulated customers (target for BG/NBD on 1M: < 30 s).
"""
import argparse, json, os, sys, time, warnings
import numpy as np

from clv_nb.baselines import BetaGeo, ParetoNBD, GammaGamma, sample_bgnbd_summary, sample_paretonbd_summary
from clv_nb.data import load_cdnow
from clv_nb.features import summarize


def timed(f, repeats):
    "Median wall seconds of `repeats` calls and the last result."
    ts, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter(); out = f(); ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), out


def max_rel(ours:dict, theirs:dict, names_theirs):
    return float(max(abs(ours[k]/theirs[kt] - 1) for k, kt in zip(ours, names_theirs)))


def compare(name, ours_fit, peer_fit, peer_names, repeats):
    t_o, o = timed(ours_fit, repeats)
    res = {'ours_fit_s': round(t_o, 4), 'params': {k: round(v, 6) for k, v in o.params_.items()}}
    if peer_fit is None: return res
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            t_p, p = timed(peer_fit, repeats)
        pp = p.params_.to_dict() if hasattr(p.params_, 'to_dict') else dict(p.params_)
        res.update({'lifetimes_fit_s': round(t_p, 4), 'speed_ratio_lifetimes_over_ours': round(t_p/t_o, 3),
                    'max_rel_param_diff': max_rel(o.params_, pp, peer_names)})
    except Exception as e:  # the peer is only a comparison: report, do not fail
        res['lifetimes_error'] = f'{type(e).__name__}: {e}'[:200]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--smoke', action='store_true', help='tiny sizes, a few seconds')
    ap.add_argument('--out', help='write the JSON here instead of stdout')
    ap.add_argument('--repeats', type=int, default=None)
    a = ap.parse_args()
    reps = a.repeats or (1 if a.smoke else 5)
    try:
        import lifetimes
        from lifetimes import BetaGeoFitter, ParetoNBDFitter, GammaGammaFitter
        peer = f'lifetimes {lifetimes.__version__}'
    except Exception as e:
        BetaGeoFitter = ParetoNBDFitter = GammaGammaFitter = None
        peer = f'lifetimes unavailable ({type(e).__name__}: {e})'[:200]

    which = 'sample' if a.smoke else 'master'
    s = summarize(load_cdnow(which), '1997-09-30')
    f, r, T, m = (s[c].to_numpy('float64') for c in ('frequency', 'recency', 'T', 'monetary_value'))
    rep = (f > 0) & (m > 0)
    out = {'peer': peer, 'data': f'CDNOW {which} ({len(s)} customers, calibration end 1997-09-30)', 'repeats': reps}
    out['bgnbd_cdnow'] = compare('bgnbd', lambda: BetaGeo().fit(f, r, T),
                                 BetaGeoFitter and (lambda: BetaGeoFitter().fit(f, r, T)), ['r', 'alpha', 'a', 'b'], reps)
    out['paretonbd_cdnow'] = compare('paretonbd', lambda: ParetoNBD().fit(f, r, T),
                                     ParetoNBDFitter and (lambda: ParetoNBDFitter().fit(f, r, T)),
                                     ['r', 'alpha', 's', 'beta'], 1 if not a.smoke else 1)
    out['gammagamma_cdnow'] = compare('gg', lambda: GammaGamma().fit(f[rep], m[rep]),
                                      GammaGammaFitter and (lambda: GammaGammaFitter().fit(f[rep], m[rep])),
                                      ['p', 'q', 'v'], reps)

    n = 20_000 if a.smoke else 1_000_000
    sim = sample_bgnbd_summary(n, seed=0)
    t, fb = timed(lambda: BetaGeo().fit(sim['frequency'], sim['recency'], sim['T']), 1)
    out['bgnbd_sim'] = {'n_customers': n, 'unique_rows': fb.n_rows_, 'fit_s': round(t, 3), 'target_s': 30,
                        'finite': bool(np.isfinite(fb.log_likelihood_)),
                        'params': {k: round(v, 4) for k, v in fb.params_.items()}, 'truth': [0.25, 4.0, 0.8, 2.5]}
    simp = sample_paretonbd_summary(n, seed=0)
    t, fp = timed(lambda: ParetoNBD().fit(simp['frequency'], simp['recency'], simp['T']), 1)
    out['paretonbd_sim'] = {'n_customers': n, 'unique_rows': fp.n_rows_, 'fit_s': round(t, 3),
                            'finite': bool(np.isfinite(fp.log_likelihood_)),
                            'params': {k: round(v, 4) for k, v in fp.params_.items()}, 'truth': [0.55, 10.0, 0.6, 12.0]}
    txt = json.dumps(out, indent=1)
    if a.out:
        with open(a.out, 'w') as fh: fh.write(txt + '\n')
    print(txt)


if __name__ == '__main__':
    main()
