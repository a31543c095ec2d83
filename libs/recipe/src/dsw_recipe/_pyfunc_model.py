"""MLflow "model from code" file of pyfunc-flavour recipe models.

MLflow copies this file into the model directory and runs it at load time; the recipe reference
and parameters come from the model's `model_config`, so no Python object is pickled.
"""

from mlflow.models import set_model

from dsw_recipe._pyfunc import RecipePythonModel

set_model(RecipePythonModel())
