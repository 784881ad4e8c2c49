"""Does the sequence input earn its place? Inner-validation metrics of the default (lstm32) against its ablations
(static_only: no sequence input; lstm32_shuffled_seq: sequences shuffled across customers), per dataset, averaged over
the inner label windows, from search_log.jsonl and sequence_log.jsonl (never the holdout); every run of a
configuration, in log order; `_seed1` configurations are the same with training seed 1.
Usage: python experiments/ablation_summary.py"""
import json
from pathlib import Path
import numpy as np

KEYS = ['tx_rmse', 'spend_rmse', 'gini', 'top20_capture']
HERE = Path(__file__).parent
rows = [json.loads(l) for f in ('search_log.jsonl', 'sequence_log.jsonl')
        for l in (HERE/f).read_text().splitlines() if l.strip()]
mean = lambda r, who: [np.mean([w[who][k] for w in r['inner']]) for k in KEYS]
print('| dataset | seed | config | run | ' + ' | '.join(KEYS) + ' | spend_rmse vs lstm32 |\n|---|---:|---|---:|'
      + '---:|'*(len(KEYS) + 1))
for ds in dict.fromkeys(r['dataset'] for r in rows):
    for sfx, seed in (('', 0), ('_seed1', 1)):
        runs = {c: [x for x in rows if x['dataset'] == ds and x['config'] == c + sfx]
                for c in ('lstm32', 'static_only', 'lstm32_shuffled_seq')}
        if not runs['lstm32']: continue
        ref = mean(runs['lstm32'][-1], 'model')[1]          # the latest run of the default
        for cfg, rs in runs.items():
            for run, r in enumerate(rs, 1):
                v = mean(r, 'model')
                print(f'| {ds} | {seed} | {cfg} | {run} | ' + ' | '.join(f'{x:.3f}' for x in v) + f' | {v[1]/ref - 1:+.1%} |')
        v = mean(runs['lstm32'][-1], 'btyd')
        print(f'| {ds} | {seed} | (BG/NBD+GG alone) | | ' + ' | '.join(f'{x:.3f}' for x in v) + f' | {v[1]/ref - 1:+.1%} |')
