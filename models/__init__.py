"""PyTorch models. `ARCHITECTURES` maps the name stored in model_config.json to a
class, so loading a model directory never imports a name it read from disk."""

from models.n21 import SequenceClassifier

ARCHITECTURES = {SequenceClassifier.architecture: SequenceClassifier}
