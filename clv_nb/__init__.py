__version__ = "0.1.0"

# The public API, importable from the package itself (`from clv_nb import DeepCLVModel`). Each name is imported from
# its module on first use, so `import clv_nb` stays instant and loads neither pandas nor TensorFlow. (nbdev maintains
# only the version line of this file; 00_core tests that every name below resolves.)
_API = {
    'core': ['CLVModel', 'CLVUserError', 'ModelFitError', 'check_predictions'],
    'data': ['clean_transactions', 'read_log', 'write_clean', 'load_cdnow', 'simulate_transactions'],
    'features': ['daily_transactions', 'summarize', 'week_sequences'],
    'protocol': ['metrics', 'check_model', 'inner_split', 'backtests', 'Metric', 'METRIC_REGISTRY'],
    'baselines': ['BetaGeo', 'ParetoNBD', 'GammaGamma', 'BGNBDGG', 'ParetoNBDGG', 'Naive'],
    'clock': ['SeasonalClock', 'ClockBGNBDGG'],
    'deep': ['DeepCLVModel'],
    'registry': ['ModelSpec', 'register_model', 'make_model', 'default_models'],
    'evaluate': ['compare_models', 'evaluate_models', 'write_evaluation', 'run_evaluation'],
    'segment': ['assign_segments', 'value_tiers', 'rfm_segments'],
    'bundle': ['fit_bundle', 'load_bundle'],
    'score': ['predict_bundle'],
    'monitor': ['monitor_report'],
}
_WHERE = {name: mod for mod, names in _API.items() for name in names}
__all__ = list(_WHERE)

def __getattr__(name):
    "Import a public name from its module on first use."
    if name in _WHERE:
        import importlib
        return getattr(importlib.import_module(f'clv_nb.{_WHERE[name]}'), name)
    raise AttributeError(f"module 'clv_nb' has no attribute {name!r}")

def __dir__():
    "The public API next to the module's own names, so tab completion (e.g. in JupyterLab) offers it."
    return sorted(set(globals()) | set(__all__))
