#!/usr/bin/env python
"""Build the clv_nb documentation site into `_docs/` (and README.md from nbs/index.ipynb), without Quarto.

    python tools/build_docs.py                  # process nbs/*.ipynb -> _proc/, render _docs/ (home: index.html)
    python tools/build_docs.py --readme         # write README.md from nbs/index.ipynb
    python tools/build_docs.py --check-readme   # exit 1 if README.md differs from what --readme writes

Why this design:
- Quarto cannot be installed here, and nbdev's `nbdev_docs`/`nbdev_proc_nbs`/`nbdev_readme` try to
  install it, so none of them is called. The notebooks go through nbdev's OWN processing pipeline
  instead: `nbdev.processors.FilterDefaults` (frontmatter, `#| hide`/`#| export` removal, `show_doc`
  cells added after every exported definition and executed by `exec_show_docs`, doc links), driven
  by `nbdev.serve_drv.exec_nb` exactly as `nbdev.serve.proc_nbs` drives it. We call the driver
  ourselves (a spawn process pool, one fresh process per notebook) rather than `proc_nbs` because
  (a) `show_doc` must render a parameter *table* (nbdev 2.4.14 + fastcore 1.12 render docments as
  comments in the signature), which needs the renderer swapped inside the worker process, and
  (b) one fresh process per notebook keeps TensorFlow state from leaking between notebooks.
- The processed notebooks are then adapted from Quarto's dialect to plain Jupyter (the YAML
  frontmatter becomes a title + description cell; `#| echo: false` / `output: false` /
  `include: false` become nbconvert removal tags; directive comments are stripped) and rendered by
  **mkdocs-material + mkdocs-jupyter**: both install from PyPI as pure-Python wheels, mkdocs-jupyter
  renders notebooks with nbconvert from their stored outputs (no execution), so figures, tables and
  `show_doc` markdown come out exactly as stored, and mkdocs builds navigation and search.
- Offline: Google Fonts are disabled in the theme, MathJax 3 is vendored from npm at build time
  (pinned in docs_src/package.json + package-lock.json, installed into _proc/npm with `npm ci`),
  and docs_src/hooks.py strips the CDN scripts mkdocs-jupyter's template would add.
- README.md is rendered from the processed index notebook by this file (markdown cells as they are,
  code cells and their stored outputs as fenced blocks), with no execution: fast and deterministic.
"""
import argparse, json, os, re, shutil, subprocess, sys, time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT/'docs_src'
PROC = ROOT/'_proc'
NBS_OUT = PROC/'nbs'       # nbdev-processed notebooks (Quarto dialect)
DOCS_IN = PROC/'docs'      # the same, adapted for mkdocs-jupyter: mkdocs' docs_dir
NPM_DIR = PROC/'npm'

# ---------------------------------------------------------------------------------------------
# show_doc with a parameter table (runs inside the processing workers)

def _install_table_renderer():
    "Make nbdev's `show_doc` render: source link, heading, signature, docstring, parameter table."
    import inspect
    import nbdev.showdoc as sd
    from fastcore.docments import DocmentTbl, DocmentText
    from nbdev.doclinks import NbdevLookup

    class TableRenderer(sd.BasicMarkdownRenderer):
        def _repr_markdown_(self):
            doc = '---\n\n'
            src = NbdevLookup().code(self.fn)
            if src: doc += f'<a class="sd-source" href="{src}" target="_blank">source</a>\n\n'
            doc += f"{'#'*self.title_level} {self.nm}\n\n"
            try:
                sig = DocmentText(self.sym, maxline=self.maxline, docstring=False)
                for v in sig.dm.values(): v['docment'] = None   # the table below carries the docments
                sig = str(sig)
                if inspect.isclass(self.sym): sig = re.sub(r'^def ', 'class ', sig)
                doc += f'```python\n{sig}\n```\n\n'
            except Exception: pass
            if self.docs:   # first paragraph in italics (as nbdev does), the rest as written
                first, _, rest = self.docs.strip().partition('\n\n')
                doc += f'*{first.strip()}*\n\n' + (f'{rest.strip()}\n\n' if rest.strip() else '')
            try: tbl = DocmentTbl(self.sym)._repr_markdown_()
            except Exception: tbl = ''
            if tbl: doc += tbl + '\n'
            return doc
    sd.BasicMarkdownRenderer = TableRenderer


