"""A generative weekly LSTM (research candidate): trained with teacher forcing on every calibration week of every
customer, it predicts the distribution of next week's transaction-days (0..7) and the spend per transaction from the
history and the calendar (week of year, customer age, weeks since the last purchase), then rolls each customer forward
over the horizon by sampling (Valendin, Reutterer, Platzer & Kalcher 2022). Expectations are Rao-Blackwellised (each
step adds the expected count given the sampled path), P(no purchase) is the product along the all-zero path.

Behind the `CLVModel` interface (fit, predict) for the research script; not part of the package."""
import os, sys, time, json
import numpy as np, pandas as pd

from clv_nb.features import daily_transactions, summarize, day_number
from clv_nb.lstm import lstm_step, keras_lstm_weights
from clv_nb.core import CLVModel
from clv_nb.protocol import calibration_rows

NCLS = 8  # transaction days in a week: 0..7


def panel(tx, cal_end, max_weeks=156):
    "Weekly panel of each customer from their first transaction week to the week ending on cal_end (weeks end on cal_end)."
    e = day_number(cal_end)
    d = daily_transactions(calibration_rows(tx, cal_end))
    day = ((d['date'].values.astype('datetime64[D]') - np.datetime64('1970-01-01', 'D')).astype(np.int64))
    q = -((e - day) // 7)                    # week number: 0 = the week ending on cal_end
    istx = d['is_transaction'].values; amt = d['amount'].values
    ids = pd.Index(d['customer_id'].unique())  # sorted by customer (daily_transactions sorts)
    cust = ids.get_indexer(d['customer_id'])
    # first transaction week per customer
    ft = np.full(len(ids), 1, np.int64)
    np.minimum.at(ft, cust[istx], q[istx])
    ok = ft <= 0
    L = np.minimum(1 - ft, max_weeks)           # steps = weeks from first tx week to week 0
    Lmax = int(L[ok].max())
    n = np.zeros((len(ids), Lmax)); s = np.zeros((len(ids), Lmax))
    col = Lmax - 1 + q                           # column of week q (week 0 in the last column)
    m = col >= 0
    np.add.at(n, (cust[m & istx], col[m & istx]), 1)
    np.add.at(s, (cust[m], col[m]), amt[m])
    start = Lmax - L                              # first real column
    return dict(ids=ids[ok], n=n[ok], s=s[ok], start=start[ok], e=e, Lmax=Lmax)


def phase(e, q):
    "Week-of-year angle of week q (mid-week day)."
    mid = e + 7 * np.asarray(q) - 3
    return (mid % 365.2425) / 365.2425 * 2 * np.pi


class GenerativeLSTM(CLVModel):
    def __init__(self, units=32, hidden=32, epochs=30, lr=3e-3, batch=256, patience=3, S=32, seed=0, val_frac=0.2,
                 max_train=50000, verbose=0, spend_w=1.0, drop=()):
        self.__dict__.update(locals()); del self.__dict__['self']
        self.name = 'generative_lstm'

    # ---- features
    def inputs(self, n, s, start, e, Lmax):
        "(N, L, F) inputs: week w's observation + the calendar/age/recency of week w+1."
        N = len(n)
        cols = np.arange(Lmax)
        real = cols[None, :] >= start[:, None]
        q = cols - (Lmax - 1)                                   # week number of each column
        ntx = n.clip(0, 7); sp = s
        cum = np.cumsum(ntx, 1)
        spos = np.where(ntx > 0, np.maximum(sp, 0), 0)
        cums = np.cumsum(spos, 1)
        mean_sp = np.where(cum > 0, cums / np.maximum(cum, 1), 0) / self.scale
        # weeks since last purchase week as of w
        lastw = np.where(ntx > 0, cols[None, :], -10**6)
        lastw = np.maximum.accumulate(lastw, 1)
        rec = np.where(lastw >= 0, cols[None, :] - lastw, 0)
        age = cols[None, :] + 1 - start[:, None]                 # age of week w+1 in weeks
        ph = phase(self.e if hasattr(self, 'e') else e, q + 1)
        ph = np.broadcast_to(ph, (N, Lmax))
        X = np.stack([np.log1p(ntx), np.log1p(np.maximum(sp, 0) / self.scale), (sp < 0).astype(float),
                      np.sin(ph), np.cos(ph), np.log1p(age) / 3, np.log1p(rec) / 3, np.log1p(cum) / 3, np.log1p(mean_sp)], -1)
        X = np.where(real[..., None], X, 0.)
        X = X * self.fmask
        return X.astype(np.float32), real

    def fit(self, tx, cal_end):
        import keras
        from keras import layers, ops
        t0 = time.time()
        keras.utils.set_random_seed(self.seed)
        P = panel(tx, cal_end)
        self.e = P['e']; self.ids = P['ids']
        names = ['n', 'sp', 'ret', 'sin', 'cos', 'age', 'rec', 'cum', 'msp']
        self.fmask = np.array([0. if k in self.drop else 1. for k in names])
        pos = P['s'][P['n'] > 0] / np.maximum(P['n'][P['n'] > 0], 1)
        self.scale = float(np.median(pos[pos > 0])) if (pos > 0).any() else 1.0
        X, real = self.inputs(P['n'], P['s'], P['start'], P['e'], P['Lmax'])
        N, L, F = X.shape
        # targets: next week's count class and spend per tx
        yn = np.zeros((N, L), np.int32); yn[:, :-1] = P['n'][:, 1:].clip(0, NCLS - 1)
        ys = np.zeros((N, L), np.float32)
        nn = P['n'][:, 1:]; ss = P['s'][:, 1:]
        ys[:, :-1] = np.where(nn > 0, np.maximum(ss, 0) / np.maximum(nn, 1), 0) / self.scale
        w = real.copy(); w[:, -1] = False                          # a target exists for every real step but the last
        rng = np.random.default_rng(self.seed)
        idx = rng.permutation(N)
        if N > self.max_train: idx = idx[:self.max_train]
        nv = max(int(len(idx) * self.val_frac), 1)
        va, tr = idx[:nv], idx[nv:]
        seq = keras.Input((None, F), name='seq'); msk = keras.Input((None,), dtype='bool', name='mask')
        h = layers.LSTM(self.units, return_sequences=True, name='lstm')(seq, mask=msk)
        z = layers.Dense(self.hidden, activation='relu', name='dense')(h)
        logits = layers.Dense(NCLS, name='count')(z)
        zs = layers.Dense(1, name='spend')(z)
        out = layers.Concatenate(name='out')([logits, zs])
        net = keras.Model([seq, msk], out)

        def loss(y, o):
            cls = ops.cast(y[..., 0], 'int32'); yv = y[..., 1]; wt = y[..., 2]
            ce = ops.sparse_categorical_crossentropy(cls, o[..., :NCLS], from_logits=True)
            zz = o[..., NCLS]
            nw = ops.cast(cls, 'float32')
            sl = nw * (ops.exp(zz) - yv * zz)
            return ops.sum((ce + self.spend_w * sl) * wt) / ops.maximum(ops.sum(wt), 1.)
        Y = np.stack([yn.astype(np.float32), ys, w.astype(np.float32)], -1)
        net.compile(keras.optimizers.Adam(self.lr), loss=loss)
        cb = [keras.callbacks.EarlyStopping(patience=self.patience, restore_best_weights=True)]
        hist = net.fit([X[tr], real[tr]], Y[tr], validation_data=([X[va], real[va]], Y[va]), epochs=self.epochs,
                       batch_size=self.batch, verbose=self.verbose, callbacks=cb, shuffle=True)
        self.net = net; self.epochs_run = len(hist.history['loss']); self.hist = hist.history
        self.W = {k: [np.asarray(a, np.float64) for a in net.get_layer(k).get_weights()] for k in ('dense', 'count', 'spend')}
        self.lstmW = [np.asarray(a, np.float64) for a in keras_lstm_weights(net.get_layer('lstm'))]
        # final state of every customer (NumPy forward over real steps)
        self.P = P; self.X = X; self.real = real
        self.state = self._encode(X, real)
        self.fit_s = time.time() - t0
        return self

    def _encode(self, X, real):
        N = len(X); u = self.units
        h = np.zeros((N, u)); c = np.zeros((N, u))
        for t in range(X.shape[1]):
            hn, cn = lstm_step(X[:, t].astype(np.float64), h, c, *self.lstmW)
            r = real[:, t][:, None]
            h = np.where(r, hn, h); c = np.where(r, cn, c)
        return h, c

    def _head(self, h):
        k, b = self.W['dense']; z = np.maximum(h @ k + b, 0)
        lo = z @ self.W['count'][0] + self.W['count'][1]
        lo = lo - lo.max(1, keepdims=True); p = np.exp(lo); p /= p.sum(1, keepdims=True)
        ms = np.exp(np.minimum(z @ self.W['spend'][0] + self.W['spend'][1], 30))[:, 0] * self.scale
        return p, ms

    def predict(self, horizon, S=None, chunk=20000):
        S = S or self.S
        P = self.P; N = len(P['ids'])
        ntx = P['n'].clip(0, 7)
        cols = np.arange(P['Lmax'])
        real = self.real
        # running quantities at the last week (week 0)
        cum = ntx.sum(1); spos = np.where(ntx > 0, np.maximum(P['s'], 0), 0).sum(1)
        lastw = np.where(ntx > 0, cols[None, :], -10**6).max(1)
        rec0 = np.where(lastw >= 0, P['Lmax'] - 1 - lastw, 0)
        age0 = P['Lmax'] - P['start']            # age of week 1 relative to first week = Lmax-1+1-start
        Hn = int(np.ceil(horizon)); frac = horizon - (Hn - 1)
        etx = np.zeros(N); esp = np.zeros(N); p0 = np.zeros(N)
        rng = np.random.default_rng(self.seed)
        h0, c0 = self.state
        for a in range(0, N, chunk):
            b = min(a + chunk, N); n = b - a
            R = S + 1   # path 0 = all-zero path
            h = np.repeat(h0[a:b], R, 0); c = np.repeat(c0[a:b], R, 0)
            cm = np.repeat(cum[a:b], R).astype(float); sp = np.repeat(spos[a:b], R).astype(float)
            rec = np.repeat(rec0[a:b], R).astype(float); age = np.repeat(age0[a:b], R).astype(float)
            E = np.zeros(n * R); ES = np.zeros(n * R); logp0 = np.zeros(n)
            zero = (np.arange(n * R) % R) == 0
            for t in range(1, Hn + 1):
                p, ms = self._head(h)
                f = frac if t == Hn else 1.0
                en = p @ np.arange(NCLS)
                E += f * en; ES += f * en * ms
                logp0 += np.log(np.maximum(p[zero, 0], 1e-300)) if f == 1.0 else np.log1p(-f * (1 - p[zero, 0]))
                if t == Hn: break
                u = rng.random(n * R)[:, None]
                k = (np.cumsum(p, 1) < u).sum(1).clip(0, NCLS - 1).astype(float)
                k[zero] = 0
                s = k * ms
                cm += k; sp += s
                rec = np.where(k > 0, 0, rec + 1)
                mean_sp = np.where(cm > 0, sp / np.maximum(cm, 1), 0) / self.scale
                ph = phase(self.e, t + 1)
                x = np.stack([np.log1p(k), np.log1p(s / self.scale), np.zeros(n * R), np.full(n * R, np.sin(ph)), np.full(n * R, np.cos(ph)),
                              np.log1p(age + 1) / 3, np.log1p(rec) / 3, np.log1p(cm) / 3, np.log1p(mean_sp)], -1)
                age = age + 1
                h, c = lstm_step(x * self.fmask, h, c, *self.lstmW)
            E = E.reshape(n, R)[:, 1:].mean(1); ES = ES.reshape(n, R)[:, 1:].mean(1)
            etx[a:b] = E; esp[a:b] = ES; p0[a:b] = np.exp(logp0)
        return pd.DataFrame({'customer_id': pd.array(P['ids'].values, dtype='str'), 'pred_transactions': etx,
                             'pred_spend': esp, 'p_purchase': 1 - p0})
