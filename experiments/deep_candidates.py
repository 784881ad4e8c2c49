"""Candidate deep models for the development suite (prototypes; the winner is to be ported into the package).

`CANDIDATES[name]` is a configuration; `build(name)` returns a fresh, unfitted model. `default` is the package's
`clv_nb.train.DeepCLVModel()` as it is today. `SuiteCLVModel` subclasses it; every addition is an option, off by
default, so that a candidate is the package's model plus the options it names:

- robust BTYD offsets: where the BG/NBD or Gamma-Gamma MLE of an inner cut is a boundary solution (e.g. a -> 0: no
  dropout, a panel of households), the offsets take the bounded MLE instead of failing the fit (always on here; the
  package's own fit chain is being reworked and will replace this);
- `min_span`: the shortest calibration span accepted (the package needs 4 weeks; an 8 + 8-week log's inner split has 3.9);
- `origins`, `origin_stride`, `min_hist_frac`: label windows from several origins (rolling), not all ending at the
  calibration end, so that a window's calendar and the shop's state vary across training rows;
- `hint_window`: a label window as long as the horizon that will be asked (`horizon_hint`, set before `fit`: the
  evaluation knows its holdout), capped at `max_window_frac` of the span;
- `calendar`: the share of the label window (of the horizon, at prediction) falling in each calendar month;
- `rhythm`: per-customer gap regularity (mean gap, coefficient of variation of the gaps, silence in mean gaps);
- `returns`: per-customer returned share of the amount and share of return days;
- `blend`: each head's correction is multiplied by a weight in [0, 1] chosen on the validation customers' windows
  (0 = the BTYD offsets), so a correction that does not help is switched off;
- `max_train`: train on a random sample of at most this many customers (the BTYD fits at the cuts use everyone); every
  customer is scored, their sequences encoded in chunks.
"""
import time
import numpy as np
import pandas as pd
import keras
from scipy import optimize

from clv_nb.core import CLVUserError
from clv_nb import train as T
from clv_nb.train import (DeepCLVModel, daily_activity, summary_at, week_sequences, window_labels, static_features,
                          fit_bgnbd, fit_gg, _day, _isin_ids, _metrics, STATIC_FEATURES, CONTEXT_COLS)
from clv_nb.model import build_net, poisson_log_loss, ziln_loss, ziln_mean
from clv_nb.baselines import ConvergenceError, bgnbd_loglik, gammagamma_loglik, _group


# ------------------------------------------------------------------------------------------------- robust offsets
def _bounded_mle(negll, k, lo=-11.0, hi=11.0):
    "L-BFGS-B on log-parameters inside [lo, hi] (a boundary solution is kept at the bound instead of failing)."
    res = optimize.minimize(negll, np.zeros(k), jac=True, method='L-BFGS-B', bounds=[(lo, hi)]*k,
                            options=dict(maxiter=3000, ftol=1e-13, gtol=1e-9))
    return np.exp(res.x)


def robust_bgnbd(x, tx, T_):
    "`clv_nb.train.fit_bgnbd`, or where it fails, the BG/NBD MLE with log-parameters bounded to [-11, 11] (same clock rescaling)."
    try: return fit_bgnbd(x, tx, T_)
    except ConvergenceError: pass
    T_ = np.asarray(T_, float); sc = 10/max(T_.max(initial=0), 1e-9)
    (x_, tx_, T2), cnt, _ = _group(np.asarray(x, float), np.asarray(tx, float)*sc, T_*sc)
    N = cnt.sum()
    def negll(lp):
        with np.errstate(all='ignore'):
            ll, g = bgnbd_loglik(np.exp(lp), x_, tx_, T2, grad=True)
            f = -(cnt @ ll)/N
        return (f, -(g @ cnt)/N) if np.isfinite(f) else (1e10, np.zeros(4))
    r, alpha, a, b = _bounded_mle(negll, 4)
    return dict(r=float(r), alpha=float(alpha/sc), a=float(a), b=float(b))


def robust_gg(x, m):
    "`clv_nb.train.fit_gg`, or where it fails, the Gamma-Gamma MLE with bounded log-parameters (q kept > 1)."
    try: return fit_gg(x, m)
    except ConvergenceError: pass
    x, m = np.asarray(x, float), np.asarray(m, float); k = (x > 0) & (m > 0); x, m = x[k], m[k]
    sc = m.mean(); (x_, m_), cnt, _ = _group(x, m/sc); N = cnt.sum()
    def negll(lp):
        with np.errstate(all='ignore'):
            ll, g = gammagamma_loglik(np.exp(lp), x_, m_, grad=True)
            f = -(cnt @ ll)/N
        return (f, -(g @ cnt)/N) if np.isfinite(f) else (1e10, np.zeros(3))
    p, q, v = _bounded_mle(negll, 3)
    return dict(p=float(p), q=float(max(q, 1.01)), gamma=float(v*sc))


def robust_btyd(s):
    "BG/NBD + Gamma-Gamma parameters of a summary (`clv_nb.train.fit_btyd` with the bounded fallbacks)."
    return dict(bgnbd=robust_bgnbd(s['frequency'], s['recency'], s['T']), gg=robust_gg(s['frequency'], s['monetary_value']))


# ------------------------------------------------------------------------------------------------- extra features
MONTHS = [f'm{i:02d}' for i in range(1, 13)]