def _proc_one(src, dst, no_exec=False):
    "Process one notebook with nbdev's doc pipeline (worker process); `no_exec` skips `exec_show_docs`."
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    os.environ.setdefault('MPLBACKEND', 'Agg')
    os.chdir(ROOT)
    _install_table_renderer()
    import warnings
    warnings.filterwarnings('ignore', message='Found cells containing imports')
    from nbdev.processors import FilterDefaults, exec_show_docs
    from nbdev.serve_drv import exec_nb

    class NoExecDefaults(FilterDefaults):
        def base_procs(self): return [p for p in super().base_procs() if p is not exec_show_docs]
    t0 = time.time()
    if not no_exec:   # TensorFlow's C++ logging bypasses Python: keep it in a log, shown only on failure
        log = PROC/'logs'/(Path(src).stem + '.log'); log.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC); os.dup2(fd, 2); os.close(fd)
    os.environ['IN_TEST'] = '1'   # as nbdev.serve_drv.main does
    try: exec_nb(Path(src), Path(dst), NoExecDefaults if no_exec else FilterDefaults)
    except Exception as e:
        cause = e.__cause__ or e.__context__
        lines = str(e).strip().splitlines()
        msg = '\n    '.join(lines[:7] + (['...'] if len(lines) > 7 else []))
        msg += f'\n  -> {type(cause).__name__}: {cause}' if cause else ''
        raise RuntimeError(msg + '\n  (nbdev runs every exported cell, every show_doc cell and every cell that contains an '
                           'import when it builds docs: keep imports in their own cells, without other code)') from None
    finally: os.environ.pop('IN_TEST', None)
    return str(src), time.time() - t0


def notebooks():
    "Notebooks of nbs/ in file-name order (index first)."
    nbs = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))
    return sorted(nbs, key=lambda p: (p.name != 'index.ipynb', p.name))


def page_name(nb: Path) -> str:
    "nbdev's URL scheme (nbdev.doclinks._nbpath2html): 00_core.ipynb -> core, index.ipynb -> index."
    return re.sub(r'^\d+[a-zA-Z0-9]*_', '', nb.stem.lower())


def process_notebooks(nbs, workers=2, keep_going=False):
    "Run nbdev's processors on every notebook into _proc/nbs (fresh process per notebook)."
    if NBS_OUT.exists(): shutil.rmtree(NBS_OUT)
    NBS_OUT.mkdir(parents=True)
    env_defaults = {'TF_NUM_INTRAOP_THREADS': '1', 'TF_NUM_INTEROP_THREADS': '1', 'TF_CPP_MIN_LOG_LEVEL': '2'}
    for k, v in env_defaults.items(): os.environ.setdefault(k, v)
    failed = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context('spawn'), max_tasks_per_child=1) as ex:
        futs = {ex.submit(_proc_one, str(nb), str(NBS_OUT/nb.name)): nb for nb in nbs}
        for f in as_completed(futs):
            nb = futs[f]
            try:
                _, dt = f.result()
                print(f'  processed {nb.name} in {dt:.1f}s', flush=True)
            except Exception as e:
                failed.append(nb.name)
                print(f'  FAILED to process {nb.name}: {e}', file=sys.stderr, flush=True)
    if failed and keep_going:
        print(f'build_docs: --keep-going: {", ".join(failed)} rendered from stored outputs only (no API reference)',
              file=sys.stderr, flush=True)
        for name in failed: _proc_one(str(ROOT/'nbs'/name), str(NBS_OUT/name), no_exec=True)
    elif failed: sys.exit(f'build_docs: nbdev processing failed for {", ".join(failed)}')
    return failed


# ---------------------------------------------------------------------------------------------
# Quarto dialect -> plain Jupyter

_re_dir = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')


def _src(cell):
    s = cell.get('source', '')
    return ''.join(s) if isinstance(s, list) else (s or '')


def split_directives(source):
    "Leading `#| key: value` lines of a code cell -> (dict, remaining source)."
    lines, d = source.splitlines(), {}
    i = 0
    while i < len(lines):
        m = _re_dir.match(lines[i])
        if not m: break
        d[m.group(1).lower()] = m.group(2).strip().strip('"\'')
        i += 1
    # nbdev also accepts directives after the first lines; drop any remaining `#|` lines
    rest = [l for l in lines[i:] if not _re_dir.match(l)]
    return d, '\n'.join(rest).strip('\n')


def _frontmatter(cell):
    import yaml
    s = _src(cell).strip()
    if cell.get('cell_type') != 'raw' or not s.startswith('---'): return None
    try: return yaml.safe_load(s.strip('-\n')) or {}
    except Exception: return None


