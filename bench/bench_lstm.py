#!/usr/bin/env python
"""Speed of the NumPy LSTM (`clv_nb.lstm`): one incremental step, sigmoid variants, full forward pass vs Keras.

    python bench/bench_lstm.py              # full sizes: 23,570 customers x 39 weeks x 10 inputs, 64 units
    python bench/bench_lstm.py --smoke      # tiny sizes, a few seconds
    python bench/bench_lstm.py --out f.json

Figures (JSON on stdout, and in --out if given):
- `step_us`: one `lstm_step` for one customer (64 units, 10 inputs), median/min/max microseconds per call over
  many repeats after warm-up (target: median < 50 us);
- `sigmoid_us`: `scipy.special.expit` vs the tanh identity (`clv_nb.lstm.sigmoid`) on 256 numbers (one customer's
  pre-activations) and on a (256, 256) block (one chunk of the batch forward);
- `forward`: `lstm_forward` on the whole batch vs Keras' own CPU forward pass (the layer called directly on the same
  batch with the same weights, float32), best of `repeats` runs each, and their ratio (target: NumPy < 2 s and at
  least as fast as Keras); the maximum absolute difference between the two outputs is reported as a check;
  `numpy_default_blas_threads_s` is one run of `lstm_forward` with BLAS left at its default thread count (what
  `lstm_forward` avoids by holding BLAS to one thread during the recurrence).
- `cpu`: what bounds the forward pass. `matmul_gflops`: this CPU's measured float32 matmul throughput, one BLAS thread,
  at the recurrent product's shape ((256, 64) @ (64, 256), what `lstm_forward` does once per chunk and week) and at
  (2048, 2048) @ (2048, 2048) (near the core's peak), and the large one with BLAS' default threads; `tanh_256x256_us`:
  one (256, 256) tanh (the gates' transcendental per chunk and week); `forward_flops_per_customer`: the matrix
  products of one customer's 39-week forward pass, 2·T·(F + n)·4n, and the rate `lstm_forward` achieved on them.
Run with TF_NUM_INTRAOP_THREADS=2 TF_NUM_INTEROP_THREADS=1 (as bench/run.py does); NumPy uses OpenBLAS' own threads.
"""
import argparse, contextlib, json, os, sys, time, timeit
import numpy as np


def step_figures(n_units=64, n_in=10, number=2000, repeat=50):
    "Microseconds per `lstm_step` call for one customer."
    from clv_nb.lstm import lstm_step
    r = np.random.default_rng(0)
    k = r.uniform(-.3, .3, (n_in, 4*n_units)).astype(np.float32)
    rk = r.uniform(-.3, .3, (n_units, 4*n_units)).astype(np.float32)
    b = np.zeros(4*n_units, np.float32)
    x, h, c = r.normal(size=n_in).astype(np.float32), np.zeros(n_units, np.float32), np.zeros(n_units, np.float32)
    for _ in range(1000): h, c = lstm_step(x, h, c, k, rk, b)   # warm-up
    ts = np.array(timeit.repeat(lambda: lstm_step(x, h, c, k, rk, b), number=number, repeat=repeat)) / number * 1e6
    return {'units': n_units, 'inputs': n_in, 'dtype': 'float32', 'calls': number*repeat,
            'median': round(float(np.median(ts)), 2), 'min': round(float(ts.min()), 2), 'max': round(float(ts.max()), 2)}


