"""Tiny sentence-transformers models built offline in a couple of seconds, for tests.

A tiny model is a random transformer (BERT, RoBERTa or MPNet; hidden size 32, two layers)
with its own tokenizer trained on a few hundred generated sentences, wrapped as
Transformer -> Pooling(mean) -> Normalize (optional), and saved as a full folder that
``SentenceTransformer(str(path))`` loads with ``HF_HUB_OFFLINE=1``. It weighs well under 1 MB.

Planted dimensions give exact expectations:

* ``dead_dims``: the last encoder layer's output LayerNorm gets weight 0 and bias 0 there, so
  every token vector, the mean-pooled vector and the normalized vector are exactly 0 there.
* ``constant_dims``: weight 0 and a non-zero bias there, so every token carries the same value
  and the pooled output never varies (up to float rounding), without being zero.

All other LayerNorm weights and biases are randomised (weights in [0.5, 1.5], biases ~ N(0, 0.1))
so that the model looks like a trained one to a weight scan (a freshly initialised LayerNorm has
weight 1 and bias 0 everywhere).

Optionally a ``Dense`` module follows the pooling (``dense_out``), with chosen rows of its
weight matrix set to 0 (``dense_zero_rows``), so those output dimensions ignore the input.

Usage::

    from tests.tiny_models import build_tiny_model
    path = build_tiny_model(tmp_path / "tiny", dead_dims=(3, 17))
    # SentenceTransformer(str(path)).encode(["a sentence"])[:, [3, 17]] == 0

torch, transformers, tokenizers and sentence_transformers are imported inside the functions.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

ARCHS = ("bert", "roberta", "mpnet")

_SUBJECTS = [
    "the cat",
    "a dog",
    "my neighbour",
    "the old teacher",
    "a small robot",
    "the committee",
    "our team",
    "the river",
    "a young pianist",
    "the market",
    "this model",
    "the weather",
    "a quiet village",
    "the new library",
    "every student",
    "the train",
    "a red balloon",
]
_VERBS = [
    "likes",
    "sees",
    "builds",
    "forgets",
    "paints",
    "measures",
    "follows",
    "explains",
    "ignores",
    "visits",
    "remembers",
    "carries",
    "describes",
    "finds",
    "sells",
]
_OBJECTS = [
    "the garden",
    "a long letter",
    "three apples",
    "the mountain",
    "an old map",
    "the city",
    "a strange noise",
    "the answer",
    "some bread",
    "the last chapter",
    "a bright star",
    "the blue door",
    "two questions",
    "the evening news",
    "a wooden chair",
    "the ocean",
]
_ENDINGS = [
    "today",
    "every morning",
    "without a word",
    "in the rain",
    "after lunch",
    "again",
    "with great care",
    "before noon",
    "at night",
    "quickly",
    "slowly",
    "on Sunday",
]


def tiny_corpus(n: int = 400, *, seed: int = 0) -> list[str]:
    """Generated English-like sentences (deterministic for a seed); also handy as a test corpus."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_ENDINGS)}"
        if rng.random() < 0.3:
            s += f", and {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
        out.append(s[0].upper() + s[1:] + rng.choice([".", "!", "?"]))
    return out


def _check_dims(name: str, dims: Iterable[int], hidden_size: int) -> list[int]:
    dims = sorted(set(int(d) for d in dims))
    bad = [d for d in dims if not 0 <= d < hidden_size]
    if bad:
        raise ValueError(f"{name} {bad} out of range for hidden_size={hidden_size}")
    return dims