_re_mdlink = re.compile(r'\[(`[^`\]]+`)\]\([^)\s]+\)')


def _plain_headings(md):
    "Markdown headings (outside code fences) without links and code spans."
    out, fence = [], False
    for l in md.split('\n'):
        if l.lstrip().startswith(('```', '~~~')): fence = not fence
        elif not fence and re.match(r'#{1,6} ', l): l = _re_mdlink.sub(r'\1', l).replace('`', '')
        out.append(l)
    return '\n'.join(out)


def _showdoc_md(body, cell):
    "The markdown a `show_doc(...)` cell displays, or None for other cells."
    if not re.match(r'\s*show_doc\(', body): return None
    outs = [o for o in cell.get('outputs', []) if 'text/markdown' in o.get('data', {})]
    if len(outs) != 1: return None
    t = outs[0]['data']['text/markdown']
    return ''.join(t) if isinstance(t, list) else t


def _falsy(v): return str(v).lower() in ('false', 'no', '0')


def adapt_cells(nb):
    "Turn a processed notebook (Quarto dialect) into plain Jupyter cells; returns (title, description, cells)."
    title = desc = None
    cells = []
    for c in nb['cells']:
        fm = _frontmatter(c) if title is None else None
        if fm is not None:
            title, desc = fm.get('title'), fm.get('description')
            continue
        src = _src(c)
        if c['cell_type'] == 'markdown':
            if 'WARNING: THIS FILE WAS AUTOGENERATED' in src or not src.strip(): continue
            # nbdev links `names` in headings too, and mkdocs' table of contents drops code spans (the
            # entry would read "One interface: , ,"): headings keep the names as plain text
            c['source'] = _plain_headings(src)
        elif c['cell_type'] == 'code':
            d, body = split_directives(src)
            if _falsy(d.get('include', 'true')): continue
            md = _showdoc_md(body, c)
            if md is not None:   # show_doc output becomes page markdown: its names reach the table of contents
                cells.append({'cell_type': 'markdown', 'metadata': {}, 'source': md})
                continue
            tags = set(c.get('metadata', {}).get('tags', []))
            if _falsy(d.get('echo', 'true')) or not body.strip(): tags.add('remove_input')
            if _falsy(d.get('output', 'true')): c['outputs'] = []
            c['source'] = body
            for o in c.get('outputs', []):   # widgets need a CDN widget manager: keep their text fallback
                o.get('data', {}).pop('application/vnd.jupyter.widget-view+json', None)
            c['outputs'] = [o for o in c.get('outputs', []) if o.get('output_type') not in ('display_data', 'execute_result')
                            or o.get('data')]
            if not body.strip() and not c.get('outputs'): continue
            c.setdefault('metadata', {})['tags'] = sorted(tags)
        elif c['cell_type'] == 'raw':
            continue
        cells.append(c)
    return title, desc, cells