def sigmoid_figures(number=2000, repeat=20):
    "Microseconds per sigmoid evaluation, expit vs tanh identity, small and large float32 arrays."
    from scipy.special import expit
    from clv_nb.lstm import sigmoid
    out = {}
    for label, shape, num in (('256', (256,), number), ('256x256', (256, 256), max(1, number // 20))):
        z = np.random.default_rng(0).normal(size=shape).astype(np.float32); o = np.empty_like(z)
        for name, f in (('expit', lambda: expit(z, out=o)), ('tanh_identity', lambda: sigmoid(z, out=o))):
            f()
            out[f'{name}_{label}'] = round(float(min(timeit.repeat(f, number=num, repeat=repeat)) / num * 1e6), 2)
    return out


def forward_figures(n_cust, n_weeks=39, n_in=10, n_units=64, repeats=3):
    "Seconds for lstm_forward vs a Keras LSTM layer on the same batch and weights."
    from clv_nb.lstm import lstm_forward, keras_lstm_weights
    import keras
    r = np.random.default_rng(0)
    x = r.normal(size=(n_cust, n_weeks, n_in)).astype(np.float32)
    layer = keras.layers.LSTM(n_units, return_sequences=True, return_state=True)
    layer.build((None, n_weeks, n_in))
    layer.set_weights([r.uniform(-.3, .3, w.shape).astype(np.float32) for w in layer.get_weights()])
    w = keras_lstm_weights(layer)
    lstm_forward(x[:256], *w); np.asarray(layer(x[:256])[0])  # warm-up (Keras traces its function once)
    t_np, t_k = [], []
    for _ in range(repeats):
        t0 = time.perf_counter(); o_np = lstm_forward(x, *w)[0]; t_np.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); o_k = np.asarray(layer(x)[0]); t_k.append(time.perf_counter() - t0)
    import clv_nb.lstm as L
    saved, L.one_blas_thread = L.one_blas_thread, contextlib.nullcontext   # BLAS at its default thread count, for comparison
    try:
        t0 = time.perf_counter(); lstm_forward(x, *w); t_default = time.perf_counter() - t0
    finally: L.one_blas_thread = saved
    return {'customers': n_cust, 'weeks': n_weeks, 'inputs': n_in, 'units': n_units, 'repeats': repeats,
            'numpy_s': round(min(t_np), 3), 'keras_s': round(min(t_k), 3),
            'numpy_all_s': [round(t, 3) for t in t_np], 'keras_all_s': [round(t, 3) for t in t_k],
            'keras_over_numpy': round(min(t_k) / min(t_np), 2),
            'numpy_default_blas_threads_s': round(t_default, 3),
            'max_abs_diff': float(np.abs(o_np - o_k).max())}


def cpu_figures(fwd, smoke):
    "Measured matmul throughput (one BLAS thread / default threads) and the forward pass's achieved FLOP rate."
    from clv_nb.lstm import one_blas_thread
    r = np.random.default_rng(0)
    def gflops(m, k, n, number, one_thread=True):
        a, b = r.normal(size=(m, k)).astype(np.float32), r.normal(size=(k, n)).astype(np.float32)
        o = np.empty((m, n), np.float32)
        f = lambda: np.matmul(a, b, out=o)
        import contextlib
        with (one_blas_thread() if one_thread else contextlib.nullcontext()):
            f()
            best = min(timeit.repeat(f, number=number, repeat=5 if smoke else 15)) / number
        return round(2 * m * k * n / best / 1e9, 2)
    z = r.normal(size=(256, 256)).astype(np.float32); o = np.empty_like(z)
    np.tanh(z, out=o)
    tanh_us = min(timeit.repeat(lambda: np.tanh(z, out=o), number=200, repeat=5 if smoke else 20)) / 200 * 1e6
    T, F, n = fwd['weeks'], fwd['inputs'], fwd['units']
    flops = 2 * T * (F + n) * 4 * n
    achieved = flops * fwd['customers'] / fwd['numpy_s'] / 1e9
    out = {'matmul_gflops': {'recurrent_256x64x256_1thread': gflops(256, 64, 256, 200 if smoke else 2000),
                             'large_2048_1thread': gflops(2048, 2048, 2048, 1 if smoke else 3),
                             'large_2048_default_threads': gflops(2048, 2048, 2048, 1 if smoke else 3, one_thread=False)},
           'tanh_256x256_us': round(tanh_us, 2),
           'forward_flops_per_customer': flops, 'forward_achieved_gflops': round(achieved, 2)}
    # per chunk of 256 customers and week: the recurrent product + one tanh over the gates (the two big pieces)
    mm_us = 2 * 256 * n * 4 * n / (out['matmul_gflops']['recurrent_256x64x256_1thread'] * 1e9) * 1e6
    out['per_chunk_week_us'] = {'recurrent_matmul_est': round(mm_us, 2), 'gates_tanh': round(tanh_us, 2),
                                'measured_total': round(fwd['numpy_s'] / (np.ceil(fwd['customers'] / 256) * T) * 1e6, 2)}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--smoke', action='store_true', help='tiny sizes (seconds)')
    ap.add_argument('--out', help='also write the JSON figures to this file')
    a = ap.parse_args()
    for k, v in {'TF_NUM_INTRAOP_THREADS': '2', 'TF_NUM_INTEROP_THREADS': '1', 'TF_CPP_MIN_LOG_LEVEL': '2'}.items():
        os.environ.setdefault(k, v)
    res = {'smoke': a.smoke, 'loadavg': [round(x, 2) for x in os.getloadavg()], 'cpus': os.cpu_count(),
           'step_us': step_figures(number=200 if a.smoke else 2000, repeat=10 if a.smoke else 50),
           'sigmoid_us': sigmoid_figures(number=200 if a.smoke else 2000, repeat=3 if a.smoke else 20),
           'forward': forward_figures(500 if a.smoke else 23570, repeats=1 if a.smoke else 3)}
    res['cpu'] = cpu_figures(res['forward'], a.smoke)
    res['targets_met'] = {'step_median_under_50us': res['step_us']['median'] < 50,
                          'forward_under_2s': res['forward']['numpy_s'] < 2,
                          'forward_at_least_as_fast_as_keras': res['forward']['keras_over_numpy'] >= 1}
    s = json.dumps(res)
    if a.out: open(a.out, 'w').write(json.dumps(res, indent=1) + '\n')
    print(s)


if __name__ == '__main__':
    main()