def month_shares(start, end):
    "Share of the days in (start, end] that fall in each calendar month (12 values)."
    d = np.arange(_day(start) + np.timedelta64(1, 'D'), _day(end) + np.timedelta64(1, 'D'))
    m = d.astype('datetime64[M]').astype(int) % 12
    return np.bincount(m, minlength=12)/max(len(d), 1)


def rhythm_features(lines, ids, cut):
    "Per customer at `cut`: log mean gap (weeks), coefficient of variation of the gaps, log1p(silence / mean gap)."
    t = lines[lines['is_tx'].values]
    ci = pd.Index(ids).get_indexer(t['customer_id'].values)
    day = t['day'].values.astype('datetime64[D]').astype(np.int64)
    same = np.r_[False, ci[1:] == ci[:-1]]
    g = np.where(same, np.r_[0, np.diff(day)], 0)/7.0
    n = np.bincount(ci[same], minlength=len(ids)).astype(float)
    s1 = np.bincount(ci[same], weights=g[same], minlength=len(ids)); s2 = np.bincount(ci[same], weights=g[same]**2, minlength=len(ids))
    last = np.full(len(ids), np.nan); last[ci] = day  # rows sorted by customer, day: the last write is the last day
    mean = np.where(n > 0, s1/np.maximum(n, 1), 0.)
    cv = np.where(n > 1, np.sqrt(np.maximum(s2/np.maximum(n, 1) - mean**2, 0))/np.maximum(mean, 1e-9), 1.0)
    silent = (int(_day(cut).astype(np.int64)) - last)/7.0
    rel = np.where(n > 0, silent/np.maximum(mean, 1/7), 0.)
    return np.stack([np.log1p(mean), np.minimum(cv, 5.), np.log1p(np.minimum(rel, 50.))], 1)


def returns_features(lines, ids):
    "Per customer: log1p(returned amount / purchased amount) and the share of active days that are net returns."
    ci = pd.Index(ids).get_indexer(lines['customer_id'].values)
    a = lines['amount'].values
    pos = np.bincount(ci, weights=np.maximum(a, 0), minlength=len(ids)); neg = np.bincount(ci, weights=np.maximum(-a, 0), minlength=len(ids))
    nd = np.bincount(ci, minlength=len(ids)).astype(float); nr = np.bincount(ci, weights=(a < 0).astype(float), minlength=len(ids))
    return np.stack([np.log1p(neg/np.maximum(pos, 1e-9)), nr/np.maximum(nd, 1)], 1)


