"""A likelihood-trained neural BTYD (research candidate): a small network maps what is known of each customer at
acquisition to that customer's BG/NBD parameters, and is trained by the BG/NBD likelihood of the whole calibration
history (every customer's x, t_x, T), so any horizon keeps BG/NBD's closed forms (conditional expected transactions,
P(alive), P(purchase)); spend per transaction from Gamma-Gamma.

Each customer i has the population's r and

    alpha_i = alpha0 exp(-o_1(z_i)),   a_i = a0 exp(o_2(z_i)),   b_i = b0 exp(o_3(z_i)),
    o(z) = z V + tanh(z W1 + c1) W2

(the log-linear links of `clv_nb.covariates.BetaGeoCov`, plus a hidden layer; o = 0 is the plain BG/NBD, the starting
point of the fit). The parameters maximise the mean BG/NBD log-likelihood minus an L2 penalty on (V, W1, W2), by
L-BFGS with the analytic gradient (`clv_nb.baselines.bgnbd_loglik` gives d ll / d log-parameters per customer; the
network's part is back-propagated by hand). The penalty is chosen on validation customers (20 %, by their validation
log-likelihood), and the network is left out (plain BG/NBD) when no penalty beats plain BG/NBD there: the network can
only add to BG/NBD.

The inputs z_i are what is known at or near acquisition and is *not* the repeat history the likelihood explains: the
first purchase day's amount, its number of lines (and distinct products and categories, where the log has them), the
shares of its lines in the most common levels of each context column (category, channel, country, ...), its week of
the year, and its position in the calibration period (the cohort). The likelihood is of (x, t_x) given T, so the
acquisition date (and T, a function of it) is conditioned on, not explained; x and t_x (and anything read from the
repeat purchases, e.g. the time to the second purchase) never enter the network, which therefore cannot fit a
customer's own outcome.

Behind the `CLVModel` interface (fit, predict) for the research script; not part of the package.

    python experiments/neural_btyd.py          # check_model at a tiny size, and the fit on a simulated log with channels
"""
import numpy as np, pandas as pd
from scipy import optimize

from clv_nb.core import CLVModel, check_horizon, CLVUserError
from clv_nb.features import summarize, day_number, Normalizer
from clv_nb.protocol import calibration_rows
from clv_nb.baselines import BGNBDGG, BetaGeo, bgnbd_loglik, nbd_loglik
from clv_nb.covariates import bgnbd_expected, bgnbd_p_purchase, GammaGammaCov
from clv_nb.intervals import bgnbd_p_alive
from clv_nb.clock import SeasonalClock, warp, warp_horizon

SKIP_COLS = ('customer_id', 'date', 'amount', 'invoice', 'product')   # not context columns (ids or the amount itself)
TIME_COLS = ('season_sin', 'season_cos', 'cohort')   # when the customer was acquired (the rest describes the first basket)


