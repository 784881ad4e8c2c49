#!/usr/bin/env python
"""Check that every script in bench/ and experiments/ is on today's modules: import each one (its `main` does not run)
and resolve every `clv_nb` name it uses; exit 1 listing each name that no longer exists.

Names are found in the script's syntax tree: `from clv_nb.x import y`, `import clv_nb.x as m` / `from clv_nb import x as m`
followed by `m.y`, dotted `clv_nb.x.y`, and `from clv_nb.x import y` inside string literals (code a script runs in a
subprocess). A rename in the package that breaks a script fails here, in seconds, rather than in the next benchmark run.
Private names (`_x`) a script uses are listed as warnings: they resolve today, but nothing promises they stay.

    python tools/check_scripts.py                    # bench/*.py and experiments/*.py
    python tools/check_scripts.py bench/suite.py     # some scripts
"""
import ast, importlib, importlib.util, re, sys, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = 'clv_nb'
_IMPORT_IN_STRING = re.compile(r'from\s+(clv_nb(?:\.\w+)*)\s+import\s+([\w\s,]+)')


def _names(tree:ast.AST) -> list:
    "[(line, module, attribute)] of every `clv_nb` name a script's syntax tree uses (attribute None: the module itself)."
    out, alias = [], {}   # alias: local name -> module it stands for
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            for a in n.names:
                if a.name == PKG or a.name.startswith(PKG + '.'):
                    out.append((n.lineno, a.name, None))
                    alias[a.asname or a.name.split('.')[0]] = a.name if a.asname else PKG
        elif isinstance(n, ast.ImportFrom) and n.module and n.level == 0 and (n.module == PKG or n.module.startswith(PKG + '.')):
            for a in n.names:
                out.append((n.lineno, n.module, a.name))
                alias[a.asname or a.name] = f'{n.module}.{a.name}'   # a submodule, or a name (then its attributes are checked too)
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            for mod, names in _IMPORT_IN_STRING.findall(n.value):
                out += [(n.lineno, mod, x.strip()) for x in names.split(',') if x.strip()]
    for n in ast.walk(tree):   # m.y and clv_nb.x.y: the longest dotted chain that starts with a known alias
        if isinstance(n, ast.Attribute) and not isinstance(getattr(n, '_parent', None), ast.Attribute):
            chain, v = [], n
            while isinstance(v, ast.Attribute): chain.insert(0, v.attr); v = v.value
            if isinstance(v, ast.Name) and v.id in alias: out.append((n.lineno, alias[v.id], '.'.join(chain)))
    return out


def _mark_parents(tree):
    for n in ast.walk(tree):
        for c in ast.iter_child_nodes(n): c._parent = n
    return tree


def _resolve(module:str, attr:str):
    "The object `module.attr` (attr may be dotted, or None), importing modules as needed; AttributeError/ImportError if it is gone."
    parts = module.split('.') + (attr.split('.') if attr else [])
    obj, i = importlib.import_module(parts[0]), 1
    while i < len(parts):
        if hasattr(obj, parts[i]): obj = getattr(obj, parts[i])
        elif hasattr(obj, '__path__'): obj = importlib.import_module('.'.join(parts[:i + 1]))   # a submodule not imported yet
        else: raise AttributeError(f"{'.'.join(parts[:i])} has no {parts[i]!r}")
        i += 1
    return obj


def check(path:Path) -> tuple:
    "(errors, warnings) of one script: names that do not resolve (or an import that fails), private names it uses."
    path = Path(path).resolve()
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    errors, warnings = [], []
    try: tree = _mark_parents(ast.parse(path.read_text(), str(path)))
    except SyntaxError as e: return [f"{rel}:{e.lineno}: syntax error: {e.msg}"], []
    sys.path[:0] = [str(path.parent)]   # scripts import their neighbours (suite_logs, generative)
    try:
        spec = importlib.util.spec_from_file_location(f'_checked_{path.stem}', path)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))   # __name__ is not '__main__': main does not run
    except Exception as e: errors.append(f"{rel}: importing it fails: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    finally: del sys.path[0]
    seen = set()
    for line, mod, attr in sorted(_names(tree), key=lambda t: (t[0], t[1], t[2] or '')):
        full = mod + ('.' + attr if attr else '')
        if full in seen: continue
        seen.add(full)
        try: _resolve(mod, attr)
        except (ImportError, AttributeError) as e: errors.append(f"{rel}:{line}: {full} does not exist ({e})")
        if any(p.startswith('_') and not p.startswith('__') for p in full.split('.')): warnings.append(f"{rel}:{line}: uses the private name {full}")
    return errors, warnings


def main(argv=None):
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])] or sorted((ROOT/'bench').glob('*.py')) + sorted((ROOT/'experiments').glob('*.py'))
    sys.path.insert(0, str(ROOT))
    errors, warnings = [], []
    for p in paths:
        try: e, w = check(p)
        except Exception: e, w = [f"{p}: check crashed:\n{traceback.format_exc()}"], []
        errors += e; warnings += w
    for w in warnings: print('warning:', w)
    for e in errors: print('error:', e)
    print(f"check_scripts: {len(paths)} scripts, {len(errors)} error(s), {len(warnings)} warning(s)")
    return 1 if errors else 0


if __name__ == '__main__': sys.exit(main())
