"""Check that a `clv_nb demo` run reproduces the committed results the README shows (nbs/results/cdnow_metrics.json).

    python tools/check_demo.py DEMO_DIR/metrics.json [nbs/results/cdnow_metrics.json]   # a Python with clv_nb installed

The README's results table (`clv_nb.evaluate.metrics_markdown`, each metric at its registered decimals) rendered from
the run must be the committed one to the last digit shown, every per-customer metric of every model must agree within
a relative tolerance (TF's kernels may differ in digits the README does not show between CPUs), and the recommended
model must be the same; exit 1 with one line per difference otherwise.
"""
import json, math, sys
from pathlib import Path

REL_TOL = 5e-3   # 0.5 % of the committed value (absolute 1e-6 near 0)


def differences(got:dict, want:dict, rel_tol:float=REL_TOL) -> list:
    "Lines naming every metric (and the recommendation) where the run differs from the committed results."
    out = []
    if got.get('default_model') != want.get('default_model'):
        out.append(f"recommended model: {got.get('default_model')} here, {want.get('default_model')} committed")
    if sorted(got['models']) != sorted(want['models']):
        out.append(f"models: {sorted(got['models'])} here, {sorted(want['models'])} committed")
    for name, w in want['models'].items():
        g = got['models'].get(name, {})
        for m in want.get('metrics', []):
            a, b = g.get(m), w.get(m)
            if a is None or b is None:
                if a is not b: out.append(f"{name} {m}: {a} here, {b} committed")
            elif not math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-6):
                out.append(f"{name} {m}: {a:.6g} here, {b:.6g} committed ({(a - b)/abs(b)*100 if b else float('inf'):+.2f} %)")
    return out


def table_differences(got:dict, want:dict) -> list:
    "Lines naming every row of the README's results table that the run renders otherwise than the committed results."
    from clv_nb.evaluate import metrics_markdown   # the function that writes the README's table
    g, w = metrics_markdown(got).splitlines(), metrics_markdown(want).splitlines()
    out = [f"README table row: {a!r} here, {b!r} committed" for a, b in zip(g, w) if a != b]
    return out + ([f"README table: {len(g)} rows here, {len(w)} committed"] if len(g) != len(w) else [])


if __name__ == '__main__':
    got = json.loads(Path(sys.argv[1]).read_text())
    want = json.loads(Path(sys.argv[2] if len(sys.argv) > 2 else Path(__file__).parents[1]/'nbs'/'results'/'cdnow_metrics.json').read_text())
    diff = differences(got, want) + table_differences(got, want)
    for d in diff: print(f"demo differs from the committed results: {d}", file=sys.stderr)
    print(f"demo vs committed results: {'the same' if not diff else f'{len(diff)} differences'} "
          f"({len(want['models'])} models x {len(want.get('metrics', []))} metrics, tolerance {REL_TOL:.1%}; the README's table to its last digit)")
    sys.exit(1 if diff else 0)