def acquisition_features(cal:pd.DataFrame, # calibration rows of the cleaned log
                         s:pd.DataFrame, # their summary (`summarize`), index customer_id
                         top:int=8, # levels of each context column kept (the rest are the baseline)
                        ) -> pd.DataFrame: # one row per customer of `s`, unscaled
    "What is known of each customer at their first purchase day (never the repeat history): amount, lines, context, season, cohort."
    first = pd.Series(s['first_purchase'].to_numpy('datetime64[ns]'), index=s.index.astype(str))
    cid = cal['customer_id'].astype(str)
    day = cal['date'].dt.normalize()
    f = cal[(day.to_numpy() == first.reindex(cid).to_numpy())].assign(customer_id=lambda d: d['customer_id'].astype(str))
    g = f.groupby('customer_id', sort=False)
    out = pd.DataFrame(index=s.index.astype(str))
    out['first_amount'] = np.log1p(np.maximum(s['first_amount'].to_numpy('float64'), 0.))
    out['first_lines'] = np.log1p(g.size().reindex(out.index).fillna(0).to_numpy('float64'))
    for c in ('product', 'category'):
        if c in f.columns: out[f'first_{c}s'] = np.log1p(g[c].nunique().reindex(out.index).fillna(0).to_numpy('float64'))
    for c in [c for c in f.columns if c not in SKIP_COLS and (f[c].dtype == object or pd.api.types.is_string_dtype(f[c])
                                                               or isinstance(f[c].dtype, pd.CategoricalDtype))]:
        ct = pd.crosstab(f['customer_id'], f[c].astype(str)); share = ct.div(ct.sum(axis=1), axis=0)   # shares of the day's lines
        for v in f[c].astype(str).value_counts().index[:top]: out[f'{c}={v}'] = share[v].reindex(out.index).fillna(0).to_numpy('float64')
    ang = 2*np.pi*first.reindex(out.index).dt.day_of_year.to_numpy('float64')/365.25
    out['season_sin'], out['season_cos'] = np.sin(ang), np.cos(ang)
    out['cohort'] = (first.reindex(out.index) - first.min()).dt.days.to_numpy('float64')/7.   # weeks from the first acquisition
    return out


def _unpack(theta, d, H):
    "Global log-parameters (4), V (d, 3), W1 (d, H), c1 (H), W2 (H, 3) from the flat vector."
    i = 4; V = theta[i:i + 3*d].reshape(d, 3); i += 3*d
    W1 = theta[i:i + d*H].reshape(d, H); i += d*H
    c1 = theta[i:i + H]; i += H
    return theta[:4], V, W1, c1, theta[i:i + 3*H].reshape(H, 3)


def net_outputs(theta, Z, H) -> tuple:
    "o (n, 3) = Z V + tanh(Z W1 + c1) W2, and the hidden layer."
    g, V, W1, c1, W2 = _unpack(theta, Z.shape[1], H)
    h = np.tanh(Z @ W1 + c1)
    return Z @ V + h @ W2, h


def customer_params(theta, Z, H, nbd=False) -> tuple:
    "(r, alpha_i, a_i, b_i): the population's r and the network's per-customer alpha, a, b (a = 0 at the NBD limit)."
    o, _ = net_outputs(theta, Z, H)
    lr, la, lA, lB = theta[:4]
    return np.exp(lr), np.exp(la - o[:, 0]), (0.*o[:, 1] if nbd else np.exp(lA + o[:, 1])), np.exp(lB + o[:, 2])


def neural_loglik(theta, Z, H, x, tx, T, nbd=False, grad=False):
    "Per-customer BG/NBD (NBD at its limit) log-likelihood with the network's parameters; with the gradient of its sum."
    r, al, a, b = customer_params(theta, Z, H, nbd)
    if nbd:
        out = nbd_loglik((r, al), x, T, grad)
        if not grad: return out
        ll, G = out; G = np.vstack([G, np.zeros((2, len(x)))])
    else:
        out = bgnbd_loglik((r, al, a, b), x, tx, T, grad)
        if not grad: return out
        ll, G = out                               # (4, n): d ll / d log r, log alpha_i, log a_i, log b_i
    d = Z.shape[1]; _, V, W1, c1, W2 = _unpack(theta, d, H)
    _, h = net_outputs(theta, Z, H)
    dO = np.stack([-G[1], G[2], G[3]], 1)          # d ll / d o
    dh = (dO @ W2.T)*(1 - h**2)
    return ll, np.r_[G.sum(1), (Z.T @ dO).ravel(), (Z.T @ dh).ravel(), dh.sum(0), (h.T @ dO).ravel()]


