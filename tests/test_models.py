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
