"""Hyperparameter / architecture search for `DeepCLVModel`, scored on INNER validation only.

Every configuration is fitted on CDNOW (calibration 1997-01-01..1997-09-30) and on two unlike simulator regimes;
each fit records its inner-validation metrics (validation customers, every inner label window) in search_log.jsonl.
The holdout period is never read. Usage: python experiments/search.py [--smoke]
"""
import sys, json, time, argparse
from pathlib import Path
import pandas as pd
from clv_nb.data import load_cdnow, simulate_transactions
from clv_nb.deep import DeepCLVModel

REGIMES = {
    # slow churn, no calendar effects, acquisition spread over a year
    'sim_flat_slow': dict(n_customers=6000, seed=1, n_weeks=104, acquisition_weeks=52, a=0.4, b=6.0, r=0.5, alpha=5.0,
                          seasonality_on=False, channels=False),
    # fast churn, weekly + December seasonality, acquisition channels
    'sim_seasonal_fast': dict(n_customers=6000, seed=2, n_weeks=104, acquisition_weeks=26, a=1.5, b=2.0, r=0.8, alpha=3.0,
                              seasonality_on=True, annual=1.0, channels=True),
}

def simulate_trend(n_customers=6000, seed=3, n_weeks=104, acquisition_weeks=26, start='2020-01-01'):
    """A log whose histories carry information beyond (frequency, recency, T): each customer's purchase rate drifts.

    lambda_i(t) = lambda0_i * exp(delta_i * weeks since acquisition), lambda0 ~ Gamma(1, 0.25)/week, delta ~ N(-0.02, 0.03)
    (most customers fade gradually, some grow; no sudden dropout). Under BG/NBD and Pareto/NBD, (x, t_x, T) are
    sufficient statistics; here they are not: *when* within the history the purchases fell says where the rate is heading.
    Spend: per-customer mean ~ Gamma(4, 15), each transaction ~ Gamma(6, mean/6)."""
    import numpy as np
    rng = np.random.default_rng(seed); n = int(n_customers); L_end = 7.0*n_weeks
    t0 = rng.uniform(0, 7.0*acquisition_weeks, n); L = L_end - t0
    lam0 = rng.gamma(1.0, 0.25, n); delta = rng.normal(-0.02, 0.03, n)
    lam_max = np.minimum(lam0*np.maximum(1.0, np.exp(delta*L/7)), 3.0)
    N = rng.poisson(lam_max*L/7); cid = np.repeat(np.arange(n), N)
    t = t0[cid] + rng.random(len(cid))*L[cid]
    keep = rng.random(len(cid)) < np.minimum(lam0[cid]*np.exp(delta[cid]*(t - t0[cid])/7), 3.0)/lam_max[cid]
    cid = np.r_[np.arange(n), cid[keep]]; t = np.r_[t0, t[keep]]          # the first purchase at acquisition
    mean = rng.gamma(4.0, 15.0, n); amt = np.round(rng.gamma(6.0, mean[cid]/6.0), 2)
    day = pd.Timestamp(start) + pd.to_timedelta(np.floor(t), unit='D')
    tx = pd.DataFrame({'customer_id': pd.Series(cid).map(lambda i: f'T{i:05d}'), 'date': day, 'amount': amt})
    return tx.sort_values(['customer_id', 'date']).reset_index(drop=True)

CUSTOM_REGIMES = {'sim_trend': simulate_trend}

CONFIGS = {
    'lstm32': dict(),                                   # the default
    'static_only': dict(arch='static'),                 # ablation: no sequence input
    'lstm32_shuffled_seq': dict(shuffle_seq=True),      # ablation: sequences shuffled across rows
    'cnn32': dict(arch='cnn'),                          # other architecture
    'lstm16': dict(units=16),
    'lstm32_windows_1/3_1/2': dict(window_fracs=(1/3, 1/2)),
    'lstm32_drop0.3_l2_1e-3': dict(dropout=0.3, l2=1e-3),
    'lstm32_ziln': dict(spend_head='ziln'),             # ZILN spend head instead of the Poisson one
    'lstm32_context': dict(context=True),               # + channel embedding (only sim_seasonal_fast has a covariate)
}
SEED_CONFIGS = {  # the default and its ablations with another training seed (sequence_log.jsonl; not in the default search,
    'lstm32_seed1': dict(seed=1),                     # whose log 05_train's selection rule reads)
    'static_only_seed1': dict(arch='static', seed=1),
    'lstm32_shuffled_seq_seed1': dict(shuffle_seq=True, seed=1),
}
SIM_CAL = str((pd.Timestamp('2020-01-01') + pd.Timedelta(days=7*65 - 1)).date())  # 65-week calibration of the simulated logs

def dataset(name, smoke=False):
    if name == 'cdnow':
        tx = load_cdnow('master')
        if smoke: tx = tx[tx.customer_id.isin(tx.customer_id.drop_duplicates().iloc[:500])]
        return tx, '1997-09-30'
    if name in CUSTOM_REGIMES:
        return CUSTOM_REGIMES[name](n_customers=300 if smoke else 6000), SIM_CAL
    kw = dict(REGIMES[name]); kw['n_customers'] = 300 if smoke else kw['n_customers']
    tx, _ = simulate_transactions(**kw)
    return tx, SIM_CAL

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--smoke', action='store_true')
    ap.add_argument('--configs', default=','.join(CONFIGS)); ap.add_argument('--datasets', default='sim_flat_slow,sim_seasonal_fast,cdnow')
    ap.add_argument('--out', default=str(Path(__file__).parent/'search_log.jsonl'))
    a = ap.parse_args()
    with open(a.out, 'a') as f:
        for ds in a.datasets.split(','):
            tx, cal = dataset(ds, a.smoke)
            for nm in a.configs.split(','):
                kw = dict((CONFIGS | SEED_CONFIGS)[nm], **(dict(epochs=1) if a.smoke else {}))
                t = time.time(); m = DeepCLVModel(**kw).fit(tx, cal)
                rec = dict(dataset=ds, config=nm, params=m.config, calibration_end=cal, fit_seconds=round(time.time() - t, 1),
                           epochs_run=m.epochs_run, inner=m.inner)
                f.write(json.dumps(rec) + '\n'); f.flush()
                w = m.inner[-1]
                print(ds, nm, rec['fit_seconds'], 'spend_rmse', round(w['model']['spend_rmse'], 3), 'vs btyd', round(w['btyd']['spend_rmse'], 3),
                      'gini', round(w['model']['gini'], 4), 'vs', round(w['btyd']['gini'], 4), file=sys.stderr, flush=True)