def fit_neural(x, tx, T, Z, H:int, base:tuple, lam:float, nbd:bool, seed:int=0, maxiter:int=400):
    "L-BFGS of the mean negative log-likelihood + lam/2 |network weights|^2 from plain BG/NBD (`base`: r, alpha, a, b) and a random hidden layer."
    n, d = Z.shape
    rng = np.random.default_rng(seed)
    g0 = np.log(np.maximum(np.asarray(base, 'float64'), 1e-300)); g0[2] = 0. if nbd else g0[2]
    theta0 = np.r_[g0, np.zeros(3*d), rng.normal(0, 1/np.sqrt(max(d, 1)), d*H), np.zeros(H), np.zeros(3*H)]
    w = np.r_[np.zeros(4), np.ones(3*d + d*H), np.zeros(H), np.ones(3*H)]   # penalised entries (not the globals, not the hidden biases)
    fixed = np.zeros(len(theta0), bool); fixed[2] = nbd                      # log a is not used at the NBD limit
    def f(th):
        with np.errstate(all='ignore'):
            ll, gr = neural_loglik(th, Z, H, x, tx, T, nbd, grad=True)
            v = -ll.mean() + lam/2*(w*th**2).sum(); g = -gr/n + lam*w*th
        g[fixed] = 0.
        return (v, g) if np.isfinite(v) and np.isfinite(g).all() else (np.inf, np.zeros_like(th))
    res = optimize.minimize(f, theta0, jac=True, method='L-BFGS-B', options=dict(maxiter=maxiter, ftol=1e-10, gtol=1e-7))
    return res.x, res


def plain_theta(base, d, H, nbd) -> np.ndarray:
    "The flat parameters of plain BG/NBD (every network weight 0)."
    g0 = np.log(np.maximum(np.asarray(base, 'float64'), 1e-300)); g0[2] = 0. if nbd else g0[2]
    return np.r_[g0, np.zeros(3*d + d*H + H + 3*H)]


