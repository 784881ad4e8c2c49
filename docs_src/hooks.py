"""mkdocs hooks for the clv_nb docs site (loaded by the config that tools/build_docs.py writes).

mkdocs-jupyter's nbconvert template emits a MathJax 2 `<script>` from cdnjs and a mermaid loader
from cdnjs in every notebook page; the site vendors MathJax 3 instead (extra_javascript) and must
load nothing from remote hosts, so those blocks are removed here. nbdev's doc links point at the
published site (`doc_host` + `doc_baseurl` from settings.ini); they are made relative so the site
works wherever it is served (locally, offline, or on GitHub Pages).
"""
import re

_SCRIPT = re.compile(r'<script\b[^>]*>.*?</script>', re.S | re.I)
_REMOTE_SRC = re.compile(r'''\bsrc\s*=\s*["']?(?:https?:)?//''', re.I)


def _drop_remote(m):
    s = m.group(0)
    head = s[:s.index('>') + 1]
    if _REMOTE_SRC.search(head): return ''                       # <script src="https://cdn...">
    if 'text/x-mathjax-config' in head: return ''                # MathJax 2 config (we ship MathJax 3)
    if 'cdnjs.cloudflare.com' in s or 'cdn.jsdelivr.net' in s: return ''  # mermaid loader
    return s


def on_post_page(output, page, config, **kw):
    output = _SCRIPT.sub(_drop_remote, output)
    doc_url = (config.get('extra') or {}).get('clv_doc_url', '')
    if doc_url:
        # every page sits at the site root (use_directory_urls: false), so links are "./name.html"
        output = re.sub(r'''(href=["'])''' + re.escape(doc_url.rstrip('/') + '/'), r'\1./', output)
    return output
