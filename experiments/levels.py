"""Time models that set the total another way: candidates for the level of the deep model's forecast.

The deep default shares out its time model's total (BG/NBD + Gamma-Gamma, on the seasonal clock when the history has a
year), so its total error is its time model's. Each model here keeps BG/NBD + GG's customers and ranking and changes
only the level, in a way that reads nothing after the calibration end:

- `BTYDMix` (`btyd_mix`): the mean of BG/NBD + GG's and Pareto/NBD + GG's forecasts, a level between the two.
- `TrackedBGNBDGG` (`bgnbd_gg_tracked`): BG/NBD + GG scaled by how well it tracks the end of its own calibration period:
  the customers' actual repeat transactions over the last w = min(h, S/2) weeks before the calibration end, over the
  model's expectation of them (the unconditional E[X(T_i)] - E[X(T_i - w)] of each customer, T_i weeks after the first
  purchase). Above 1: the base bought more lately than the model expects, so its forecast is raised.
- `BasketBGNBDGG` (`bgnbd_gg_basket`): BG/NBD + GG with the spend per transaction of the calibration's repeat
  transactions (the transaction-weighted mean of the customers' mean repeat values) instead of Gamma-Gamma's level;
  each customer's spend is scaled by one factor, so the ranking is Gamma-Gamma's.

`experiments/deep_research.py` scores them on the backtests (chapter `05b_deep_research`). `python experiments/levels.py`
checks each on a tiny simulated log (`check_model`'s no-leakage test, and the level each sets).
"""
import numpy as np, pandas as pd
from clv_nb.core import CLVModel, as_day, CLVUserError
from clv_nb.baselines import BGNBDGG, ParetoNBDGG
from clv_nb.features import daily_transactions
from clv_nb.protocol import calibration_rows

COLS = ['pred_transactions', 'pred_spend', 'p_purchase', 'p_alive']


class BTYDMix(CLVModel):
    "The mean of BG/NBD + GG's and Pareto/NBD + GG's forecasts of every customer."
    name, fitted_attr = 'btyd_mix', 'parts_'
    def fit(self, tx, calibration_end):
        self.parts_ = [BGNBDGG().fit(tx, calibration_end), ParetoNBDGG().fit(tx, calibration_end)]
        self.fit_notes = [n for p in self.parts_ for n in p.fit_notes]
        return self
    def predict(self, horizon_weeks:float):
        self.check_fitted()
        a, b = (p.predict(horizon_weeks) for p in self.parts_)
        if not a['customer_id'].equals(b['customer_id']): raise CLVUserError("btyd_mix: the two models scored different customers")
        return a.assign(**{c: (a[c].to_numpy() + b[c].to_numpy())/2 for c in COLS})


def tracking_ratio(model:BGNBDGG, # fitted on the calibration rows
                   weeks_before:np.ndarray, # weeks before the calibration end of every repeat transaction of the calibration
                   h:float, # horizon asked (weeks): the window is min(h, S/2)
                  ) -> float:
    "Actual over expected repeat transactions of the fitted customers in the last min(h, S/2) weeks of the calibration period."
    T = model.summary_['T'].to_numpy('float64'); w = min(float(h), T.max()/2)
    tm = model.transactions_
    expected = float((tm.expected_number_of_purchases_up_to_time(T) - tm.expected_number_of_purchases_up_to_time(np.maximum(T - w, 0))).sum())
    return float((weeks_before < w).sum()/expected) if expected > 0 else 1.


class TrackedBGNBDGG(CLVModel):
    "BG/NBD + GG scaled by its tracking of the last min(h, S/2) weeks of its calibration period (`tracking_ratio`)."
    name, fitted_attr = 'bgnbd_gg_tracked', 'base_'
    def fit(self, tx, calibration_end):
        self.base_ = BGNBDGG().fit(tx, calibration_end); self.fit_notes = self.base_.fit_notes
        d = daily_transactions(calibration_rows(tx, calibration_end)); d = d[d['is_transaction'].to_numpy()]
        first = d.groupby(d['customer_id'].astype(str))['date'].transform('min')
        self.weeks_before_ = (as_day(calibration_end) - d.loc[d['date'] > first, 'date']).dt.days.to_numpy()/7
        return self
    def predict(self, horizon_weeks:float):
        self.check_fitted()
        p = self.base_.predict(horizon_weeks); k = tracking_ratio(self.base_, self.weeks_before_, horizon_weeks)
        return p.assign(pred_transactions=p['pred_transactions']*k, pred_spend=p['pred_spend']*k)


class BasketBGNBDGG(CLVModel):
    "BG/NBD + GG with the calibration's spend per repeat transaction as the level of spend (Gamma-Gamma's shares of it)."
    name, fitted_attr = 'bgnbd_gg_basket', 'base_'
    def fit(self, tx, calibration_end):
        self.base_ = BGNBDGG().fit(tx, calibration_end); self.fit_notes = self.base_.fit_notes
        return self
    def predict(self, horizon_weeks:float):
        self.check_fitted()
        p = self.base_.predict(horizon_weeks); s = self.base_.summary_
        rep = s[(s['frequency'] > 0) & (s['monetary_value'] > 0)]
        if not len(rep) or p['pred_transactions'].sum() <= 0 or p['pred_spend'].sum() <= 0: return p
        basket = float((rep['frequency']*rep['monetary_value']).sum()/rep['frequency'].sum())
        return p.assign(pred_spend=p['pred_spend']*basket/(p['pred_spend'].sum()/p['pred_transactions'].sum()))


def smoke():
    "Each level model on a tiny simulated log: no leakage (`check_model`), and the level it sets."
    from clv_nb.data import simulate_transactions
    from clv_nb.protocol import check_model
    tx, _ = simulate_transactions(n_customers=300, seed=3)
    ce = tx['date'].min() + pd.Timedelta(weeks=30); h = 10.
    bg, pn = BGNBDGG().fit(tx, ce).predict(h), ParetoNBDGG().fit(tx, ce).predict(h)
    mix = BTYDMix().fit(tx, ce).predict(h)
    assert np.allclose(mix['pred_spend'], (bg['pred_spend'] + pn['pred_spend'])/2)
    tr = TrackedBGNBDGG().fit(tx, ce)
    k = tracking_ratio(tr.base_, tr.weeks_before_, h); assert np.isfinite(k) and k > 0
    assert np.isclose(tr.predict(h)['pred_transactions'].sum(), k*bg['pred_transactions'].sum())
    b = BasketBGNBDGG().fit(tx, ce); pb = b.predict(h); s = b.base_.summary_
    s = s[(s['frequency'] > 0) & (s['monetary_value'] > 0)]   # the repeat buyers with a positive mean: the model's basket
    assert np.isclose(pb['pred_spend'].sum()/pb['pred_transactions'].sum(), (s['frequency']*s['monetary_value']).sum()/s['frequency'].sum())
    assert np.allclose(pb['pred_transactions'], bg['pred_transactions'])
    for m in (BTYDMix, TrackedBGNBDGG, BasketBGNBDGG): check_model(m, tx, ce, h)
    print(f"levels smoke: btyd_mix, bgnbd_gg_tracked (ratio {k:.3f}), bgnbd_gg_basket pass")


if __name__ == '__main__':
    smoke()
