import dataclasses
import re

import pytest
import torch

from models import architecture
from models.encoders import POOLINGS, BiLSTMEncoder, CNNEncoder, Pooling, TokenEmbedding, activation
from models.n21 import SequenceClassifier

ENCODERS = ("bilstm", "cnn")


def make_model(encoder, pooling, **extra):
    torch.manual_seed(0)
    config = dict(
        vocab_size=30,
        num_classes=3,
        emb_dim=8,
        hidden_dim=6,
        encoder=encoder,
        pooling=pooling,
        activation="tanh",
        dropout=0.0,
        kernel_sizes=[2, 3],
        **extra,
    )
    return SequenceClassifier(config).eval()


def batch():
    ids = torch.tensor([[5, 6, 7, 8, 9], [3, 4, 0, 0, 0], [2, 0, 0, 0, 0]])
    return ids, torch.tensor([5, 2, 1])


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_logit_shape(encoder, pooling):
    ids, lengths = batch()
    assert make_model(encoder, pooling)(ids, lengths).shape == (3, 3)


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_padding_content_and_width_do_not_matter(encoder, pooling):
    model = make_model(encoder, pooling, num_layers=2)
    ids, lengths = batch()
    with torch.no_grad():
        base = model(ids, lengths)
        junk = ids.clone()
        junk[1, 2:] = torch.tensor([11, 12, 13])  # garbage where padding should be
        junk[2, 1:] = 20
        wider = torch.cat([ids, torch.zeros(3, 4, dtype=torch.long)], dim=1)
        assert torch.allclose(model(junk, lengths), base, atol=1e-6)
        assert torch.allclose(model(wider, lengths), base, atol=1e-6)


@pytest.mark.parametrize("encoder_cls", [BiLSTMEncoder, CNNEncoder])
def test_encoders_keep_sequence_length(encoder_cls):
    x = torch.randn(2, 7, 8)
    out = encoder_cls(8, 5)(x, torch.tensor([7, 3]))
    assert out.states.shape == (2, 7, out.states.shape[-1])
    assert out.states.shape[-1] == (10 if encoder_cls is BiLSTMEncoder else 15)
    assert out.mask.tolist()[1] == [True] * 3 + [False] * 4


def test_attention_weights_are_zero_on_padding():
    torch.manual_seed(0)
    enc = BiLSTMEncoder(8, 4)(torch.randn(2, 6, 8), torch.tensor([6, 2]))
    weights = Pooling("attention", enc.states.shape[-1]).attention_weights(enc)
    assert torch.allclose(weights.sum(-1), torch.ones(2))
    assert torch.all(weights[1, 2:] == 0)


def test_bilstm_last_uses_both_directions_final_states():
    torch.manual_seed(0)
    encoder = BiLSTMEncoder(4, 3)
    x = torch.randn(1, 5, 4)
    enc = encoder(x, torch.tensor([3]))
    pooled = Pooling("last", 6)(enc)
    # forward final = state at the last real token; backward final = state at position 0
    assert torch.allclose(pooled[0, :3], enc.states[0, 2, :3])
    assert torch.allclose(pooled[0, 3:], enc.states[0, 0, 3:])


def test_last_pooling_without_encoder_summary_takes_last_real_position():
    states = torch.arange(12, dtype=torch.float).view(2, 3, 2)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    from models.encoders import EncoderOutput

    pooled = Pooling("last", 2)(EncoderOutput(states, mask))
    assert pooled.tolist() == [[2.0, 3.0], [10.0, 11.0]]


def test_empty_document_is_accepted():
    model = make_model("bilstm", "attention")
    assert model(torch.zeros(2, 1, dtype=torch.long), torch.tensor([0, 0])).isfinite().all()


def test_config_errors_are_explicit():
    with pytest.raises(ValueError, match="unknown model config keys"):
        SequenceClassifier(dict(vocab_size=5, num_classes=2, hiden_dim=3))
    with pytest.raises(ValueError, match="vocab_size"):
        SequenceClassifier(dict(num_classes=2))
    with pytest.raises(ValueError, match="pooling"):
        make_model("bilstm", "sum")
    with pytest.raises(ValueError, match="activation"):
        activation("gelu")


def test_registry_and_embedding_padding():
    assert architecture("n21.SequenceClassifier") is SequenceClassifier
    emb = TokenEmbedding(10, 4)
    assert torch.all(emb(torch.tensor([0])) == 0)


# ------------------------------------------------------------ config dataclasses (models/encoders.ModelConfig)

