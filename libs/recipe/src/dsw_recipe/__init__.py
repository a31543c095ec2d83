"""dsw_recipe: the recipe contract, the local runner and the built-in LightGBM recipes.

A recipe (DSW "Engine") subclasses `Recipe`: it declares name, version, task type, input fields,
features, key columns and a typed hyperparameter spec (`ParamSpec` of `Param`s, exportable as
JSON Schema), and implements `features` (behind `prepare`), `split`, `train`, `evaluate` and
`score`, each receiving a `RunContext` for progress reports and MLflow logging.

Models are saved as MLflow models (`save_model`, `log_model`) and loaded the same way whatever
the recipe (`load_model`); `model_inputs` gives the raw inputs a saved model expects and
`LoadedModel.fast_path` the LightGBM booster plus its NumPy feature builder for serving.

`run_local` trains and evaluates a recipe on a file; `check_package` and `load_package_recipe`
handle custom recipe packages (manifest `recipe.toml`). Built-ins: `RetailSalesRecipe`,
`PurchasePredictionRecipe`, `ProductRecommendationsRecipe` (import from `dsw_recipe.recipes`).

Errors: `ParamValidationError` (per-field `errors`), `RecipeDataError` (unusable data),
`ManifestError` and `PackageError` (custom packages, with `problems`); all are `ValueError`s.
"""

from ._columns import FieldType, InputField, RecipeDataError, parse_time, read_table, resolve_fields
from ._context import Progress, RunContext
from ._contract import (
    FastPath,
    ModelFlavor,
    Params,
    Recipe,
    Split,
    TaskType,
    TimeWindow,
    check_recipe_class,
)
from ._metrics import (
    MetricDirection,
    classification_metrics,
    metric_direction,
    ranking_metrics,
    regression_metrics,
    top_decile_lift,
)
from ._models import (
    LoadedModel,
    load_fast_path,
    load_model,
    log_model,
    model_inputs,
    resolve_entry_point,
    save_model,
)
from ._packages import (
    MANIFEST_NAMES,
    Manifest,
    ManifestError,
    PackageCheck,
    PackageError,
    check_package,
    find_manifest,
    load_package_recipe,
    read_manifest,
)
from ._params import Param, ParamError, ParamSpec, ParamType, ParamValidationError, ParamValue
from ._registry import (
    BUILTIN_RECIPES,
    ENTRY_POINT_GROUP,
    builtin_recipes,
    get_recipe,
    installed_recipes,
)
from ._runner import LocalRunResult, run_local
from .cli import run_cli

__all__ = [
    "BUILTIN_RECIPES",
    "ENTRY_POINT_GROUP",
    "MANIFEST_NAMES",
    "FastPath",
    "FieldType",
    "InputField",
    "LoadedModel",
    "LocalRunResult",
    "Manifest",
    "ManifestError",
    "MetricDirection",
    "ModelFlavor",
    "PackageCheck",
    "PackageError",
    "Param",
    "ParamError",
    "ParamSpec",
    "ParamType",
    "ParamValidationError",
    "ParamValue",
    "Params",
    "Progress",
    "Recipe",
    "RecipeDataError",
    "RunContext",
    "Split",
    "TaskType",
    "TimeWindow",
    "builtin_recipes",
    "check_package",
    "check_recipe_class",
    "classification_metrics",
    "find_manifest",
    "get_recipe",
    "installed_recipes",
    "load_fast_path",
    "load_model",
    "load_package_recipe",
    "log_model",
    "metric_direction",
    "model_inputs",
    "parse_time",
    "ranking_metrics",
    "read_manifest",
    "read_table",
    "regression_metrics",
    "resolve_entry_point",
    "resolve_fields",
    "run_cli",
    "run_local",
    "save_model",
    "top_decile_lift",
]
