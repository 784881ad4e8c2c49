"""Packaging for clv_nb: reads `settings.ini` (nbdev's single source of project metadata).

nbdev's template imports `pkg_resources`, which current setuptools no longer ships, and lists
no Python 3.11; this one uses only the standard library and setuptools.
"""
from configparser import ConfigParser
from pathlib import Path

import setuptools

here = Path(__file__).parent
cfg = ConfigParser(delimiters=['='])
cfg.read(here / 'settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

licenses = {
    'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License'),
    'mit': ('MIT License', 'OSI Approved :: MIT License'),
}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable',
            '6 - Mature', '7 - Inactive']
lic = licenses[cfg['license']]
reqs = cfg.get('requirements', '').split()
dev_reqs = cfg.get('dev_requirements', '').split()
bench_reqs = cfg.get('bench_requirements', '').split()
spark_reqs = cfg.get('spark_requirements', '').split()   # optional: `clv_nb predict --engine spark` (needs Java 17+)
serve_reqs = cfg.get('serve_requirements', '').split()
excel_reqs = cfg.get('excel_requirements', '').split()
min_python = cfg['min_python']
py_versions = [v for v in ['3.11', '3.12', '3.13'] if tuple(map(int, v.split('.'))) >= tuple(map(int, min_python.split('.')))]

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=(here / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    author=cfg['author'],
    author_email=cfg['author_email'],
    url=cfg['git_url'],
    license=lic[0],
    keywords=cfg['keywords'].split(),
    classifiers=[
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg['audience'].title(),
        'License :: ' + lic[1],
        'Natural Language :: ' + cfg['language'].title(),
    ] + ['Programming Language :: Python :: ' + v for v in py_versions],
    packages=setuptools.find_packages(include=[cfg['lib_name'], cfg['lib_name'] + '.*']),
    include_package_data=True,
    package_data={cfg['lib_name']: ['datasets/*']},
    install_requires=reqs + serve_reqs,
    extras_require={'dev': dev_reqs + serve_reqs + excel_reqs + spark_reqs, 'bench': bench_reqs, 'excel': excel_reqs,
                    'spark': spark_reqs},
    python_requires='>=' + min_python,
    zip_safe=False,
    entry_points={
        'console_scripts': cfg['console_scripts'].split(),
        'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"],
    },
)
