"""Hyperparameter / architecture search for `DeepCLVModel`, scored on INNER validation only.

Every configuration is fitted on CDNOW (calibration 1997-01-01..1997-09-30) and on two unlike simulator regimes;
each fit records its inner-validation metrics (validation customers, every inner label window) in search_log.jsonl.
The holdout period is never read. Usage: python experiments/search.py [--smoke]
"""
import sys, json, time, argparse
from pathlib import Path
import pandas as pd
from clv_nb.data import load_cdnow, simulate_transactions
from clv_nb.train import DeepCLVModel

REGIMES = {
    # slow churn, no calendar effects, acquisition spread over a year
    'sim_flat_slow': dict(n_customers=6000, seed=1, n_weeks=104, acquisition_weeks=52, a=0.4, b=6.0, r=0.5, alpha=5.0,
                          seasonality_on=False, channels=False),
    # fast churn, weekly + December seasonality, acquisition channels
    'sim_seasonal_fast': dict(n_customers=6000, seed=2, n_weeks=104, acquisition_weeks=26, a=1.5, b=2.0, r=0.8, alpha=3.0,
                              seasonality_on=True, annual=1.0, channels=True),
}
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

def dataset(name, smoke=False):
    if name == 'cdnow':
        tx = load_cdnow('master')
        if smoke: tx = tx[tx.customer_id.isin(tx.customer_id.drop_duplicates().iloc[:500])]
        return tx, '1997-09-30'
    kw = dict(REGIMES[name]); kw['n_customers'] = 300 if smoke else kw['n_customers']
    tx, _ = simulate_transactions(**kw)
    return tx, str((pd.Timestamp('2020-01-01') + pd.Timedelta(days=7*65 - 1)).date())  # 65-week calibration

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--smoke', action='store_true')
    ap.add_argument('--configs', default=','.join(CONFIGS)); ap.add_argument('--datasets', default='sim_flat_slow,sim_seasonal_fast,cdnow')
    ap.add_argument('--out', default=str(Path(__file__).parent/'search_log.jsonl'))
    a = ap.parse_args()
    with open(a.out, 'a') as f:
        for ds in a.datasets.split(','):
            tx, cal = dataset(ds, a.smoke)
            for nm in a.configs.split(','):
                kw = dict(CONFIGS[nm], **(dict(epochs=1) if a.smoke else {}))
                t = time.time(); m = DeepCLVModel(**kw).fit(tx, cal)
                rec = dict(dataset=ds, config=nm, params=m.config, calibration_end=cal, fit_seconds=round(time.time() - t, 1),
                           epochs_run=m.epochs_run, inner=m.inner)
                f.write(json.dumps(rec) + '\n'); f.flush()
                w = m.inner[-1]
                print(ds, nm, rec['fit_seconds'], 'spend_rmse', round(w['model']['spend_rmse'], 3), 'vs btyd', round(w['btyd']['spend_rmse'], 3),
                      'gini', round(w['model']['gini'], 4), 'vs', round(w['btyd']['gini'], 4), file=sys.stderr, flush=True)
