"""Results of a run (docs/ARCHITECTURE.md, "Results schema"), one module per job:

- `schema`: the files of a run folder (run.json, predictions, metrics, result.json) written and read back;
- `environment`: what run.json's `env` block captures (packages, git commit, device);
- `paths`: output paths refused before any work;
- `fingerprint`: `settings.json`, the settings a restart must match.

The names below are re-exported so callers import them from `t5eval.results`.
"""

from t5eval.results.environment import (
    PACKAGES,
    code_change_note,
    cpu_model,
    device_name,
    env_record,
    git_commit,
    now_iso,
    package_versions,
    pin_git_commit,
)
from t5eval.results.fingerprint import check_settings, settings_fingerprint, write_settings
from t5eval.results.paths import check_out_path
from t5eval.results.schema import (
    PREDICTION_FIELDS,
    SCHEMA_VERSION,
    is_subset,
    metrics_from_json,
    prediction_row,
    read_predictions,
    read_run,
    record_from_json,
    task_entry_from_json,
    undefined_metrics,
    with_undefined,
    write_metrics,
    write_predictions,
    write_run,
)

__all__ = [
    "PACKAGES",
    "PREDICTION_FIELDS",
    "SCHEMA_VERSION",
    "check_out_path",
    "check_settings",
    "code_change_note",
    "device_name",
    "env_record",
    "git_commit",
    "is_subset",
    "metrics_from_json",
    "now_iso",
    "package_versions",
    "pin_git_commit",
    "prediction_row",
    "read_predictions",
    "read_run",
    "record_from_json",
    "settings_fingerprint",
    "task_entry_from_json",
    "undefined_metrics",
    "with_undefined",
    "write_metrics",
    "write_predictions",
    "write_run",
    "write_settings",
]
