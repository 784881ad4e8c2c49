#!/usr/bin/env python
"""Serving benchmarks for `clv_nb.bundle` / `clv_nb.score` / `clv_nb.serve` on the default bundle (`clv_nb fit` on CDNOW, calibration to 1997-09-30).

    python bench/bench_serve.py [--smoke] [--out FILE] [--rate 500] [--seconds 60] [--kind lstm_hybrid|bgnbd_gg]
                                [--bundle DIR] [--http-only] [--full-only]

0. the bundle: `clv_nb fit` (the console script, default kind = lstm_hybrid) on the CDNOW master log written as CSV;
   its wall time is reported (--smoke: the CDNOW sample, 1 epoch, in process);
1. in-process incremental update (no durable write): p50/p99 of `model.update_state` alone and of update + one-customer
   `predict_state` (what the service computes per event), over CDNOW lines replayed in time order;
2. HTTP open-loop load: events POSTed one per request on a fixed schedule (`rate`/s for `seconds`), from this
   process (asyncio, hand-written keep-alive HTTP/1.1 pool of at most 64 connections) to one uvicorn worker in a separate
   process on 127.0.0.1; latency is measured from the *scheduled* send time (no coordinated omission), with the
   generator's garbage collector off during the load (its own pauses would be charged to the server); SQLite
   synchronous=FULL with group commit (the default), then the same load with synchronous=NORMAL for comparison;
3. batch scoring throughput (customers/s) of `predict_bundle` on the full CDNOW calibration log (23,570 customers),
   median of 3; for lstm_hybrid also the same pipeline with Keras' own `predict` for the LSTM (the peer), and the
   LSTM alone: NumPy (`clv_nb.lstm.lstm_final_state`) vs `keras.Model.predict` on the same sequences;
4. the durability check the writer runs around every commit group (stat + access of the database and its WAL before
   the commit, stat after it), in microseconds; and the disk's own fsync latency (the floor of a durable commit).
Prints one JSON object (also written to --out). Targets: 1 < 1 ms p99, 2 p99 < 20 ms with 0 errors, 3 >= 25,000/s.
"""
import argparse, asyncio, json, os, signal, sys, tempfile, time, timeit
from pathlib import Path
import numpy as np


def pct(a, q): return float(np.percentile(np.asarray(a), q)) if len(a) else None


def bench_update(model, tx, n):
    rows = tx.sort_values('date')[['customer_id', 'date', 'amount']].head(n)
    ev = [(c, d.to_pydatetime(), float(a)) for c, d, a in rows.itertuples(index=False)]
    states, upd, both = {}, [], []
    for c, d, a in ev:                       # update alone
        st = states.get(c) or model.new_state()
        t0 = time.perf_counter_ns(); st = model.update_state(st, d, a); upd.append(time.perf_counter_ns() - t0)
        states[c] = st
    states = {}
    for c, d, a in ev:                       # update + the one-customer prediction the service returns
        st = states.get(c) or model.new_state()
        t0 = time.perf_counter_ns(); st = model.update_state(st, d, a); model.predict_state([st], d, 39.0)
        both.append(time.perf_counter_ns() - t0); states[c] = st
    ms = lambda v: [x / 1e6 for x in v]
    return {'events': len(ev), 'update_p50_ms': pct(ms(upd), 50), 'update_p99_ms': pct(ms(upd), 99),
            'update_predict_p50_ms': pct(ms(both), 50), 'update_predict_p99_ms': pct(ms(both), 99)}