# ------------------------------------------------------------------------------------------------- the shop's calendar
class SeasonalClock:
    """Operational time from the shop's weekly repeat-transaction series: weeks stretched where the shop is busier.

    `fit(daily, cut, bg)`: the observed repeat transactions of each week up to `cut` divided by what the stationary
    BG/NBD `bg` expects for the customers acquired by then (cohorts by first-purchase day: growth and ageing are the
    model's, not the calendar's); log ratio minus a robust weighted quadratic trend, smoothed over 3 weeks, is the week's seasonal
    index. A day after `cut` takes the index of the same weekday 52 (or 104) weeks earlier when that week was observed,
    else 0 (an average week). Active only with at least `min_weeks` of history (a year: otherwise no calendar week was
    seen before; 50 weeks lets a calendar year's calibration count). `tau(days)`: operational weeks since the shop's first day; identity when inactive."""
    def __init__(self, min_weeks:float=50.0, smooth:int=3, clip:float=np.log(5.0), min_ok:int=8, trend_deg:int=2):
        self.min_weeks, self.smooth, self.clip, self.min_ok, self.trend_deg, self.active = min_weeks, smooth, clip, min_ok, trend_deg, False

    def fit(self, daily, cut, bg:dict):
        cut = _day(cut); d = daily[daily['day'].values <= cut]
        self.first = _day(d['day'].min()); self.cut = cut
        span = (cut - self.first).astype(int)/7
        if span < self.min_weeks: return self
        t = d[d['is_tx'].values]
        day = (t['day'].values.astype('datetime64[D]') - self.first).astype(int)
        new = np.r_[True, t['customer_id'].values[1:] != t['customer_id'].values[:-1]]   # rows sorted by customer, day
        W = int((cut - self.first).astype(int)//7)                                      # complete weeks
        y = np.bincount(day[~new]//7, minlength=W + 1)[:W].astype(float)
        f0, n0 = np.unique(day[new], return_counts=True)                                # acquisition days
        m = T._bgnbd(bg)
        edges = np.arange(W + 1)*7.0
        E = lambda days: m.expected_number_of_purchases_up_to_time(np.maximum(days, 0)/7.0)
        cum = E(edges[None, :] - f0[:, None])                                           # (acq days, W+1)
        e = (n0[:, None]*np.diff(cum, axis=1)).sum(0)
        ok = e > max(5.0, 1e-3*e.max())
        if ok.sum() < self.min_ok: return self
        lr = np.full(W, np.nan); lr[ok] = np.log(np.maximum(y[ok], 0.5)/e[ok])
        x = np.arange(W)/max(W - 1, 1); A = np.stack([x**k for k in range(self.trend_deg + 1)], 1)
        w = np.where(ok, np.sqrt(e), 0.)
        for _ in range(3):  # robust quadratic trend: weeks far off it (a peak) are down-weighted
            beta = np.linalg.lstsq(A[ok]*w[ok][:, None], lr[ok]*w[ok], rcond=None)[0]
            res = np.where(ok, lr - A @ beta, 0.)
            mad = 1.4826*np.median(np.abs(res[ok])) + 1e-9
            w = np.where(ok, np.sqrt(e)/np.maximum(1, np.abs(res)/(2*mad)), 0.)
        k = np.ones(self.smooth)/self.smooth
        num = np.convolve(res*ok, k, 'same'); den = np.convolve(ok.astype(float), k, 'same')
        self.index = np.clip(np.where(den > 0, num/np.maximum(den, 1e-9), 0.), -self.clip, self.clip)
        self.ok, self.W, self.active = ok, W, True
        return self

    def _log_index(self, rel):
        "Log seasonal index of days `rel` (days since the first day)."
        out = np.zeros(len(rel))
        if not self.active: return out
        wk = rel//7
        past = rel <= (self.cut - self.first).astype(int)
        inside = past & (wk < self.W)
        out[inside] = self.index[wk[inside]]
        for back in (364, 728):  # future days (and the partial last week): the same weekday a year (two) earlier
            todo = ~inside & (out == 0)
            b = rel - back; wb = b//7
            hit = todo & (b >= 0) & (wb < self.W)
            hit[hit] = self.ok[wb[hit]]
            out[hit] = self.index[wb[hit]]
            inside = inside | hit
        return out

    def tau(self, days):
        "Operational time (weeks since the first day) at the end of each day in `days`."
        days = np.asarray(days, 'datetime64[D]')
        if not self.active: return (days - self.first).astype(int)/7.0 + 1/7.0
        rel = (days - self.first).astype(int)
        lo, hi = min(int(rel.min(initial=0)), 0), int(rel.max(initial=0))
        grid = np.arange(lo, hi + 1)
        c = np.cumsum(np.exp(self._log_index(grid)))/7.0
        return c[rel - lo]


def warped_summary(s, cut, clock):
    "A summary at `cut` (frequency, recency, T in weeks) with recency and T in the clock's operational weeks."
    if not clock.active: return s
    cut = _day(cut)
    first = cut - (np.round(s['T'].values*7)).astype('timedelta64[D]')
    last = first + (np.round(s['recency'].values*7)).astype('timedelta64[D]')
    tc = clock.tau(np.array([cut]))[0]
    out = s.copy()
    out['T'] = tc - clock.tau(first); out['recency'] = clock.tau(last) - clock.tau(first)
    return out


def warped_h(clock, cut, h):
    "Operational length of the horizon (cut, cut + h weeks]."
    if not clock.active: return h
    cut = _day(cut); end = cut + np.timedelta64(int(round(h*7)), 'D')
    a, b = clock.tau(np.array([cut, end]))
    return float(max(b - a, 1e-3))


# ------------------------------------------------------------------------------------------------- bounded net, weighted loss
from keras import layers, ops


def build_suite_net(n_static, bound=None, **kw):
    "`clv_nb.model.build_net`, with each correction squashed to bound*tanh(c/bound) when `bound` is set (|log factor| < bound)."
    net = build_net(n_static, **kw)
    if not bound: return net
    ins = net.inputs; z = net.get_layer('dropout').output
    offs = {n: net.get_layer(n).output for n in ('off_tx', 'off_sp', 'off_p')}
    sq = lambda c, nm: layers.Lambda(lambda v: bound*ops.tanh(v/bound), name=f'{nm}_bounded')(c)
    outs = []
    for o, c, off in (('log_tx', 'tx_corr', 'off_tx'), ('log_spend', 'sp_corr', 'off_sp'), ('p_logit', 'p_corr', 'off_p')):
        d = net.get_layer(c)
        outs.append(layers.Add(name=o)([sq(d(z), c), offs[off]]))
    return keras.Model(ins, outs, name=net.name + '_bounded')


def weighted_poisson_log_loss(y_true, log_rate):
    "Poisson deviance exp(z) - y z weighted per row: y_true holds (target, weight)."
    y, w = ops.cast(y_true[:, :1], log_rate.dtype), ops.cast(y_true[:, 1:2], log_rate.dtype)
    return ops.mean(w*(ops.exp(log_rate) - y*log_rate), axis=-1)


# ------------------------------------------------------------------------------------------------- the model
class SuiteCLVModel(DeepCLVModel):
    "`DeepCLVModel` with the research options of this module (each off by default: then it is the package's model)."
    def __init__(self, min_span:float=4.0, origins:int=1, origin_stride:float=0.5, min_hist_frac:float=0.5,
                 hint_window:bool=False, max_window_frac:float=0.5, calendar:bool=False, rhythm:bool=False,
                 returns:bool=False, blend:bool=False, blend_grid=(0., .25, .5, .75, 1.), max_train:int=None,
                 encode_chunk:int=50_000, extrapolate:str='scale', agg_calib:str='none', seasonal:bool=False,
                 seasonal_min_weeks:float=50.0, clock_scope:str='cut', clock_trend:int=2, level_weight:float=1.0, bound:float=None, spend_weight:str='none', **kw):
        super().__init__(**kw)
        self.config.update(min_span=min_span, origins=origins, origin_stride=origin_stride, min_hist_frac=min_hist_frac,
                           hint_window=hint_window, max_window_frac=max_window_frac, calendar=calendar, rhythm=rhythm,
                           returns=returns, blend=blend, blend_grid=list(blend_grid), max_train=max_train, encode_chunk=encode_chunk,
                           extrapolate=extrapolate, agg_calib=agg_calib, seasonal=seasonal,
                           seasonal_min_weeks=seasonal_min_weeks, clock_scope=clock_scope, clock_trend=clock_trend, level_weight=level_weight, bound=bound, spend_weight=spend_weight)
        self.horizon_hint = None  # weeks the evaluation will ask for (set before fit; None: unknown)

    # -- label windows
    def _windows(self, cal, first, span):
        "(cut, end, h weeks) of every label window: each length (window fracs, + the horizon hint) from `origins` origins."
        cfg = self.config
        lens = {max(round(f*span*7), 7) for f in cfg['window_fracs']}
        if cfg['hint_window'] and self.horizon_hint:
            lens.add(max(min(round(self.horizon_hint*7), round(cfg['max_window_frac']*span*7)), 7))
        out = []
        for hd in sorted(lens):
            step = max(int(round(cfg['origin_stride']*hd)), 7)
            for k in range(cfg['origins']):
                end = cal - np.timedelta64(k*step, 'D'); cut = end - np.timedelta64(hd, 'D')
                hist = (cut - first).astype(int)
                if k > 0 and hist < cfg['min_hist_frac']*span*7: break
                if hist < 7: break
                out.append((cut, end, hd/7))
        return out

    def _extra(self, lines, ids, cut, end):
        "Extra static columns (calendar of (cut, end], rhythm, returns) for the options that are on."
        cfg, cols = self.config, []
        if cfg['calendar']: cols.append(np.tile(month_shares(cut, end), (len(ids), 1)))
        if cfg['rhythm']: cols.append(rhythm_features(lines, ids, cut))
        if cfg['returns']: cols.append(returns_features(lines, ids))
        return np.concatenate(cols, 1) if cols else np.zeros((len(ids), 0))

    def _training_set(self, tx, calibration_end):
        "Training rows from every label window; BTYD offsets at each cut from all customers; rows of the sampled customers."
        cfg = self.config; t0 = time.time()
        daily = daily_activity(tx); cal = _day(calibration_end)
        if not (daily['day'].values <= cal).any(): raise CLVUserError(f"no transactions on or before calibration end {calibration_end} (DeepCLVModel.fit)")
        first = _day(daily['day'].min()); span = (cal - first).astype(int)/7
        if span < cfg['min_span']: raise CLVUserError(f"calibration period of {span:.1f} weeks is too short for DeepCLVModel (need >= {cfg['min_span']:g})")
        s_full, _ = summary_at(daily, cal)
        cols = [c for c in CONTEXT_COLS if c in tx.columns] if cfg['context'] else []
        if cols:
            fl = tx.loc[pd.to_datetime(tx['date']).values.astype('datetime64[D]') <= cal, ['customer_id', 'date', *cols]]
            fl = fl.assign(customer_id=fl['customer_id'].astype(str)).sort_values('date', kind='stable').groupby('customer_id').first()
            self._ctx_first = {c: fl[c].astype(str) for c in cols}
            self.prep['vocab'] = {c: fl[c].astype(str).value_counts().index[:50].tolist() for c in cols}
        rng = np.random.default_rng(cfg['seed'])
        ids_all = s_full.index.values
        tr_ids = np.sort(rng.choice(ids_all, cfg['max_train'], replace=False)) if cfg['max_train'] and len(ids_all) > cfg['max_train'] else ids_all
        val_ids = rng.choice(tr_ids, max(int(cfg['val_frac']*len(tr_ids)), 1), replace=False)
        dsub = daily if len(tr_ids) == len(ids_all) else daily[_isin_ids(daily['customer_id'], tr_ids)]
        parts, btyd_cache = [], {}
        self._clock_c = None
        if cfg['seasonal'] and cfg['clock_scope'] == 'calibration':  # one clock from the whole calibration period, for every cut
            self._clock_c = SeasonalClock(min_weeks=cfg['seasonal_min_weeks'], trend_deg=cfg['clock_trend']).fit(daily, cal, robust_btyd(s_full)['bgnbd'])
        for cut, end, h in self._windows(cal, first, span):
            key = str(cut)
            if key not in btyd_cache:
                s0, _ = summary_at(daily, cut)
                if len(s0) < 20 or not (s0['frequency'] > 0).any(): continue
                btyd_cache[key] = self._clock_btyd(daily, cut, s0)
            clock, btyd = btyd_cache[key]
            s, lines = summary_at(dsub, cut)
            if not len(s): continue
            sw = warped_summary(s, cut, clock)
            F, otx, osp, op = static_features(sw['frequency'], sw['recency'], sw['T'], sw['monetary_value'], sw['first_amount'], btyd,
                                              warped_h(clock, cut, h))
            F = np.concatenate([F, self._extra(lines, s.index.values, cut, cut + np.timedelta64(int(round(h*7)), 'D'))], 1)
            ytx, ysp = window_labels(dsub, s.index.values, cut, end)
            parts.append(dict(ids=s.index.values, X=week_sequences(lines, s.index.values), F=F, otx=otx, osp=osp, op=op,
                              ytx=ytx, ysp=ysp, h=h, cut=str(cut), end=str(end)))
        if not parts: raise CLVUserError("too few customers before the inner cuts to train DeepCLVModel (need >= 20)")
        L = max(p['X'].shape[1] for p in parts)
        X = np.concatenate([np.pad(p['X'], ((0, 0), (L - p['X'].shape[1], 0), (0, 0))) for p in parts])
        cat = lambda k: np.concatenate([p[k] for p in parts])
        ids, F, ytx, ysp, otx, osp, op = (cat(k) for k in ('ids', 'F', 'ytx', 'ysp', 'otx', 'osp', 'op'))
        grp = np.concatenate([np.full(len(p['ids']), i) for i, p in enumerate(parts)])
        val = _isin_ids(ids, val_ids)  # hashing: np.isin on object ids compares every pair (minutes at 50k customers)
        if cfg['shuffle_seq']: X = X[rng.permutation(len(X))]
        self.n_train = int(len(tr_ids))
        self.train_info = dict(customers=len(ids_all), sampled=len(tr_ids), rows=len(ids), windows=[(p['cut'], p['end'], round(p['h'], 3)) for p in parts],
                               seq_len=int(L), prep_s=round(time.time() - t0, 1))
        return daily, cal, s_full, dict(parts=parts, ids=ids, X=X, F=F, ytx=ytx, ysp=ysp, otx=otx, osp=osp, op=op, grp=grp, val=val)

    def _prep_from(self, d):
        "The package's standardisation; a column constant over the training rows gets an infinite scale (reads as the mean)."
        # e.g. a calendar month that no training window covers: at prediction it reads as the training mean, not an extrapolation
        p = super()._prep_from(d)
        p['sd'] = np.where(p['sd'] < 1e-3, np.inf, p['sd'])
        return p

    def _clock_btyd(self, daily, cut, s0):
        "(seasonal clock, BTYD parameters) at `cut`: the clock from the stationary fit, then BG/NBD refitted on its time."
        if getattr(self, '_clock_c', None) is not None:
            c = self._clock_c
            return c, robust_btyd(warped_summary(s0, cut, c)) if c.active else robust_btyd(s0)
        b0 = robust_btyd(s0)
        if not self.config['seasonal']: return SeasonalClock(min_weeks=np.inf).fit(daily, cut, b0['bgnbd']), b0
        clock = SeasonalClock(min_weeks=self.config['seasonal_min_weeks'], trend_deg=self.config['clock_trend']).fit(daily, cut, b0['bgnbd'])
        if not clock.active: return clock, b0
        return clock, robust_btyd(warped_summary(s0, cut, clock))

    def fit(self, tx, calibration_end):
        cfg = self.config; t0 = time.time()
        keras.utils.set_random_seed(cfg['seed'])
        self.prep = {}
        daily, cal, s_full, d = self._training_set(tx, calibration_end)
        self.prep.update(self._prep_from(d))
        self.net = build_suite_net(d['F'].shape[1], bound=cfg['bound'], arch=cfg['arch'], units=cfg['units'], hidden=cfg['hidden'],
                             dropout=cfg['dropout'], l2=cfg['l2'], seed=cfg['seed'], spend_head=cfg['spend_head'],
                             context_sizes={c: len(v) for c, v in self.prep.get('vocab', {}).items()} or None)
        return self._train(daily, cal, s_full, d, t0)

    def _train(self, daily, cal, s_full, d, t0):
        "Train with early stopping on the validation customers; choose the blend weights there; refit the BTYD prior; score everyone."
        cfg = self.config
        parts, ids, X, F, ytx, ysp, otx, osp, op, grp, val = (d[k] for k in ('parts', 'ids', 'X', 'F', 'ytx', 'ysp', 'otx', 'osp', 'op', 'grp', 'val'))
        inp = self._inputs(X, F, otx, osp, op) | self._ctx(ids)
        ysp_ = (ysp/self.prep['scale'])[:, None]
        sp_loss = ziln_loss if cfg['spend_head'] == 'ziln' else poisson_log_loss
        if cfg['spend_weight'] != 'none':  # rows weighted by a power of their BTYD expected spend: a few huge accounts do not steer the head
            mu = np.exp(osp - np.log(self.prep['scale'])); w = mu**(-0.5 if cfg['spend_weight'] == 'inv_sqrt' else -1.0)
            w = np.minimum(w/np.mean(w[~val]), 10.)
            ysp_, sp_loss = np.concatenate([ysp_, w[:, None]], 1), weighted_poisson_log_loss
        y = (ytx[:, None].astype(np.float32), ysp_.astype(np.float32), (ytx > 0)[:, None].astype(np.float32))
        sel = lambda k: ({n: v[k] for n, v in inp.items()}, tuple(v[k] for v in y))
        self.net.compile(keras.optimizers.Adam(cfg['lr']), loss=[poisson_log_loss, sp_loss, keras.losses.BinaryCrossentropy(from_logits=True)])
        cbs = [keras.callbacks.EarlyStopping(patience=cfg['patience'], restore_best_weights=True)]
        t1 = time.time()
        hist = (self.net.fit(*sel(~val), validation_data=sel(val), epochs=cfg['epochs'], batch_size=cfg['batch_size'],
                             verbose=self.verbose, callbacks=cbs, shuffle=True) if cfg['epochs'] > 0 else None)
        train_s = time.time() - t1
        a, b, c = self.net.predict(sel(val)[0], batch_size=4096, verbose=0)
        lo = [otx[val], osp[val] - np.log(self.prep['scale']), op[val]]   # offsets as the net sees them
        corr = [a[:, 0] - lo[0], b[:, 0] - lo[1], c[:, 0] - lo[2]]
        self.prep['blend'] = [1., 1., 1.]
        if cfg['blend'] and cfg['spend_head'] == 'poisson':
            yv = [ytx[val], ysp[val]/self.prep['scale'], (ytx[val] > 0).astype(float)]
            def loss(j, lam):
                z = lo[j] + lam*corr[j]
                if j < 2: return float(np.mean(np.exp(z) - yv[j]*z))
                return float(np.mean(np.logaddexp(0, z) - yv[j]*z))
            self.prep['blend'] = [float(min(cfg['blend_grid'], key=lambda lam: loss(j, lam))) for j in range(3)]
        lam = self.prep['blend']
        self.prep['agg'] = None
        if cfg['agg_calib'] != 'none':  # per window length: actual / predicted totals over all training rows (train + validation)
            A, B, Cc = self.net.predict(sel(np.ones(len(ids), bool))[0], batch_size=4096, verbose=0)
            la = [otx, osp - np.log(self.prep['scale'])]
            ptx_all = np.exp(la[0] + lam[0]*(A[:, 0] - la[0])); psp_all = np.exp(la[1] + lam[1]*(B[:, 0] - la[1]))*self.prep['scale']
            hs = np.array([p['h'] for p in parts]); hrow = hs[grp]
            uh = np.unique(hs)
            self.prep['agg'] = dict(h=uh.tolist(),
                                    tx=[float(ytx[hrow == u].sum()/max(ptx_all[hrow == u].sum(), 1e-9)) for u in uh],
                                    sp=[float(ysp[hrow == u].sum()/max(psp_all[hrow == u].sum(), 1e-9)) for u in uh])
        pa, pb = np.exp(lo[0] + lam[0]*corr[0]), np.exp(lo[1] + lam[1]*corr[1])*self.prep['scale']
        if self.prep['agg'] is not None:
            pa, pb = pa*self._agg_factor(grp[val], parts, 'tx'), pb*self._agg_factor(grp[val], parts, 'sp')
        g = grp[val]
        self.inner = [dict(window_weeks=p['h'], cut=p['cut'], end=p.get('end'), n=int((g == i).sum()),
                           btyd=_metrics(ytx[val][g == i], ysp[val][g == i], np.exp(otx[val][g == i]), np.exp(osp[val][g == i])),
                           model=_metrics(ytx[val][g == i], ysp[val][g == i], pa[g == i], pb[g == i])) for i, p in enumerate(parts)]
        self.clock, self.btyd = self._clock_btyd(daily, cal, s_full)
        self.calibration_end, self.epochs_run = str(cal), len(hist.history['loss']) if hist else 0
        t2 = time.time()
        self._set_customers(daily, cal)
        self.train_info.update(train_s=round(train_s, 1), score_s=round(time.time() - t2, 1), blend=lam)
        self.fit_seconds = time.time() - t0
        return self

    def _agg_factor(self, g, parts, k):
        "Aggregate factors of the validation rows' windows (by window length)."
        return np.array([self._agg_at(parts[i]['h'], k) for i in g])

    def _agg_at(self, h, k):
        "Shop-level factor actual/predicted at horizon `h`: interpolated in log h between the window lengths, constant beyond."
        a = self.prep.get('agg')
        if not a: return 1.0
        return float(np.exp(np.interp(np.log(h), np.log(a['h']), np.log(a[k]))))

    def _set_customers(self, daily, cal):
        "Everyone's calibration summary, extra features' inputs and sequence encodings (in chunks of customers)."
        s, lines = summary_at(daily, cal)
        for c, v in self._ctx(s.index.values).items(): s[c] = v[:, 0]
        self.customers, self._cal_lines = s, None
        enc, n, ch = self._encoder(), len(s), self.config['encode_chunk']
        if self.config['rhythm'] or self.config['returns']:
            self._cal_extra_rr = np.concatenate([x for x in (rhythm_features(lines, s.index.values, cal) if self.config['rhythm'] else None,
                                                             returns_features(lines, s.index.values) if self.config['returns'] else None) if x is not None], 1)
        if enc is None: self.hseq = np.zeros((n, 0), np.float32); return
        ids = s.index.values
        ci = pd.Index(ids).get_indexer(lines['customer_id'].values)   # lines are sorted by customer
        assert (np.diff(ci) >= 0).all(), 'activity rows not grouped by customer in index order'
        starts = list(range(0, n, ch)) + [n]; bounds = np.searchsorted(ci, starts)
        out = []
        for i in range(len(starts) - 1):
            X = week_sequences(lines.iloc[bounds[i]:bounds[i + 1]], ids[starts[i]:starts[i + 1]])
            out.append(enc.predict(X, batch_size=4096, verbose=0))
        self.hseq = np.concatenate(out) if out else np.zeros((0, self.config['units']), np.float32)

    def _heads(self, hseq, F, otx, osp, op, ctx=None):
        inp = self._inputs(None, F, otx, osp, op)
        W = lambda n: self.net.get_layer(n).get_weights()
        embs = [W(f'emb_{c}')[0][np.asarray(ctx[f'ctx_{c}']).reshape(-1)] for c in self.prep.get('vocab', {})]
        z = np.concatenate([hseq, inp['static'], *embs], 1)
        k, b = W('dense'); z = np.maximum(z @ k + b, 0)
        lam, bd = self.prep.get('blend', [1., 1., 1.]), self.config.get('bound')
        sq = (lambda v: bd*np.tanh(v/bd)) if bd else (lambda v: v)
        o = [lam[j]*sq(z @ W(n)[0] + W(n)[1]) + inp[f] for j, (n, f) in enumerate((('tx_corr', 'off_tx'), ('sp_corr', 'off_sp'), ('p_corr', 'off_p')))]
        self._q = {}
        return np.exp(o[0][:, 0]), np.exp(o[1][:, 0])*self.prep['scale'], 1/(1 + np.exp(-o[2][:, 0]))

    def predict(self, horizon_weeks:float=39):
        h = float(horizon_weeks)
        if not h > 0: raise CLVUserError(f"horizon_weeks must be > 0, got {horizon_weeks} (DeepCLVModel.predict)")
        s, cfg = self.customers, self.config
        cal = _day(self.calibration_end)
        sw, hw = warped_summary(s, cal, self.clock), warped_h(self.clock, cal, h)
        F, otx, osp, op = static_features(sw['frequency'], sw['recency'], sw['T'], sw['monetary_value'], sw['first_amount'], self.btyd, hw, self._h_feat(hw))
        cols = [F]
        if cfg['calendar']: cols.append(np.tile(month_shares(cal, cal + np.timedelta64(int(round(h*7)), 'D')), (len(s), 1)))
        if cfg['rhythm'] or cfg['returns']: cols.append(self._cal_extra_rr)
        F = np.concatenate(cols, 1)
        ctx = {c: s[c].to_numpy() for c in s.columns if c.startswith('ctx_')}
        ptx, psp, pp = self._heads(self.hseq, F, otx, osp, op, ctx)
        hmax = float(np.exp(self.prep['log_h_range'][1]))
        if cfg['extrapolate'] == 'increment' and hw > hmax:  # the correction covers the trained horizon; beyond it, BTYD's increments
            F2, otx2, osp2, op2 = static_features(sw['frequency'], sw['recency'], sw['T'], sw['monetary_value'], sw['first_amount'], self.btyd, hmax, hmax)
            F2 = np.concatenate([F2] + cols[1:], 1)
            t2, s2, p2 = self._heads(self.hseq, F2, otx2, osp2, op2, ctx)
            btx, bsp, bp = np.exp(otx), np.exp(osp), 1/(1 + np.exp(-op))
            btx2, bsp2, bp2 = np.exp(otx2), np.exp(osp2), 1/(1 + np.exp(-op2))
            ptx, psp = t2*self._agg_at(hmax, 'tx') + (btx - btx2), s2*self._agg_at(hmax, 'sp') + (bsp - bsp2)
            pp = p2 + (1 - p2)*np.clip((bp - bp2)/np.maximum(1 - bp2, 1e-9), 0, 1)
        else: ptx, psp = ptx*self._agg_at(h, 'tx'), psp*self._agg_at(h, 'sp')
        w = cfg['level_weight']
        if w < 1:  # the shop-level total: the offsets' (BTYD) total ^ (1 - w) x the network's ^ w; the network keeps the ranking
            ptx = ptx*(np.exp(otx).sum()/max(ptx.sum(), 1e-12))**(1 - w)
            psp = psp*(np.exp(osp).sum()/max(psp.sum(), 1e-12))**(1 - w)
        return pd.DataFrame({'customer_id': pd.array(s.index.values, dtype='str'), 'pred_transactions': ptx, 'pred_spend': psp,
                             'p_purchase': pp, 'p_alive': T.bgnbd_p_alive(self.btyd['bgnbd'], sw['frequency'].values,
                                                                          sw['recency'].values, sw['T'].values)})


class SeedEnsemble(DeepCLVModel):
    "Mean of `n` `SuiteCLVModel`s that differ only in their seed (weights, validation split, dropout, sample)."
    name = 'lstm_hybrid'
    def __init__(self, n:int=3, **kw):
        self.members = [SuiteCLVModel(**dict(kw, seed=kw.get('seed', 0) + i)) for i in range(n)]
        self.config = _EnsembleConfig(self.members)
        self.horizon_hint = None

    def fit(self, tx, calibration_end):
        t0 = time.time()
        for m in self.members: m.horizon_hint = self.horizon_hint; m.fit(tx, calibration_end)
        self.epochs_run = [m.epochs_run for m in self.members]
        self.inner = self.members[0].inner; self.n_train = self.members[0].n_train
        self.train_info = dict(self.members[0].train_info, members=len(self.members)); self.fit_seconds = time.time() - t0
        return self

    def predict(self, horizon_weeks:float=39):
        ps = [m.predict(horizon_weeks) for m in self.members]
        out = ps[0].copy()
        for c in ('pred_transactions', 'pred_spend', 'p_purchase', 'p_alive'): out[c] = np.mean([p[c].to_numpy() for p in ps], 0)
        return out


class _EnsembleConfig(dict):
    "The members' (common) configuration; updates go to every member (post-hoc variants)."
    def __init__(self, members): super().__init__(members[0].config); self._m = members
    def update(self, *a, **k):
        super().update(*a, **k)
        for m in self._m: m.config.update(*a, **k)


ROBUST = dict(cls='SuiteCLVModel', min_span=2.0)
INC_ROLL = dict(extrapolate='increment', origins=4, origin_stride=0.5, min_hist_frac=0.25)
CLOCK0 = dict(seasonal=True, seasonal_min_weeks=13, clock_scope='calibration', clock_trend=0)
LEVEL_PH = {'lw0': dict(level_weight=0.0), 'lw025': dict(level_weight=0.25), 'lw05': dict(level_weight=0.5), 'lw075': dict(level_weight=0.75),
            'scale': dict(extrapolate='scale'), 'scale_lw0': dict(extrapolate='scale', level_weight=0.0)}
CANDIDATES = {
    'default': dict(cls='DeepCLVModel'),
    'robust': ROBUST,                                             # the package's model + robust offsets + short spans
    'blend': ROBUST | dict(blend=True),
    'rolling': ROBUST | dict(origins=4, origin_stride=0.5, min_hist_frac=0.25),
    'rolling_cal': ROBUST | dict(origins=4, origin_stride=0.5, min_hist_frac=0.25, calendar=True),
    'hint': ROBUST | dict(hint_window=True),
    'rhythm_returns': ROBUST | dict(rhythm=True, returns=True),
    'sample10k': ROBUST | dict(max_train=10_000),
    'increment': ROBUST | dict(extrapolate='increment'),
    'agg_interp': ROBUST | dict(agg_calib='interp'),
    'hint75': ROBUST | dict(hint_window=True, max_window_frac=0.75),
    'seasonal': ROBUST | dict(seasonal=True),
    'btyd_only': ROBUST | dict(epochs=0),
    'btyd_clock': ROBUST | dict(epochs=0, seasonal=True, seasonal_min_weeks=13, clock_scope='calibration'),
    'btyd_clock50': ROBUST | dict(epochs=0, seasonal=True, seasonal_min_weeks=50, clock_scope='calibration'),
    'inc_roll_clock': ROBUST | dict(extrapolate='increment', origins=4, origin_stride=0.5, min_hist_frac=0.25, seasonal=True,
                                    seasonal_min_weeks=13, clock_scope='calibration'),
    'inc_clock': ROBUST | dict(extrapolate='increment', seasonal=True, seasonal_min_weeks=13, clock_scope='calibration'),
    'btyd_clock0': ROBUST | dict(epochs=0, seasonal=True, seasonal_min_weeks=13, clock_scope='calibration', clock_trend=0),
    'btyd_clock0_50': ROBUST | dict(epochs=0, seasonal=True, seasonal_min_weeks=50, clock_scope='calibration', clock_trend=0),
    'inc_roll_clock0': ROBUST | dict(extrapolate='increment', origins=4, origin_stride=0.5, min_hist_frac=0.25, seasonal=True,
                                     seasonal_min_weeks=13, clock_scope='calibration', clock_trend=0),
    'inc_roll_clock0_50': ROBUST | dict(extrapolate='increment', origins=4, origin_stride=0.5, min_hist_frac=0.25, seasonal=True,
                                        seasonal_min_weeks=50, clock_scope='calibration', clock_trend=0),
    'inc_roll_level0': ROBUST | dict(extrapolate='increment', origins=4, origin_stride=0.5, min_hist_frac=0.25, level_weight=0.0),
    'inc_roll_level05': ROBUST | dict(extrapolate='increment', origins=4, origin_stride=0.5, min_hist_frac=0.25, level_weight=0.5),
    'R5': ROBUST | INC_ROLL | CLOCK0 | dict(posthoc=LEVEL_PH),
    'R5_ens3': dict(ROBUST, cls='SeedEnsemble', n=3) | INC_ROLL | CLOCK0 | dict(posthoc=LEVEL_PH),
    'inc_bound': ROBUST | dict(extrapolate='increment', bound=0.7),
    'inc_wsqrt': ROBUST | dict(extrapolate='increment', spend_weight='inv_sqrt'),
    'inc_roll': ROBUST | dict(extrapolate='increment', origins=4, origin_stride=0.5, min_hist_frac=0.25),
    'inc_roll_seasonal': ROBUST | dict(extrapolate='increment', origins=4, origin_stride=0.5, min_hist_frac=0.25, seasonal=True),
    'inc_roll_transient': ROBUST | dict(extrapolate='increment', origins=4, origin_stride=0.5, min_hist_frac=0.25, seasonal=True,
                                        seasonal_min_weeks=13),
}


def build(name):
    "A fresh model for candidate `name`; SuiteCLVModel candidates that use the horizon hint get it from the caller."
    cfg = dict(CANDIDATES[name]); cls = cfg.pop('cls'); cfg.pop('posthoc', None)
    return {'DeepCLVModel': DeepCLVModel, 'SuiteCLVModel': SuiteCLVModel, 'SeedEnsemble': SeedEnsemble}[cls](**cfg)
