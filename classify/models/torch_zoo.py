"""Torch classifier zoo: convolutional trunk + global average pool + linear head.

Every network is a :class:`TrunkNet`: ``trunk(x)`` -> feature map ``(B, C, h, w)``,
``forward_features(x)`` -> pooled features ``(B, C)``, ``forward(x)`` -> logits
``(B, num_classes)``. ``num_classes=0`` removes the head (``forward`` returns the pooled
features), timm-style, which is how the ``<backbone>+svm/rf`` compositions get features.

For the torchvision architectures the trunk is the ImageNet network without its
classifier; AlexNet and VGG16 lose their 4096-wide fully connected layers (a global
pool + linear head replaces them, as in timm's ``reset_classifier``), which keeps them
trainable on ~150 crops and at 64-128 px input. ``vgg16`` uses the batch-norm variant
(``vgg16_bn``) because plain VGG16 does not train from scratch on this little data.

Pretrained ImageNet weights are used when ``pretrained=True`` and they can be obtained
(local torch hub cache, or a download that is checked first with a 3 s connection
probe); otherwise the model is built from scratch with ONE loud warning per process.
Declared offline (``LEUKOSCAN_OFFLINE=1``, see :mod:`leukoscan.offline`) skips the probe.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import torch
from torch import nn

from leukoscan.offline import offline, reachable

_WARNED = False

# name -> (torchvision builder name, weights enum name)
TV_MODELS: dict[str, tuple[str, str]] = {
    "alexnet": ("alexnet", "AlexNet_Weights"),
    "resnet18": ("resnet18", "ResNet18_Weights"),
    "resnet50": ("resnet50", "ResNet50_Weights"),
    "googlenet": ("googlenet", "GoogLeNet_Weights"),
    "vgg16": ("vgg16_bn", "VGG16_BN_Weights"),
    "shufflenet_v2": ("shufflenet_v2_x1_0", "ShuffleNet_V2_X1_0_Weights"),
    "mobilenet_v2": ("mobilenet_v2", "MobileNet_V2_Weights"),
}


class TrunkNet(nn.Module):
    """``trunk`` -> global average pool -> dropout -> linear head (none if num_classes=0)."""

    def __init__(self, trunk: nn.Module, num_features: int, num_classes: int, drop: float = 0.2):
        super().__init__()
        self.trunk = trunk
        self.num_features = num_features
        self.num_classes = num_classes
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = (
            nn.Sequential(nn.Dropout(drop), nn.Linear(num_features, num_classes)) if num_classes > 0 else nn.Identity()
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.trunk(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


class CnnRnn(nn.Module):
    """CNN feature map read as a sequence by a bidirectional LSTM/GRU (after the seed's hybrid).

    The ``(B, C, h, w)`` map of a small CNN is read row-major as ``h * w`` steps of ``C``
    features; the final forward and backward hidden states ``(B, 2 * hidden)`` are the
    features, followed by a linear head.
    """

    def __init__(self, num_classes: int, rnn: str = "lstm", hidden: int = 64, width: int = 16):
        super().__init__()
        self.trunk = small_cnn_trunk(width)
        cls = {"lstm": nn.LSTM, "gru": nn.GRU}[rnn]
        self.rnn = cls(width * 4, hidden, batch_first=True, bidirectional=True)
        self.num_features = 2 * hidden
        self.num_classes = num_classes
        self.head = (
            nn.Sequential(nn.Dropout(0.2), nn.Linear(2 * hidden, num_classes)) if num_classes > 0 else nn.Identity()
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        fmap = self.trunk(x)  # (B, C, h, w)
        seq = fmap.flatten(2).transpose(1, 2)  # (B, h*w, C)
        _, state = self.rnn(seq)
        h_n = state[0] if isinstance(state, tuple) else state  # (2, B, hidden)
        return torch.cat([h_n[0], h_n[1]], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


def small_cnn_trunk(width: int = 32) -> nn.Sequential:
    """4 double-conv blocks (width, 2w, 4w, 4w channels), each halving the resolution."""
    w = width
    return nn.Sequential(_block(3, w), _block(w, 2 * w), _block(2 * w, 4 * w), _block(4 * w, 4 * w))


def online(timeout: float = 3.0) -> bool:
    """True unless declared offline (:func:`leukoscan.offline.offline`) or download.pytorch.org
    does not answer within ``timeout`` s (probed once per process)."""
    return not offline() and reachable("download.pytorch.org", timeout=timeout)


def _warn_scratch(name: str, why: str) -> None:
    global _WARNED
    if not _WARNED:
        _WARNED = True
        warnings.warn(
            f"ImageNet weights unavailable ({why}): building {name} and every further model "
            "in this process FROM SCRATCH (random init). Expect lower accuracy.",
            RuntimeWarning,
            stacklevel=3,
        )


def _weights_cached(weights) -> bool:
    from torch.hub import get_dir

    fname = os.path.basename(weights.url)
    return os.path.isfile(os.path.join(get_dir(), "checkpoints", fname))


def imagenet_weights(name: str, pretrained: bool):
    """The torchvision weights enum member to use, or None (from scratch, warned once)."""
    if not pretrained:
        return None
    import torchvision.models as tvm

    weights = getattr(tvm, TV_MODELS[name][1]).IMAGENET1K_V1
    if _weights_cached(weights):
        return weights
    if not online():
        _warn_scratch(name, "offline and not in the torch hub cache")
        return None
    return weights


def _tv_trunk(name: str, weights) -> tuple[nn.Module, int]:
    import torchvision.models as tvm

    builder = getattr(tvm, TV_MODELS[name][0])
    try:
        if name == "googlenet":
            m = (
                builder(weights=weights, aux_logits=False, init_weights=weights is None)
                if weights is None
                else builder(weights=weights)
            )
        else:
            m = builder(weights=weights)
    except Exception as e:  # download failure after a positive probe
        if weights is None:
            raise
        _warn_scratch(name, f"download failed: {e}")
        return _tv_trunk(name, None)
    if name.startswith("resnet"):
        return nn.Sequential(*list(m.children())[:-2]), m.fc.in_features
    if name == "googlenet":
        m.aux_logits, m.aux1, m.aux2 = False, None, None
        keep = [c for n, c in m.named_children() if n not in ("avgpool", "dropout", "fc", "aux1", "aux2")]
        return nn.Sequential(*keep), 1024
    if name == "shufflenet_v2":
        return nn.Sequential(m.conv1, m.maxpool, m.stage2, m.stage3, m.stage4, m.conv5), 1024
    if name == "mobilenet_v2":
        return m.features, 1280
    return m.features, (256 if name == "alexnet" else 512)  # alexnet, vgg16_bn


def build_net(name: str, *, num_classes: int = 2, pretrained: bool = True, **kw) -> nn.Module:
    """Build zoo network ``name`` (see :data:`NET_NAMES`); ``num_classes=0`` -> feature extractor."""
    if name == "cnn":
        width = int(kw.get("width", 16))
        return TrunkNet(small_cnn_trunk(width), 4 * width, num_classes)
    if name == "cnn_rnn":
        return CnnRnn(num_classes, rnn=kw.get("rnn", "lstm"), hidden=int(kw.get("hidden", 64)))
    if name not in TV_MODELS:
        raise ValueError(f"Unknown network {name!r}. Valid: {', '.join(NET_NAMES)}")
    trunk, nf = _tv_trunk(name, imagenet_weights(name, pretrained))
    return TrunkNet(trunk, nf, num_classes)


NET_NAMES: tuple[str, ...] = ("cnn", *TV_MODELS, "cnn_rnn")
PRETRAINABLE: Callable[[str], bool] = lambda n: n in TV_MODELS  # noqa: E731