async def _load(url, events, rate, conns=64, timeout=10.0):
    """Open loop over raw keep-alive HTTP/1.1 connections (a FIFO pool of `conns` asyncio streams).

    httpx's pool degrades quadratically with thousands of queued requests, which made the load generator
    (not the server) the bottleneck; a hand-written pool keeps the client's cost per request constant."""
    host, port = url.split('//')[1].split(':'); port = int(port)
    pool = asyncio.Queue()
    for _ in range(conns): pool.put_nowait(None)          # None = connect lazily
    lat, errors, tasks = [], [], []
    async def one(due, ev):
        conn = await pool.get()
        try:
            if conn is None: conn = await asyncio.open_connection(host, port)
            r, w = conn
            body = json.dumps(ev).encode()
            w.write(b'POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: '
                    + str(len(body)).encode() + b'\r\n\r\n' + body)
            head = await asyncio.wait_for(r.readuntil(b'\r\n\r\n'), timeout)
            status = int(head.split(b' ', 2)[1])
            n = int([l.split(b':')[1] for l in head.split(b'\r\n') if l.lower().startswith(b'content-length')][0])
            await asyncio.wait_for(r.readexactly(n), timeout)
            if status != 200: errors.append(status)
            pool.put_nowait(conn)
        except Exception as e:
            errors.append(type(e).__name__); pool.put_nowait(None)
            try: conn[1].close()
            except Exception: pass
        lat.append(time.perf_counter() - due)
    start = time.perf_counter() + 0.2
    for i, ev in enumerate(events):                        # the schedule: request i is due at start + i/rate
        due = start + i / rate
        d = due - time.perf_counter()
        if d > 0: await asyncio.sleep(d)
        tasks.append(asyncio.create_task(one(due, ev)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        c = pool.get_nowait()
        if c is not None: c[1].close()
    return lat, errors, time.perf_counter() - start


def free_port() -> int:
    import socket
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def start_server(model, db, wait=60, **kw):
    """`clv_nb.serve.serve` in a subprocess; `(Popen, base_url)` once /health answers."""
    import subprocess, httpx
    port = free_port()
    args = json.dumps({'model': str(model), 'db': str(db), 'port': port, **kw})
    err = tempfile.TemporaryFile()   # a file, not a pipe: a chatty server can never block on a full pipe
    p = subprocess.Popen([sys.executable, '-c', f"import json; from clv_nb.serve import serve; serve(**json.loads({args!r}))"],
                         stdout=subprocess.DEVNULL, stderr=err)
    url, t0 = f"http://127.0.0.1:{port}", time.time()
    while time.time() - t0 < wait:
        if p.poll() is not None: err.seek(0); raise RuntimeError(f"server exited: {err.read().decode()[-2000:]}")
        try:
            if httpx.get(url + '/health', timeout=1).status_code == 200: return p, url
        except httpx.HTTPError: time.sleep(0.1)
    p.kill(); raise RuntimeError('server did not start')


def bench_http(bundle, tx, rate, seconds, tmp, synchronous='FULL'):
    n = int(rate * seconds)
    rows = tx.sort_values('date')[['customer_id', 'date', 'amount']].head(n)
    events = [{'event_id': f'b{i}', 'customer_id': c, 'timestamp': d.isoformat(), 'amount': float(a)}
              for i, (c, d, a) in enumerate(rows.itertuples(index=False))]
    proc, url = start_server(bundle, Path(tmp)/f'bench_{synchronous}.sqlite', synchronous=synchronous)
    import gc
    try:
        gc.collect(); gc.freeze(); gc.disable()   # the load generator must not pause itself (its full collections took 45-60 ms)
        try: lat, errors, wall = asyncio.run(_load(url, events, rate))
        finally: gc.enable(); gc.unfreeze()
        import httpx; h = httpx.get(url + '/health').json()
    finally:
        os.kill(proc.pid, signal.SIGKILL); proc.wait()
    ms = [x * 1e3 for x in lat]
    return {'target_rate': rate, 'seconds': seconds, 'requests': len(events), 'achieved_rate': len(events) / wall,
            'p50_ms': pct(ms, 50), 'p99_ms': pct(ms, 99), 'max_ms': max(ms), 'errors': len(errors),
            'error_kinds': sorted(set(map(str, errors)))[:5], 'events_stored': h['events'], 'synchronous': synchronous}


def bench_batch(bundle, tx, reps=3):
    from clv_nb.bundle import load_bundle
    from clv_nb.score import predict_bundle
    secs = []
    for _ in range(reps):
        t0 = time.perf_counter(); p = predict_bundle(bundle, tx, 39, as_of='1997-09-30', progress=False); secs.append(time.perf_counter() - t0)
    s = float(np.median(secs))
    out = {'customers': len(p), 'seconds_median': s, 'customers_per_s': len(p) / s}   # the default output: scores, clv, segment
    bare = []
    for _ in range(reps):   # the scores alone (no discounted value): what the LSTM and heads cost
        t0 = time.perf_counter(); predict_bundle(bundle, tx, 39, as_of='1997-09-30', progress=False, discount_rate=None); bare.append(time.perf_counter() - t0)
    out['scores_only_customers_per_s'] = len(p) / float(np.median(bare))
    model, _ = load_bundle(bundle)
    if model.name == 'lstm_hybrid':
        out.update(_keras_peer(model, tx, reps, p))
        out['ratio_vs_keras_predict'] = out['customers_per_s'] / out['keras_customers_per_s']
    return out


def _keras_peer(model, tx, reps, ref):
    """The same batch pipeline with Keras `predict` for the LSTM encoder, and the LSTM alone both ways."""
    import keras
    from clv_nb.score import predict_bundle
    from clv_nb.features import week_sequences
    from clv_nb.lstm import lstm_final_state
    from clv_nb.model import LAYERS
    enc = keras.Model(model.net.inputs[0], model.net.get_layer(LAYERS.concat).input[0])
    orig = model.encode
    secs = []
    try:
        model.encode = lambda X: enc.predict(X, batch_size=4096, verbose=0).astype(np.float64)
        for _ in range(reps):
            t0 = time.perf_counter(); p = predict_bundle(model, tx, 39, as_of='1997-09-30', progress=False); secs.append(time.perf_counter() - t0)
    finally: model.encode = orig
    diff = float(np.abs(p.pred_spend.to_numpy() - ref.pred_spend.to_numpy()).max())
    X = week_sequences(tx, '1997-09-30'); lens = (np.abs(X).sum(2) > 0).sum(1)
    w = model.weights()[LAYERS.lstm]
    tn, tk = [], []
    for _ in range(reps):
        t0 = time.perf_counter(); lstm_final_state(X, *w, lens=lens); tn.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); enc.predict(X, batch_size=4096, verbose=0); tk.append(time.perf_counter() - t0)
    return {'keras_seconds_median': float(np.median(secs)), 'keras_customers_per_s': len(p) / float(np.median(secs)),
            'max_abs_pred_spend_diff_numpy_vs_keras': diff, 'sequences_shape': list(X.shape), 'active_weeks': int(lens.sum()),
            'lstm_only_numpy_s': float(np.median(tn)), 'lstm_only_keras_predict_s': float(np.median(tk)),
            'lstm_only_ratio': float(np.median(tk) / np.median(tn))}


def bench_check(model, tmp, n=20000):
    """Cost of the durability check around each commit group (`EventStore._files_ok`), best of 5 runs of `n` calls."""
    from clv_nb.serve import EventStore
    st = EventStore(Path(tmp)/'check.sqlite', model)
    try:
        before = min(timeit.repeat(st._files_ok, number=n, repeat=5)) / n
        after = min(timeit.repeat(lambda: st._files_ok(access=False), number=n, repeat=5)) / n
    finally: st.close()
    return {'before_commit_us': before * 1e6, 'after_commit_us': after * 1e6, 'per_commit_group_us': (before + after) * 1e6}


def bench_fsync(tmp, n=500, size=4096):
    """The disk's own fsync latency (append `size` bytes, fsync; `n` times) next to the database: the floor of every
    durable commit group's latency with synchronous=FULL."""
    lat = []
    with open(Path(tmp)/'fsync.bin', 'ab') as f:
        for _ in range(n):
            t0 = time.perf_counter(); f.write(b'x' * size); f.flush(); os.fsync(f.fileno()); lat.append((time.perf_counter() - t0) * 1e3)
    return {'writes': n, 'bytes': size, 'p50_ms': pct(lat, 50), 'p99_ms': pct(lat, 99), 'max_ms': max(lat)}


def fit_default(tx, tmp, smoke, kind):
    """The bundle as a user gets it: `clv_nb fit` (default kind) on CDNOW as a CSV file."""
    import subprocess
    out = Path(tmp)/'bundle'
    if smoke:
        from clv_nb.bundle import fit_bundle
        from clv_nb.data import load_cdnow
        t0 = time.perf_counter()
        fit_bundle(load_cdnow('sample'), '1997-09-30', out, kind=kind, **({'epochs': 1} if kind == 'lstm_hybrid' else {}))
        return out, {'how': 'fit_bundle(sample, epochs=1) in process', 'seconds': time.perf_counter() - t0, 'kind': kind}
    f = Path(tmp)/'cdnow.csv'; tx[['customer_id', 'date', 'amount']].to_csv(f, index=False)
    cmd = [str(Path(sys.executable).parent/'clv_nb'), 'fit', '--transactions', str(f), '--customer-col', 'customer_id',
           '--date-col', 'date', '--amount-col', 'amount', '--calibration-end', '1997-09-30', '--out', str(out)]
    if kind != 'lstm_hybrid': cmd += ['--kind', kind]
    t0 = time.perf_counter(); r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode: raise SystemExit(f"clv_nb fit failed: {r.stderr[-2000:]}")
    return out, {'how': ' '.join(['clv_nb'] + cmd[1:]).replace(str(tmp), '$TMP'), 'seconds': time.perf_counter() - t0, 'kind': kind}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--smoke', action='store_true'); ap.add_argument('--out')
    ap.add_argument('--rate', type=float); ap.add_argument('--seconds', type=float)
    ap.add_argument('--kind', default='lstm_hybrid', choices=['lstm_hybrid', 'bgnbd_gg'], help='bundle kind (default: the default of clv_nb fit)')
    ap.add_argument('--full-only', action='store_true', help='skip the synchronous=NORMAL comparison run')
    ap.add_argument('--bundle', help='an existing bundle directory to serve instead of fitting one (its fit time is not reported)')
    ap.add_argument('--http-only', action='store_true', help='only the HTTP load (step 2)')
    a = ap.parse_args()
    from clv_nb.bundle import load_bundle
    from clv_nb.data import load_cdnow
    tx = load_cdnow('master')[['customer_id', 'date', 'amount']]
    cal = tx[tx.date <= '1997-09-30']
    rate = a.rate or (50 if a.smoke else 500); secs = a.seconds or (2 if a.smoke else 60)
    res = {'smoke': a.smoke, 'loadavg_start': [round(x, 2) for x in os.getloadavg()], 'cpus': os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        if a.bundle: bundle, res['fit'] = Path(a.bundle), {'how': f'given: {a.bundle}'}
        else: bundle, res['fit'] = fit_default(tx, tmp, a.smoke, a.kind)
        model, meta = load_bundle(bundle)
        res['bundle_kind'] = meta['kind']
        if not a.http_only: res['in_process'] = bench_update(model, tx, 2000 if a.smoke else 60000)
        res['fsync'] = bench_fsync(tmp, 50 if a.smoke else 500)
        res['http_open_loop'] = bench_http(bundle, tx, rate, secs, tmp, 'FULL')
        if not a.smoke and not a.full_only: res['http_open_loop_sync_normal'] = bench_http(bundle, tx, rate, secs, tmp, 'NORMAL')
        if not a.http_only:
            res['durability_check'] = bench_check(model, tmp)
            res['batch'] = bench_batch(bundle, cal.head(3000) if a.smoke else cal, 1 if a.smoke else 3)
    res['loadavg_end'] = [round(x, 2) for x in os.getloadavg()]
    txt = json.dumps(res, indent=1)
    if a.out: Path(a.out).write_text(txt)
    print(txt)


if __name__ == '__main__':
    main()
