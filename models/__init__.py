"""PyTorch models. `ARCHITECTURES` maps the name stored in model_config.json to a
class, so loading a model directory never imports a name it read from disk."""

from models.n21 import SequenceClassifier

ARCHITECTURES = {SequenceClassifier.architecture: SequenceClassifier}
from models.n2n import TokenTagger; ARCHITECTURES[TokenTagger.architecture] = TokenTagger  # noqa: E402, E702
from models.n2path import BiaffineParser; ARCHITECTURES[BiaffineParser.architecture] = BiaffineParser  # noqa: E402, E702
from models.n2m import Seq2Seq; ARCHITECTURES[Seq2Seq.architecture] = Seq2Seq  # noqa: E402, E702