def _train_tokenizer(arch: str, sentences: Sequence[str], vocab_size: int):
    """A small fast tokenizer: WordPiece for bert/mpnet, byte-level BPE for roberta."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if arch == "roberta":
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(sentences, trainer=trainer)
        bos, eos = "<s>", "</s>"
        names = dict(
            bos_token="<s>",
            eos_token="</s>",
            cls_token="<s>",
            sep_token="</s>",
            pad_token="<pad>",
            unk_token="<unk>",
            mask_token="<mask>",
        )
    else:
        if arch == "mpnet":
            specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
            bos, eos = "<s>", "</s>"
            names = dict(
                bos_token="<s>",
                eos_token="</s>",
                cls_token="<s>",
                sep_token="</s>",
                pad_token="<pad>",
                unk_token="<unk>",
                mask_token="<mask>",
            )
            unk = "<unk>"
        else:
            specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
            bos, eos = "[CLS]", "[SEP]"
            names = dict(
                cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]", mask_token="[MASK]"
            )
            unk = "[UNK]"
        tok = Tokenizer(models.WordPiece(unk_token=unk))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
        tok.train_from_iterator(sentences, trainer=trainer)

    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, tok.token_to_id(bos)), (eos, tok.token_to_id(eos))],
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=64, **names)
    return fast


def _hf_model(arch: str, *, vocab_size: int, pad_id: int, bos_id: int, eos_id: int, hidden_size: int, num_layers: int):
    import transformers

    common = dict(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4 if hidden_size % 4 == 0 else 1,
        intermediate_size=2 * hidden_size,
        pad_token_id=pad_id,
    )
    if arch == "bert":
        cfg = transformers.BertConfig(max_position_embeddings=64, **common)
        return transformers.BertModel(cfg)
    if arch == "roberta":
        cfg = transformers.RobertaConfig(
            max_position_embeddings=66, type_vocab_size=1, bos_token_id=bos_id, eos_token_id=eos_id, **common
        )
        return transformers.RobertaModel(cfg)
    if arch == "mpnet":
        cfg = transformers.MPNetConfig(max_position_embeddings=66, bos_token_id=bos_id, eos_token_id=eos_id, **common)
        return transformers.MPNetModel(cfg)
    raise ValueError(f"arch must be one of {ARCHS}, not {arch!r}")


def _final_norm(model, arch: str):
    """The LayerNorm whose output is the transformer's last hidden state."""
    return model.encoder.layer[-1].output.LayerNorm


def build_tiny_model(
    path: str | os.PathLike,
    *,
    arch: str = "bert",
    hidden_size: int = 32,
    num_layers: int = 2,
    dead_dims: Iterable[int] = (),
    constant_dims: Iterable[int] = (),
    normalize: bool = True,
    seed: int = 0,
    constant_value: float = 0.75,
    dense_out: int | None = None,
    dense_zero_rows: Iterable[int] = (),
    safe_serialization: bool = True,
) -> Path:
    """Build and save a tiny sentence-transformers model folder at ``path``; return the path.

    ``dead_dims`` / ``constant_dims`` are 0-based hidden dimensions (must be disjoint).
    ``constant_value`` is the bias planted at constant dims (alternating sign per dim).
    ``dense_out``: if set, a ``Dense(hidden_size -> dense_out, activation=Tanh)`` follows the
    pooling, and its weight rows ``dense_zero_rows`` are set to 0 (bias 0 too at even positions
    of that list, a non-zero bias at odd positions).
    ``safe_serialization=False`` leaves ``pytorch_model.bin`` files instead of ``model.safetensors``.
    """
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, not {arch!r}")
    dead = _check_dims("dead_dims", dead_dims, hidden_size)
    const = _check_dims("constant_dims", constant_dims, hidden_size)
    if set(dead) & set(const):
        raise ValueError(f"dead_dims and constant_dims overlap: {sorted(set(dead) & set(const))}")
    zero_rows = _check_dims("dense_zero_rows", dense_zero_rows, dense_out or 0) if dense_out else []

    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Pooling, Transformer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    sentences = tiny_corpus(400, seed=seed)
    tokenizer = _train_tokenizer(arch, sentences, vocab_size=500 if arch == "roberta" else 300)
    model = _hf_model(
        arch,
        vocab_size=len(tokenizer),
        pad_id=tokenizer.pad_token_id,
        bos_id=tokenizer.cls_token_id,
        eos_id=tokenizer.sep_token_id,
        hidden_size=hidden_size,
        num_layers=num_layers,
    )
    model.eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(0.5 + torch.rand(module.weight.shape, generator=gen))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
        norm = _final_norm(model, arch)
        for d in dead:
            norm.weight[d] = 0.0
            norm.bias[d] = 0.0
        for k, d in enumerate(const):
            norm.weight[d] = 0.0
            norm.bias[d] = constant_value if k % 2 == 0 else -constant_value

    with tempfile.TemporaryDirectory(prefix="dimscope-tiny-") as staging:
        model.save_pretrained(staging, safe_serialization=safe_serialization)
        tokenizer.save_pretrained(staging)
        transformer = Transformer(staging, max_seq_length=64)
        modules = [transformer, Pooling(hidden_size, pooling_mode="mean")]
        if dense_out:
            dense = Dense(hidden_size, dense_out, activation_function=torch.nn.Tanh())
            with torch.no_grad():
                dense.linear.weight.copy_(torch.randn(dense.linear.weight.shape, generator=gen) / hidden_size**0.5)
                dense.linear.bias.copy_(0.1 * torch.randn(dense.linear.bias.shape, generator=gen))
                for k, r in enumerate(zero_rows):
                    dense.linear.weight[r] = 0.0
                    dense.linear.bias[r] = 0.0 if k % 2 == 0 else 0.5
            modules.append(dense)
        if normalize:
            modules.append(Normalize())
        st = SentenceTransformer(modules=modules, device="cpu")
        st.save(str(path), safe_serialization=safe_serialization)
    if not safe_serialization:
        # transformers 5 writes safetensors regardless; convert to the legacy pickle format.
        for weights in list(path.rglob("model.safetensors")):
            _safetensors_to_bin(weights)

    meta = {
        "arch": arch,
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "dead_dims": dead,
        "constant_dims": const,
        "normalize": normalize,
        "seed": seed,
        "dense_out": dense_out,
        "dense_zero_rows": zero_rows,
    }
    (path / "tiny_model.json").write_text(json.dumps(meta, indent=1) + "\n")
    return path


