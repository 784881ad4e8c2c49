#!/usr/bin/env python
"""Every figure the tutorial's prose quotes comes from a cell: a check of the notebooks' markdown against their stored outputs.

    python tools/check_figures.py [nbs/NN_x.ipynb ...]

A *figure* is a number written with a decimal point or a thousands separator (`0.761`, `92.63`, `20,425`) in a
markdown cell, outside LaTeX, code spans and links. Each must appear in the same notebook, in a code cell's stored
output (what a run printed) or in a code cell's source (a constant the code defines, e.g. `RATE_SD = 0.25`). A figure
that appears in neither was typed by hand: when a stored output changes (a re-run, a new model), the prose that
quoted the old value is caught here. Facts from outside the notebook (a version, a dataset's documented size, an
example in the text) are listed in `FACTS` with the reason they are typed.
Exit status 1 when a figure is found nowhere; prints one line per figure: notebook, cell, figure, context.
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURE = re.compile(r'(?<![\w.$\\-])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.$\\-])\d+\.\d+')

# notebook -> {figure: why it is typed rather than computed}
FACTS = {
    '00_data.ipynb': {'00.123': 'an example of a time format', '84.51': "the data owner's name (84.51°)"},
    '01b_protocol.ipynb': {'52.14': 'an example of a fractional horizon', '12346.0': 'an example of an id written as a float'},
    '02_lstm.ipynb': {'2.21': 'the TensorFlow version the remark is about'},
    '03_baselines.ipynb': {'10,000': 'the range of the extreme customers the test generates, stated in the text'},
    '03d_covariates.ipynb': {'2,469': "the Complete Journey's documented number of households"},
    '07_segment.ipynb': {'5.5': 'a worked example of quantiles on 1..10', '8.2': 'a worked example of quantiles on 1..10'},
    '08_explain.ipynb': {'0.05': 'an example of how to read a permutation importance'},
    '09a_bundle.ipynb': {'0.1': "the usual reading of PSI (a convention, not a result)", '0.25': "the usual reading of PSI (a convention)"},
    '13_bench.ipynb': {'2,469': "the Complete Journey's documented number of households"},
    '14_spark.ipynb': {'10,000': "Spark's documented default Arrow batch size", '200,000': 'the default chunk size of the scorer, stated in the text'},
    'index.ipynb': {'3.11': 'the Python version the project runs on', '1912.07753': 'an arXiv identifier'},
}


def _text(v): return ''.join(v) if isinstance(v, list) else str(v)


def outputs(cell) -> str:
    "The text of a code cell's stored outputs (stream text and every text/* representation)."
    out = []
    for o in cell.get('outputs', []):
        if 'text' in o: out.append(_text(o['text']))
        out += [_text(v) for k, v in (o.get('data') or {}).items() if k.startswith('text/')]
    return '\n'.join(out)


def prose(md:str) -> str:
    "Markdown without what is not prose: LaTeX, fenced and inline code, link targets."
    md = re.sub(r'\$\$.*?\$\$', ' ', md, flags=re.S)
    md = re.sub(r'```.*?```', ' ', md, flags=re.S)
    md = re.sub(r'\$[^$\n]*\$', ' ', md)
    md = re.sub(r'`[^`\n]*`', ' ', md)
    return re.sub(r'\]\([^)]*\)', ']', md)


def unbacked(path:Path) -> list:
    "(cell index, figure, context) of every figure of the notebook's prose that no code cell prints or defines."
    cells = json.loads(path.read_text())['cells']
    code = [c for c in cells if c['cell_type'] == 'code']
    known = '\n'.join([outputs(c) for c in code] + [_text(c['source']) for c in code])
    facts = FACTS.get(path.name, {})
    bad = []
    for i, c in enumerate(cells):
        if c['cell_type'] != 'markdown': continue
        s = prose(_text(c['source']))
        for m in FIGURE.finditer(s):
            f = m.group(0)
            if f in facts or any(v in known for v in (f, f.replace(',', ''), f.replace(',', '_'))): continue
            bad.append((i, f, ' '.join(s[max(0, m.start() - 50):m.end() + 20].split())))
    return bad


def main(paths):
    paths = [Path(p) for p in paths] or sorted((ROOT/'nbs').glob('*.ipynb'))
    n = 0
    for p in paths:
        for i, f, ctx in unbacked(p):
            print(f"{p.name} cell {i}: {f} is in no output or code of the notebook: ...{ctx}..."); n += 1
    print(f"check_figures: {len(paths)} notebooks, {n} figure(s) typed by hand")
    return 1 if n else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