def write_docs_notebooks(nbs):
    "Adapt _proc/nbs/*.ipynb into _proc/docs/<page>.ipynb; returns [(page, title)] in nav order."
    if DOCS_IN.exists(): shutil.rmtree(DOCS_IN)
    DOCS_IN.mkdir(parents=True)
    pages = []
    for nb_path in nbs:
        nb = json.loads((NBS_OUT/nb_path.name).read_text(encoding='utf-8'))
        title, desc, cells = adapt_cells(nb)
        nb.get('metadata', {}).pop('widgets', None)
        title = str(title or page_name(nb_path))
        head = f'# {title}\n'
        if desc: head += f'\n<p class="nb-description">{desc}</p>\n'
        nb['cells'] = [{'cell_type': 'markdown', 'metadata': {}, 'source': head}] + cells
        nb.setdefault('metadata', {}).setdefault('kernelspec', {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'})
        page = page_name(nb_path)
        (DOCS_IN/f'{page}.ipynb').write_text(json.dumps(nb, indent=1), encoding='utf-8')
        pages.append((page, title, nb_path.name))
    return pages


# ---------------------------------------------------------------------------------------------
# Vendored assets, config, render

def vendor_mathjax(dest: Path):
    "npm-install the pinned MathJax into _proc/npm and copy the CHTML bundle + its lazy-loaded parts to `dest`."
    mj = NPM_DIR/'node_modules'/'mathjax'
    want = json.loads((SRC/'package.json').read_text())['dependencies']['mathjax']
    have = json.loads((mj/'package.json').read_text())['version'] if (mj/'package.json').exists() else None
    if have != want:
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        for f in ('package.json', 'package-lock.json'): shutil.copy2(SRC/f, NPM_DIR/f)
        npm = shutil.which('npm') or sys.exit('build_docs: npm is needed to vendor MathJax (apt-get install npm, or actions/setup-node)')
        subprocess.run([npm, 'ci', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], cwd=NPM_DIR, check=True)
    es5 = mj/'es5'
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(es5/'tex-mml-chtml.js', dest/'tex-mml-chtml.js')
    for sub in ('input/tex/extensions', 'output/chtml/fonts/woff-v2', 'ui', 'a11y', 'adaptors'):
        if (es5/sub).exists(): shutil.copytree(es5/sub, dest/sub, dirs_exist_ok=True)
    shutil.copy2(mj/'LICENSE', dest/'LICENSE')


def settings():
    from configparser import ConfigParser
    cp = ConfigParser(); cp.read(ROOT/'settings.ini')
    return cp['DEFAULT']


def write_config(pages, out: Path):
    import yaml
    cfg = yaml.safe_load((SRC/'mkdocs.yml').read_text())
    s = settings()
    doc_url = s.get('doc_host', '').rstrip('/') + s.get('doc_baseurl', '')
    cfg.update(site_name=s.get('title', 'clv_nb'), site_description=s.get('description', ''),
               docs_dir=str(DOCS_IN), site_dir=str(out), hooks=[str(SRC/'hooks.py')],
               copyright=f"{s.get('copyright', '')} · source: {s.get('git_url', '')}",
               nav=[{('Home' if p == 'index' else t): f'{p}.ipynb'} for p, t, _ in pages])
    if doc_url: cfg['site_url'] = doc_url + '/'
    cfg.setdefault('extra', {})['clv_doc_url'] = doc_url
    path = PROC/'mkdocs.yml'
    path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    return path


def build_site(out: Path, workers: int, keep_going=False, reuse=False):
    t0 = time.time()
    nbs = notebooks()
    if not nbs: sys.exit('build_docs: no notebooks in nbs/')
    if not (ROOT/'nbs'/'index.ipynb').exists():
        print('build_docs: nbs/index.ipynb is missing: the home page is a generated list of notebooks', flush=True)
    if out.exists(): shutil.rmtree(out)   # a failed build must not leave an old site behind
    print(f'build_docs: nbdev processing of {len(nbs)} notebooks ({workers} workers)', flush=True)
    if reuse and all((NBS_OUT/nb.name).exists() for nb in nbs): failed = []; print('  reusing _proc/nbs', flush=True)
    else: failed = process_notebooks(nbs, workers, keep_going)
    t1 = time.time()
    pages = write_docs_notebooks(nbs)
    if not any(p == 'index' for p, *_ in pages): _write_fallback_index(pages)
    assets = DOCS_IN/'assets'
    shutil.copytree(SRC/'assets', assets, dirs_exist_ok=True)
    vendor_mathjax(assets/'mathjax')
    cfg = write_config(sorted(pages, key=lambda p: p[0] != 'index'), out)
    if out.exists(): shutil.rmtree(out)
    env = {**os.environ, 'NO_MKDOCS_2_WARNING': '1'}
    r = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--clean', '-q', '-f', str(cfg)], cwd=ROOT, env=env)
    if r.returncode: sys.exit(f'build_docs: mkdocs build failed (exit {r.returncode})')
    (out/'.nojekyll').touch()
    bad = _remote_refs(out)
    if bad: sys.exit('build_docs: pages load remote resources:\n  ' + '\n  '.join(bad[:20]))
    print(f'build_docs: {len(pages)} pages -> {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} '
          f'(processing {t1-t0:.0f}s, total {time.time()-t0:.0f}s)', flush=True)
    if failed: sys.exit(f'build_docs: site built, but without API reference for {", ".join(failed)}')


def _write_fallback_index(pages):
    "Home page when nbs/index.ipynb does not exist yet: a list of the notebooks."
    s = settings()
    md = f"# {s.get('title', 'clv_nb')}\n\n{s.get('description', '')}\n\n" + '\n'.join(
        f'- [{t}]({p}.ipynb)' for p, t, _ in pages)
    nb = {'cells': [{'cell_type': 'markdown', 'metadata': {}, 'source': md}], 'metadata': {
        'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}},
        'nbformat': 4, 'nbformat_minor': 5}
    (DOCS_IN/'index.ipynb').write_text(json.dumps(nb, indent=1))
    pages.insert(0, ('index', 'Home', None))


_re_remote = re.compile(r'''<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*["']?((?:https?:)?//[^"'\s>]+)''', re.I)


def _remote_refs(out: Path):
    "script/link/img/iframe tags in the built HTML that load from a remote host."
    bad = []
    for f in sorted(out.rglob('*.html')):
        for m in _re_remote.finditer(f.read_text(encoding='utf-8', errors='replace')):
            tag = m.group(0)
            if tag.lower().startswith('<link') and re.search(r'''rel=["']?canonical''', tag): continue
            bad.append(f'{f.relative_to(out)}: {m.group(1)}')
    return bad


# ---------------------------------------------------------------------------------------------
# README.md from index.ipynb

def _out_text(o):
    t = o.get('text', o.get('data', {}).get('text/plain', ''))
    return ''.join(t) if isinstance(t, list) else t


def render_readme() -> str:
    "Markdown of the processed index notebook (no execution: the stored outputs are used)."
    import warnings
    warnings.filterwarnings('ignore')
    from execnb.nbio import read_nb
    from nbdev.processors import FilterDefaults, exec_show_docs
    src = ROOT/'nbs'/'index.ipynb'
    if not src.exists(): sys.exit('build_docs: nbs/index.ipynb does not exist')

    class NoExec(FilterDefaults):   # the README uses stored outputs only: fast and deterministic
        def base_procs(self): return [p for p in super().base_procs() if p is not exec_show_docs]

    cwd = os.getcwd(); os.chdir(ROOT)
    try:
        nb = read_nb(src)
        NoExec()(nb)
    finally: os.chdir(cwd)
    nbd = json.loads(json.dumps(nb, default=dict))
    title, desc, cells = adapt_cells(nbd)
    parts = []
    if title: parts.append(f'# {title}')
    if desc: parts.append(f'> {desc}')
    for c in cells:
        if c['cell_type'] == 'markdown': parts.append(_src(c).strip()); continue
        if 'remove_input' not in c['metadata'].get('tags', []): parts.append(f"```python\n{_src(c).strip()}\n```")
        for o in c.get('outputs', []):
            data = o.get('data', {})
            if 'text/markdown' in data: parts.append(_out_text({'text': data['text/markdown']}).strip())
            elif o.get('output_type') == 'error': parts.append('```\n' + '\n'.join(o.get('traceback', [])) + '\n```')
            else:
                t = _out_text(o).rstrip()
                if t: parts.append(f'```\n{t}\n```')
    parts = [p for p in parts if p]
    return '<!-- generated from nbs/index.ipynb by `python tools/build_docs.py --readme`: do not edit -->\n\n' + \
        '\n\n'.join(parts) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument('--readme', action='store_true', help='write README.md from nbs/index.ipynb')
    g.add_argument('--check-readme', action='store_true', help='exit 1 if README.md is not what --readme writes')
    ap.add_argument('--out', default=str(ROOT/'_docs'), help='site folder (default: _docs)')
    ap.add_argument('--keep-going', action='store_true',
                    help='render notebooks whose nbdev processing fails from stored outputs (exit 1 at the end)')
    ap.add_argument('--reuse-proc', action='store_true',
                    help='skip nbdev processing when _proc/nbs already has every notebook (quick re-render while styling)')
    ap.add_argument('--workers', type=int, default=min(2, os.cpu_count() or 1), help='notebook processing workers')
    a = ap.parse_args()
    if a.readme:
        (ROOT/'README.md').write_text(render_readme(), encoding='utf-8')
        print('build_docs: wrote README.md from nbs/index.ipynb')
    elif a.check_readme:
        want, have = render_readme(), (ROOT/'README.md').read_text(encoding='utf-8') if (ROOT/'README.md').exists() else ''
        if want != have:
            import difflib
            sys.stdout.writelines(list(difflib.unified_diff(have.splitlines(True), want.splitlines(True),
                                                            'README.md', 'generated from nbs/index.ipynb'))[:60])
            sys.exit('build_docs: README.md is out of sync with nbs/index.ipynb: run `python tools/build_docs.py --readme`')
        print('build_docs: README.md is in sync with nbs/index.ipynb')
    else:
        build_site(Path(a.out).resolve(), a.workers, a.keep_going, a.reuse_proc)


if __name__ == '__main__':
    main()