def with_remote_code(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """A copy of the tiny BERT folder ``source`` at ``target`` whose model class is custom code.

    The copy's config.json gets ``auto_map`` entries and ``model_type: tinycode-bert``, with
    ``configuration_tinycode.py`` and ``modeling_tinycode.py`` at its root (subclasses of BERT's
    classes, so it encodes exactly like ``source``). transformers loads it only with
    ``trust_remote_code=True``, as on the hub.
    """
    import shutil

    source, target = Path(source), Path(target)
    shutil.copytree(source, target)
    (target / "configuration_tinycode.py").write_text(
        'from transformers import BertConfig\n\n\nclass TinyCodeConfig(BertConfig):\n    model_type = "tinycode-bert"\n'
    )
    (target / "modeling_tinycode.py").write_text(
        "from transformers import BertModel\n\nfrom .configuration_tinycode import TinyCodeConfig\n\n\n"
        "class TinyCodeModel(BertModel):\n    config_class = TinyCodeConfig\n"
    )
    config = json.loads((target / "config.json").read_text())
    config.update(
        auto_map={
            "AutoConfig": "configuration_tinycode.TinyCodeConfig",
            "AutoModel": "modeling_tinycode.TinyCodeModel",
        },
        model_type="tinycode-bert",
        architectures=["TinyCodeModel"],
    )
    (target / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    return target


def _safetensors_to_bin(weights: Path) -> Path:
    import torch
    from safetensors.torch import load_file

    target = weights.with_name("pytorch_model.bin")
    torch.save(load_file(str(weights)), str(target))
    weights.unlink()
    return target


class TinyModelFactory:
    """Builds tiny models under one base folder and reuses a folder for identical arguments.

    Meant for a session-scoped pytest fixture::

        @pytest.fixture(scope="session")
        def tiny_models(tmp_path_factory):
            return TinyModelFactory(tmp_path_factory.mktemp("tiny-models"))

        def test_x(tiny_models):
            path = tiny_models.get(arch="roberta", dead_dims=(1, 5))
    """

    def __init__(self, base: str | os.PathLike):
        self.base = Path(base)
        self._built: dict[str, Path] = {}

    def get(self, **kw) -> Path:
        key = json.dumps(
            {k: (list(v) if isinstance(v, (tuple, list, set)) else v) for k, v in sorted(kw.items())}, sort_keys=True
        )
        if key not in self._built:
            self._built[key] = build_tiny_model(self.base / f"model{len(self._built)}", **kw)
        return self._built[key]
