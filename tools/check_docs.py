#!/usr/bin/env python
"""Render the built docs site (_docs/) in headless Chromium and fail if pages are empty or broken.

    python tools/check_docs.py [--site _docs] [--out _docs_check]

Serves the site on 127.0.0.1 (http.server in a thread), opens the home page, a module page (API
reference), the page with the most equations and the page with the most figures, dumps each
rendered DOM and takes a screenshot into _docs_check/. One line per check; exit 1 if any fails.
The browser is $CHROME, else `chromium` (Debian: apt-get install chromium), `chromium-browser`,
`google-chrome`.

To see what the browser saw (image load state, MathJax errors) the server injects a tiny script
into every HTML response that, once the page has loaded and MathJax has typeset, writes a JSON
report into a hidden <pre id="clv-docs-check"> element that --dump-dom then captures.
"""
import argparse, functools, html, json, os, re, shutil, subprocess, sys, tempfile, threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = b"""<script>
(function(){
  function report(extra){
    var imgs = Array.prototype.slice.call(document.querySelectorAll('article img'));
    var r = {images: imgs.length,
             broken_images: imgs.filter(function(i){ return !i.complete || !i.naturalWidth; }).length,
             mjx: document.querySelectorAll('mjx-container').length,
             mjx_errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
             mathjax: !!(window.MathJax && window.MathJax.startup), note: extra || ''};
    var pre = document.createElement('pre');
    pre.id = 'clv-docs-check'; pre.style.display = 'none';
    pre.textContent = JSON.stringify(r);
    document.body.appendChild(pre);
  }
  window.addEventListener('load', function(){
    var p = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
    if (p) p.then(function(){ report(); }, function(e){ report('mathjax failed: ' + e); });
    else report('no MathJax');
  });
})();
</script>
"""