class NeuralBTYD(CLVModel):
    "BG/NBD with per-customer alpha, a, b from a small network of acquisition features, trained by the BG/NBD likelihood; spend from Gamma-Gamma."
    name = 'neural_btyd'
    def __init__(self, hidden:int=8, # hidden units (0: the log-linear links alone)
                 lams:tuple=(1e-1, 1e-2, 1e-3), # L2 penalties tried on the validation customers
                 val_frac:float=0.2, # share of customers held out to choose the penalty
                 clock:bool=False, # fit and forecast in the operational time of a `SeasonalClock` (as `bgnbd_gg_clock`)
                 spend:str='gg', # 'gg': plain Gamma-Gamma; 'cov': Gamma-Gamma with log-linear links on the same features
                 basket_only:bool=False, # the first basket's features alone (no season of acquisition, no cohort)
                 btyd_total:bool=False, # scale the forecasts to plain BG/NBD + GG's totals (on the clock when `clock`): the network's shares
                 min_weeks:int=50, # the clock's history requirement
                 seed:int=0, maxiter:int=400):
        self.hidden, self.lams, self.val_frac, self.clock_on, self.spend, self.min_weeks = hidden, tuple(lams), val_frac, clock, spend, min_weeks
        self.seed, self.maxiter, self.basket_only, self.btyd_total = seed, maxiter, basket_only, btyd_total
        if clock: self.name = 'neural_btyd_clock'

    def fit(self, tx, calibration_end):
        "Summary, acquisition features, plain BG/NBD + GG (+ the clock), the penalty on validation customers, the fit on all."
        cal = calibration_rows(tx, calibration_end)
        s = summarize(cal, calibration_end); self.summary_ = s
        base = BGNBDGG().fit_summary(s); notes = list(base.fit_notes)
        self.spend_ = base.spend_
        x, tx_, T = (s[c].to_numpy('float64') for c in ('frequency', 'recency', 'T'))
        self.as_of_ = day_number(calibration_end)
        self.clock = SeasonalClock(self.min_weeks)
        if self.clock_on:
            self.clock.fit(cal, calibration_end, base.transactions_)
            notes.append(f"seasonal clock {self.clock.note}")
            if self.clock.active:
                tx_, T = warp(self.clock, x, tx_, T, self.as_of_)
                bt = BetaGeo().fit(x, tx_, T); base.transactions_ = bt; notes += bt.fit_notes_
        tm = base.transactions_
        self.nbd_ = tm.params_['a'] == 0
        p0 = [tm.params_[k] for k in BetaGeo.param_names]; self.plain_ = tm
        F = acquisition_features(cal, s)
        if self.basket_only: F = F.drop(columns=list(TIME_COLS))
        self.features_ = [c for c in F.columns if F[c].std() > 1e-9]   # constant columns say nothing
        self.scaler_ = Normalizer(self.features_).fit(F); Z = np.clip(self.scaler_.transform(F[self.features_].to_numpy('float64')), -5, 5)
        d, H = Z.shape[1], self.hidden
        n = len(x); self.H_ = H
        ll_plain = lambda idx: neural_loglik(plain_theta(p0, d, H, self.nbd_), Z[idx], H, x[idx], tx_[idx], T[idx], self.nbd_)
        # the penalty: fitted on 80 % of the customers, scored on the rest; plain BG/NBD refitted on the same 80 % as the yardstick
        perm = np.random.default_rng(self.seed).permutation(n); nv = int(n*self.val_frac)
        va, tr = np.sort(perm[:nv]), np.sort(perm[nv:])
        self.val_ = {}
        if d and nv >= 20:
            btr = BetaGeo().fit(x[tr], tx_[tr], T[tr]); ptr = [btr.params_[k] for k in BetaGeo.param_names]
            nbd_tr = btr.params_['a'] == 0
            plain_va = float(neural_loglik(plain_theta(ptr, d, H, nbd_tr), Z[va], H, x[va], tx_[va], T[va], nbd_tr).mean())
            self.val_['plain'] = plain_va
            for lam in self.lams:
                th, _ = fit_neural(x[tr], tx_[tr], T[tr], Z[tr], H, ptr, lam, nbd_tr, self.seed, self.maxiter)
                self.val_[lam] = float(neural_loglik(th, Z[va], H, x[va], tx_[va], T[va], nbd_tr).mean())
        best = max(self.val_, key=self.val_.get) if self.val_ else 'plain'
        if best == 'plain':
            self.theta_, self.lam_ = plain_theta(p0, d, H, self.nbd_), None
            notes.append("neural BTYD: no penalty beats plain BG/NBD on the validation customers" if self.val_ else
                         "neural BTYD: too few customers (or features) to validate a network; plain BG/NBD")
        else:
            self.theta_, res = fit_neural(x, tx_, T, Z, H, p0, best, self.nbd_, self.seed, self.maxiter)
            self.lam_ = best
            notes.append(f"neural BTYD: penalty {best:g} chosen on {nv} validation customers (log-likelihood per customer "
                         f"{self.val_[best] - self.val_['plain']:+.4f} over plain BG/NBD); {res.nit} L-BFGS iterations")
        self.Z_, self.ll_gain_ = Z, float((neural_loglik(self.theta_, Z, H, x, tx_, T, self.nbd_) - ll_plain(slice(None))).sum())
        if self.spend == 'cov':
            self.spend_cov_ = GammaGammaCov().fit(s['frequency'], s['monetary_value'], Z, prior_sd=1.0)
        self.fit_notes = notes
        return self

    def customer_params(self) -> tuple:
        "(r, alpha_i, a_i, b_i) of the fit customers."
        return customer_params(self.theta_, self.Z_, self.H_, self.nbd_)

    def predict(self, horizon_weeks:float):
        "Per-customer expected transactions, spend, P(purchase) and P(alive): BG/NBD's closed forms with each customer's parameters."
        if not hasattr(self, 'theta_'): raise CLVUserError(f"{self.name}: call fit(tx, calibration_end) before predicting")
        h = check_horizon(horizon_weeks); s = self.summary_
        x, tx, T, m = (s[c].to_numpy('float64') for c in ('frequency', 'recency', 'T', 'monetary_value'))
        if self.clock.active: tx, T = warp(self.clock, x, tx, T, self.as_of_); h = warp_horizon(self.clock, self.as_of_, h)
        prm = self.customer_params()
        ey = np.maximum(bgnbd_expected(prm, h, x, tx, T), 0.)
        spt = np.asarray(self.spend_cov_.expected_spend(x, m, self.Z_) if self.spend == 'cov' else self.spend_.conditional_expected_average_profit(x, m), 'float64')
        if self.btyd_total:   # plain BG/NBD + GG's totals of transactions and spend, shared out as the network's forecast shares them
            e0 = np.maximum(self.plain_.conditional_expected_number_of_purchases_up_to_time(h, x, tx, T), 0.)
            s0 = e0*self.spend_.conditional_expected_average_profit(x, m)
            spt = spt*(s0.sum()/max((ey*spt).sum(), 1e-300))/(e0.sum()/max(ey.sum(), 1e-300))
            ey = ey*e0.sum()/max(ey.sum(), 1e-300)
        return pd.DataFrame({'customer_id': s.index.astype(str).to_numpy(), 'pred_transactions': ey, 'pred_spend': ey*spt,
                             'p_purchase': np.clip(bgnbd_p_purchase(prm, h, x, tx, T), 0., 1.),
                             'p_alive': np.clip(bgnbd_p_alive(prm, x, tx, T), 0., 1.)})


