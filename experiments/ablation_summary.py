"""Does the sequence input earn its place? Inner-validation metrics of the default (lstm32) against its ablations
(static_only: no sequence input; lstm32_shuffled_seq: sequences shuffled across customers), per dataset, averaged over
the inner label windows, from search_log.jsonl (never the holdout); every run of a configuration, in log order. Usage: python experiments/ablation_summary.py"""
import json
from pathlib import Path
import numpy as np

KEYS = ['tx_rmse', 'spend_rmse', 'gini', 'top20_capture']
rows = [json.loads(l) for l in (Path(__file__).parent/'search_log.jsonl').read_text().splitlines() if l.strip()]
print('| dataset | config | run | ' + ' | '.join(KEYS) + ' |\n|---|---|---:|' + '---:|'*len(KEYS))
for ds in dict.fromkeys(r['dataset'] for r in rows):
    for cfg in ['lstm32', 'static_only', 'lstm32_shuffled_seq']:
        for run, r in enumerate([x for x in rows if x['dataset'] == ds and x['config'] == cfg], 1):  # runs in log order
            vals = [np.mean([w['model'][k] for w in r['inner']]) for k in KEYS]
            print(f'| {ds} | {cfg} | {run} | ' + ' | '.join(f'{v:.3f}' for v in vals) + ' |')
    for run, r in enumerate([x for x in rows if x['dataset'] == ds and x['config'] == 'lstm32'], 1):
        print(f'| {ds} | (BG/NBD+GG alone) | {run} | ' + ' | '.join(f"{np.mean([w['btyd'][k] for w in r['inner']]):.3f}" for k in KEYS) + ' |')
