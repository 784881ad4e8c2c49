// MathJax 3 configuration for the docs site. MathJax itself is vendored from npm at build time
// (docs_src/package.json) into assets/mathjax/, so no CDN is needed.
window.MathJax = {
  loader: { load: ['[tex]/textmacros'] },   // \text{monetary\_value} as in Jupyter
  tex: {
    packages: { '[+]': ['textmacros'] },
    inlineMath: [['$', '$'], ['\\(', '\\)']],
    displayMath: [['$$', '$$'], ['\\[', '\\]']],
    processEscapes: true,
    processEnvironments: true,
    tags: 'ams'
  },
  options: {
    // code, outputs and show_doc signatures are not math
    ignoreHtmlClass: 'tex2jax_ignore|highlight|highlight-ipynb|jp-OutputArea-output',
    processHtmlClass: 'tex2jax_process|jp-RenderedMarkdown|jp-MarkdownOutput'
  }
  // fonts load from [mathjax]/output/chtml/fonts/woff-v2, next to the vendored script
};