def _check_gradient():
    "The analytic gradient of `neural_loglik` against central differences, at a random point (BG/NBD and its NBD limit)."
    rng = np.random.default_rng(1); n, d, H = 40, 3, 4
    x = rng.poisson(2, n).astype(float); T = rng.uniform(5, 30, n); tx = np.where(x > 0, T*rng.uniform(0, 1, n), 0.)
    Z = rng.normal(size=(n, d))
    for nbd in (False, True):
        th = np.r_[np.log([0.5, 4., 0.8, 2.5]), rng.normal(0, .3, 3*d + d*H + H + 3*H)]
        _, g = neural_loglik(th, Z, H, x, tx, T, nbd, grad=True)
        e = np.eye(len(th))*1e-6
        num = np.array([(neural_loglik(th + e[i], Z, H, x, tx, T, nbd).sum() - neural_loglik(th - e[i], Z, H, x, tx, T, nbd).sum())/2e-6 for i in range(len(th))])
        if nbd: num[2] = 0.
        assert np.allclose(g, num, rtol=1e-4, atol=1e-5), (nbd, np.abs(g - num).max())


def smoke():
    "The gradient check, `check_model` at a tiny size (both variants), and the network recovering a channel effect on a simulated log."
    from clv_nb.data import simulate_transactions
    from clv_nb.protocol import check_model
    _check_gradient()
    log, truth = simulate_transactions(300, seed=3, n_weeks=78, acquisition_weeks=40, channels=True)
    for kw in (dict(), dict(clock=True), dict(clock=True, btyd_total=True)): check_model(lambda: NeuralBTYD(maxiter=60, **kw), log, '2021-01-31', 13)
    log, truth = simulate_transactions(3000, seed=4, n_weeks=52, acquisition_weeks=20, channels=True, seasonality_on=False)
    m = NeuralBTYD().fit(log, '2020-09-30')
    assert m.lam_ is not None and m.ll_gain_ > 0, (m.val_, m.ll_gain_)
    r, al, a, b = m.customer_params()
    ch = truth.reindex(m.summary_.index)['channel'].to_numpy() if 'channel' in truth else None
    if ch is not None:   # referral buys faster than paid search in the simulator: the network's mean rate r/alpha_i says so too
        rate = pd.Series(r/al).groupby(ch).mean()
        assert rate['referral'] > rate['paid_search'], rate
    print(f"neural_btyd smoke ok: {m.fit_notes[-1]}; log-likelihood gain {m.ll_gain_:.1f}")


if __name__ == '__main__':
    smoke()