# The smallest config each architecture accepts: only what comes from the data.
MINIMAL = {
    "n21.SequenceClassifier": {"vocab_size": 30, "num_classes": 3},
    "n2n.TokenTagger": {"vocab_size": 10, "num_tags": 3, "tag_names": ["O", "B-PS", "I-PS"]},
    "n2m.Seq2Seq": {"src_vocab_size": 20, "tgt_vocab_size": 20, "pad_id": 0, "bos_id": 2, "eos_id": 3},
    "n2path.BiaffineParser": {
        "word_vocab_size": 30,
        "morph_vocab_size": 40,
        "tag_vocab_size": 12,
        "char_vocab_size": 50,
        "num_rels": 2,
        "rel_names": ["root", "nsubj"],
    },
}
# The defaults each model used before its config became a dataclass (the DEFAULTS dicts), written out:
# a change here changes every model trained without that key set.
BEFORE = {
    "n21.SequenceClassifier": {
        "emb_dim": 128,
        "hidden_dim": 128,
        "num_layers": 1,
        "encoder": "bilstm",
        "pooling": "max",
        "activation": "relu",
        "dropout": 0.3,
        "kernel_sizes": [2, 3, 4],
        "ngram_buckets": 0,
        "ngram_dim": 64,
        "ngram_head": "concat",
    },
    "n2n.TokenTagger": {
        "morph_vocab_size": 0,
        "pos_vocab_size": 0,
        "boundary_vocab_size": 0,
        "char_emb_dim": 64,
        "morph_emb_dim": 64,
        "pos_emb_dim": 16,
        "boundary_emb_dim": 8,
        "domain_vocab_size": 0,
        "domain_emb_dim": 8,
        "hidden_dim": 128,
        "num_layers": 2,
        "dropout": 0.3,
        "use_crf": True,
    },
    "n2m.Seq2Seq": {
        "emb_dim": 256,
        "hidden_dim": 256,
        "num_layers": 1,
        "dropout": 0.2,
        "encoder": "bilstm",
        "rnn": "gru",
        "attention": "bahdanau",
        "shared_vocab": False,
        "tie_embeddings": False,
        "label_smoothing": 0.0,
        "copy": False,
        "copy_map": None,
        "unk_id": 1,
    },
    "n2path.BiaffineParser": {
        "word_emb_dim": 100,
        "morph_emb_dim": 100,
        "tag_emb_dim": 50,
        "char_emb_dim": 50,
        "char_cnn_dim": 100,
        "char_kernel": 3,
        "hidden_dim": 200,
        "num_layers": 3,
        "arc_mlp": 400,
        "rel_mlp": 100,
        "dropout": 0.33,
    },
}


def config_class(name):
    return type(architecture(name)(MINIMAL[name]).cfg)


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_a_minimal_config_gets_the_defaults_models_had_before(name):
    model = architecture(name)({**MINIMAL[name], "architecture": name})
    expected = {**MINIMAL[name], **BEFORE[name]}
    assert model.config == expected and type(model.config) is dict  # model_config.json and callers read a dict
    assert {k: type(v) for k, v in model.config.items()} == {k: type(v) for k, v in expected.items()}
    assert dataclasses.is_dataclass(model.cfg) and model.cfg.as_dict() == expected
    cls = type(model.cfg)
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    assert required == list(MINIMAL[name])  # fields without a default: exactly what the data supplies
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.cfg.hidden_dim = 1
    assert architecture(name)(model.cfg).config == expected  # the dataclass itself builds the model too


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_unknown_and_missing_keys_are_named(name):
    cls = config_class(name)
    known = sorted([*MINIMAL[name], *BEFORE[name]])
    with pytest.raises(ValueError) as error:
        architecture(name)({**MINIMAL[name], "hiden_dim": 3, "dropuot": 0.1})
    assert str(error.value) == f"unknown model config keys ['dropuot', 'hiden_dim']; known: {known}"
    first, *rest = MINIMAL[name]
    with pytest.raises(ValueError, match=re.escape(f"model config lacks ['{first}']: they come from the")):
        cls.from_dict({k: MINIMAL[name][k] for k in rest})
    with pytest.raises(ValueError, match=re.escape(f"model config lacks {list(MINIMAL[name])}")):
        architecture(name)({})


def test_values_from_json_or_yaml_become_the_declared_types():
    from models.n2m import N2MConfig
    from models.n21 import N21Config

    c = N21Config.from_dict({"vocab_size": "30", "num_classes": 3.0, "dropout": 0, "kernel_sizes": ["2", 3]})
    assert (c.vocab_size, c.num_classes, c.dropout, c.kernel_sizes) == (30, 3, 0.0, [2, 3])
    assert type(c.dropout) is float
    copy_map = N2MConfig.from_dict({**MINIMAL["n2m.Seq2Seq"], "copy": 1, "copy_map": [str(i) for i in range(20)]})
    assert copy_map.copy is True and copy_map.copy_map == list(range(20))
    with pytest.raises(ValueError, match="copy_map has 2 ids for 20"):
        N2MConfig.from_dict({**MINIMAL["n2m.Seq2Seq"], "copy_map": [0, 1]})
    with pytest.raises(TypeError, match="N21Config wanted"):
        N21Config.from_dict(copy_map)


def test_a_model_dir_saved_before_the_dataclasses_still_loads(tmp_path):
    """model_config.json as the dict-config models wrote it (their DEFAULTS first, then the data's keys and
    the architecture) rebuilds the same model."""
    from tasks.io import write_json
    from tasks.model_dir import MODEL_CONFIG, load_model_dir, save_model_dir

    model = make_model("cnn", "mean")
    save_model_dir(tmp_path / "model", model, {"architecture": model.architecture}, {"vocab.json": {"a": 1}})
    old = {**BEFORE["n21.SequenceClassifier"], **model.config, "architecture": "n21.SequenceClassifier"}
    write_json(old, tmp_path / "model" / MODEL_CONFIG)
    loaded, bundle = load_model_dir(tmp_path / "model")
    assert loaded.config == model.config and bundle[MODEL_CONFIG] == old
    ids, lengths = batch()
    with torch.no_grad():
        assert torch.allclose(loaded(ids, lengths), model(ids, lengths))