class Handler(SimpleHTTPRequestHandler):
    failures = []  # (status, path) of every request answered >= 400

    def send_head(self):
        path = self.translate_path(self.path)
        if os.path.isdir(path): path = os.path.join(path, 'index.html')
        if not path.endswith('.html') or not os.path.isfile(path): return super().send_head()
        body = Path(path).read_bytes()
        body = body.replace(b'</body>', PROBE + b'</body>', 1) if b'</body>' in body else body + PROBE
        self.send_response(200)
        self.send_header('Content-Type', 'text/html; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        import io
        return io.BytesIO(body)

    def log_request(self, code='-', size='-'):
        try:
            if int(code) >= 400: Handler.failures.append((int(code), self.path))
        except (TypeError, ValueError): pass

    def log_message(self, *a): pass


def find_browser():
    for c in [os.environ.get('CHROME'), 'chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']:
        if c and (shutil.which(c) or Path(c).is_file()): return shutil.which(c) or c
    sys.exit('check_docs: no Chromium found (apt-get install -y chromium, or set CHROME)')


def browse(browser, url, shot, profile):
    "Dump the rendered DOM of `url` and screenshot it; returns the DOM."
    common = [browser, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
              '--disable-background-networking', '--disable-component-update', '--disable-sync',
              '--disable-dev-shm-usage', '--hide-scrollbars', f'--user-data-dir={profile}',
              '--virtual-time-budget=10000']
    r = subprocess.run(common + ['--dump-dom', url], capture_output=True, text=True, timeout=180)
    subprocess.run(common + [f'--screenshot={shot}', '--window-size=1280,2000', url],
                   capture_output=True, text=True, timeout=180)
    if r.returncode: print(r.stderr[-2000:], file=sys.stderr)
    return r.stdout


def _text(s):
    s = re.sub(r'<(script|style|svg)\b.*?</\1>', ' ', s, flags=re.S | re.I)
    return re.sub(r'\s+', ' ', html.unescape(re.sub(r'<[^>]+>', ' ', s))).strip()


def _article(dom):
    m = re.search(r'<article\b[^>]*>(.*)</article>', dom, re.S)
    return m.group(1) if m else ''


def stray_math(page:str) -> list:
    "Inline $...$ spans of a page's prose that read like prose, not math (a currency sign opening a formula)."
    s = re.sub(r'<(pre|code|script|style)\b.*?</\1>', ' ', page, flags=re.S | re.I)
    s = re.sub(r'<div class="clipboard-copy-txt"[^>]*>.*?</div>', ' ', s, flags=re.S)   # the copy button's hidden source text
    s = html.unescape(re.sub(r'<[^>]+>', ' ', s))
    out = []
    s = re.sub(r'\$\$.*?\$\$', ' ', s, flags=re.S)                                  # display math
    for m in re.finditer(r'(?<![\\$])\$(?!\$)([^$]{1,400}?)(?<!\\)\$(?!\$)', s):
        body = re.sub(r'\\(text|mathrm|operatorname|texttt|textbf|mathit)\s*\{[^{}]*\}', ' ', m.group(1))
        body = re.sub(r'\\[A-Za-z]+', ' ', body)
        if re.search(r'[A-Za-z]{3,}\s+[A-Za-z]{3,}', body) or re.search('["\u201c\u201d]', body):
            out.append(m.group(0)[:80])
    return out


def _probe(dom):
    m = re.search(r'<pre id="clv-docs-check"[^>]*>(.*?)</pre>', dom, re.S)
    try: return json.loads(html.unescape(m.group(1))) if m else None
    except ValueError: return None


class Checks:
    def __init__(self): self.n_fail = 0

    def __call__(self, ok, what, detail=''):
        print(f"{'PASS' if ok else 'FAIL'}  {what}" + (f'  ({detail})' if detail else ''), flush=True)
        if not ok: self.n_fail += 1
        return ok


def pick_pages(site: Path):
    "home, a module page with show_doc, the page with the most math, the page with the most figures."
    pages = {p.name: p.read_text(encoding='utf-8', errors='replace') for p in sorted(site.glob('*.html'))
             if p.name not in ('404.html',)}
    src_figs = {}
    def n_math(s):
        s = re.sub(r'<pre\b.*?</pre>|<code\b.*?</code>', ' ', s, flags=re.S)
        return len(re.findall(r'\$\$.+?\$\$|\\\[|(?<![\\$])\$[^$\s][^$\n]*?\$', s, flags=re.S))
    def n_figs(s): return len(re.findall(r'<img\b[^>]*\bsrc="(?:data:image|[^"]+\.(?:png|svg|jpe?g))', _article(s) or s))
    # figures stored in the source notebooks (so a renderer that drops them is caught, not skipped)
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        name = re.sub(r'^\d+[a-zA-Z0-9]*_', '', nb.stem.lower()) + '.html'
        if name not in pages: continue
        try: cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
        except (ValueError, KeyError): continue
        n = sum(1 for c in cells for o in c.get('outputs', []) if any(k.startswith('image/') for k in o.get('data', {}))
                and not re.match(r'\s*#\|\s*(hide|include:\s*false|output:\s*false)', ''.join(c.get('source', ''))))
        if n: src_figs[name] = n
    api = [n for n, s in pages.items() if 'class="sd-source"' in s]
    module = 'core.html' if 'core.html' in api else (api[0] if api else None)
    math = max(pages, key=lambda n: n_math(pages[n]), default=None)
    figs = max(pages, key=lambda n: (src_figs.get(n, 0), n_figs(pages[n])), default=None)
    return pages, module, (math if math and n_math(pages[math]) else None), \
        (figs if figs and (n_figs(pages[figs]) or src_figs.get(figs)) else None), \
        {n: (n_math(s), max(n_figs(s), src_figs.get(n, 0))) for n, s in pages.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--site', default=str(ROOT/'_docs'))
    ap.add_argument('--out', default=str(ROOT/'_docs_check'))
    a = ap.parse_args()
    site, out = Path(a.site).resolve(), Path(a.out).resolve()
    chk = Checks()
    if not chk((site/'index.html').is_file(), f'{site}/index.html exists'): sys.exit(1)
    out.mkdir(parents=True, exist_ok=True)
    pages, module, math, figs, counts = pick_pages(site)
    nav_pages = [n for n in pages if n != 'index.html']
    print(f'pages: {len(pages)}; module page: {module}; most math: {math} {counts.get(math, "")}; '
          f'most figures: {figs} {counts.get(figs, "")}', flush=True)
    chk(module is not None, 'a module page with show_doc API reference exists')
    stray = {n: stray_math(t) for n, t in pages.items()}
    stray = {n: v for n, v in stray.items() if v}
    chk(not stray, 'no stray formula in prose (a $ that opens math around words)',
        '; '.join(f"{n}: {v[0]!r}" for n, v in stray.items())[:500])

    browser = find_browser()
    srv = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Handler, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f'http://127.0.0.1:{srv.server_address[1]}/'
    todo = ['index.html'] + [p for p in dict.fromkeys([module, math, figs]) if p and p != 'index.html']
    try:
        with tempfile.TemporaryDirectory(prefix='clv-chromium-') as prof:
            for name in todo:
                shot = out/(Path(name).stem + '.png')
                if shot.exists(): shot.unlink()
                dom = browse(browser, base + name, shot, prof)
                (out/(Path(name).stem + '.dom.html')).write_text(dom, encoding='utf-8')
                art = _article(dom)
                chk(len(dom) > 1000 and '<body' in dom, f'{name}: browser rendered a DOM', f'{len(dom)} chars')
                # the primary (site) navigation sidebar (it nests the current page's table of contents)
                m = re.search(r'<nav\b[^>]*md-nav--primary.*?(?=<div\b[^>]*md-sidebar--secondary|<div\b[^>]*md-content)', dom, re.S)
                nav = m.group(0) if m else ''
                missing = [p for p in nav_pages if f'href="{p}"' not in nav and f'href="./{p}"' not in nav]
                chk(bool(nav) and not missing, f'{name}: navigation lists all {len(nav_pages)} notebook pages',
                    f'missing {missing}' if missing else '')
                txt = _text(art)
                chk(len(txt) > 100 and '<h1' in art, f'{name}: main content has a title and text', f'{len(txt)} chars')
                remote = re.findall(r'''<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)="((?:https?:)?//[^"]+)"''', dom)
                remote = [u for u in remote if not u.startswith(base)]
                chk(not remote, f'{name}: nothing loads from a remote host', ', '.join(remote[:3]))
                pr = _probe(dom)
                chk(pr is not None, f'{name}: page scripts ran to completion (load + MathJax startup)',
                    '' if pr else 'no probe report in the DOM')
                pr = pr or {}
                if name == module:
                    # show_doc's parameter tables: header cells in bold (**Type**, **Default**, **Details**)
                    tbls = re.findall(r'<table\b.*?</table>', art, re.S)
                    ptbl = [t for t in tbls if re.search(r'<th\b[^>]*>\s*<strong>\s*(Details|Type|Default)\s*</strong>', t)]
                    chk(bool(ptbl), f'{name}: API reference has a rendered parameter table', f'{len(ptbl)} tables')
                    chk(len(re.findall(r'class="sd-source"', art)) > 0 or 'show_doc' in art,
                        f'{name}: API reference entries (show_doc) present')
                if name == math:
                    chk(pr.get('mjx', 0) > 0 and pr.get('mjx_errors', 1) == 0,
                        f'{name}: equations typeset by MathJax', f"{pr.get('mjx', 0)} mjx-container, "
                        f"{pr.get('mjx_errors', '?')} errors, expected ~{counts[name][0]} {pr.get('note', '')}".strip())
                if name == figs:
                    chk(pr.get('images', 0) >= counts[name][1] and pr.get('images', 0) > 0 and pr.get('broken_images', 1) == 0,
                        f'{name}: figures displayed', f"{pr.get('images', 0)} <img>, {pr.get('broken_images', '?')} broken")
                ok_shot = shot.exists() and shot.stat().st_size > 10_000
                chk(ok_shot, f'{name}: screenshot {shot.relative_to(out.parent) if out.parent in shot.parents else shot}',
                    f'{shot.stat().st_size if shot.exists() else 0} bytes')
    finally:
        srv.shutdown()
    chk(not Handler.failures, 'no request to the local server failed (missing assets)',
        ', '.join(f'{c} {p}' for c, p in Handler.failures[:5]))
    if math is None: print('NOTE  no page has $...$ equations: math check skipped', flush=True)
    if figs is None: print('NOTE  no page has figures: figure check skipped', flush=True)
    print(f'check_docs: {chk.n_fail} failed checks' if chk.n_fail else 'check_docs: all checks passed', flush=True)
    sys.exit(1 if chk.n_fail else 0)


if __name__ == '__main__':
    main()
