#!/usr/bin/env python
"""Serving benchmarks for `clv_nb.deploy` / `clv_nb.serve` on the default bundle (`clv_nb fit` on CDNOW, calibration to 1997-09-30).

    python bench/bench_serve.py [--smoke] [--out FILE] [--rate 500] [--seconds 60]

1. in-process incremental update (no durable write): p50/p99 of `model.update` alone and of update + one-customer
   `predict_arrays` (what the service computes per event), over CDNOW lines replayed in time order;
2. HTTP open-loop load: events POSTed one per request on a fixed schedule (`rate`/s for `seconds`), from this
   process (asyncio, hand-written keep-alive HTTP/1.1 pool of at most 64 connections) to one uvicorn worker in a separate
   process on 127.0.0.1; latency is measured from the *scheduled* send time (no coordinated omission); SQLite
   synchronous=FULL with group commit (the default), then the same load with synchronous=NORMAL for comparison;
3. batch scoring throughput (customers/s) of `predict_bundle` on the full CDNOW log (23,570 customers), median of 3.
Prints one JSON object (also written to --out). Targets (issue 8): 1 < 1 ms p99, 2 p99 < 50 ms with 0 errors, 3 >= 25,000/s.
"""
import argparse, asyncio, json, os, signal, sys, tempfile, time
from pathlib import Path
import numpy as np


def pct(a, q): return float(np.percentile(np.asarray(a), q)) if len(a) else None


def bench_update(model, tx, n):
    rows = tx.sort_values('date')[['customer_id', 'date', 'amount']].head(n)
    ev = [(c, d.to_pydatetime(), float(a)) for c, d, a in rows.itertuples(index=False)]
    states, upd, both = {}, [], []
    for c, d, a in ev:                       # update alone
        st = states.get(c) or model.empty_state()
        t0 = time.perf_counter_ns(); st = model.update(st, d, a); upd.append(time.perf_counter_ns() - t0)
        states[c] = st
    states = {}
    for c, d, a in ev:                       # update + the one-customer prediction the service returns
        st = states.get(c) or model.empty_state()
        t0 = time.perf_counter_ns(); st = model.update(st, d, a); model.predict_arrays([st], d, 39.0)
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


def bench_http(bundle, tx, rate, seconds, tmp, synchronous='FULL'):
    from clv_nb.serve import start_server
    n = int(rate * seconds)
    rows = tx.sort_values('date')[['customer_id', 'date', 'amount']].head(n)
    events = [{'event_id': f'b{i}', 'customer_id': c, 'timestamp': d.isoformat(), 'amount': float(a)}
              for i, (c, d, a) in enumerate(rows.itertuples(index=False))]
    proc, url = start_server(bundle, Path(tmp)/f'bench_{synchronous}.sqlite', synchronous=synchronous)
    try:
        lat, errors, wall = asyncio.run(_load(url, events, rate))
        import httpx; h = httpx.get(url + '/health').json()
    finally:
        os.kill(proc.pid, signal.SIGKILL); proc.wait()
    ms = [x * 1e3 for x in lat]
    return {'target_rate': rate, 'seconds': seconds, 'requests': len(events), 'achieved_rate': len(events) / wall,
            'p50_ms': pct(ms, 50), 'p99_ms': pct(ms, 99), 'max_ms': max(ms), 'errors': len(errors),
            'error_kinds': sorted(set(map(str, errors)))[:5], 'events_stored': h['events'], 'synchronous': synchronous}


def bench_batch(bundle, tx, reps=3):
    from clv_nb.deploy import predict_bundle
    secs = []
    for _ in range(reps):
        t0 = time.perf_counter(); p = predict_bundle(bundle, tx, 39, as_of='1997-09-30', progress=False); secs.append(time.perf_counter() - t0)
    s = float(np.median(secs))
    return {'customers': len(p), 'seconds_median': s, 'customers_per_s': len(p) / s}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--smoke', action='store_true'); ap.add_argument('--out')
    ap.add_argument('--rate', type=float); ap.add_argument('--seconds', type=float)
    ap.add_argument('--full-only', action='store_true', help='skip the synchronous=NORMAL comparison run')
    a = ap.parse_args()
    from clv_nb.deploy import fit_bundle, load_bundle, _cdnow_log
    tx = _cdnow_log('master')
    cal = tx[tx.date <= '1997-09-30']
    rate = a.rate or (50 if a.smoke else 500); secs = a.seconds or (2 if a.smoke else 60)
    res = {'smoke': a.smoke, 'loadavg_start': [round(x, 2) for x in os.getloadavg()], 'cpus': os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        bundle = fit_bundle(tx, '1997-09-30', Path(tmp)/'bundle')
        model, _ = load_bundle(bundle)
        res['in_process'] = bench_update(model, tx, 2000 if a.smoke else 60000)
        res['http_open_loop'] = bench_http(bundle, tx, rate, secs, tmp, 'FULL')
        if not a.smoke and not a.full_only: res['http_open_loop_sync_normal'] = bench_http(bundle, tx, rate, secs, tmp, 'NORMAL')
        res['batch'] = bench_batch(bundle, cal.head(3000) if a.smoke else cal, 1 if a.smoke else 3)
    res['loadavg_end'] = [round(x, 2) for x in os.getloadavg()]
    txt = json.dumps(res, indent=1)
    if a.out: Path(a.out).write_text(txt)
    print(txt)


if __name__ == '__main__':
    main()
