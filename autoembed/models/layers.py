"""Building blocks shared by the models: an MLP, FM's terms, multi-head self-attention."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from autoembed.embeddings.gather import gather_rows
from autoembed.models.attention_kernel import fused_attention
from autoembed.models.precision import Logit

DenseInit = Literal["torch", "xavier_normal"]


def init_dense(model: nn.Module, scheme: DenseInit, skip: str = "embedding") -> None:
    """Re-initialise every ``nn.Linear`` of ``model`` outside its ``skip`` submodule (the
    embedding method's own layers) by ``scheme``; ``"torch"`` keeps torch's default."""
    if scheme == "torch":
        return
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and name.split(".")[0] != skip:
            nn.init.xavier_normal_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


@dataclass
class DNNConfig:
    """The DNN tower's settings, shared by the models that have one."""

    dnn_hidden: tuple[int, ...] = field(default=(400, 400, 400), metadata={"help": "DNN hidden widths"})
    dropout: float = field(default=0.0, metadata={"help": "dropout after each hidden layer"})
    batch_norm: bool = field(default=False, metadata={"help": "batch norm after each hidden layer"})
    dense_init: DenseInit = field(default="torch", metadata={
        "help": "the model's dense layers: torch's default (Kaiming-uniform) or xavier_normal "
                "weights with zero biases (FuxiCTR's)"})

    def __post_init__(self) -> None:
        self.dnn_hidden = tuple(int(h) for h in self.dnn_hidden)
        if any(h < 1 for h in self.dnn_hidden):
            raise ValueError(f"dnn_hidden widths must be >= 1, got {self.dnn_hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class MLP(nn.Sequential):
    """``Linear -> [BatchNorm] -> ReLU -> [Dropout]`` per hidden layer, then a float32 linear
    output (``Logit``). The ReLU works in place: neither Linear's nor BatchNorm's backward reads
    its output, and a fresh ``[B, 400]`` buffer per layer cost ~5% of the DNN's CPU step
    (3x400 at batch 1024, one thread, measured with a scratch loop)."""

    def __init__(
        self,
        input_dim: int,
        hidden: tuple[int, ...],
        output_dim: int = 1,
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        layers: list[nn.Module] = []
        width = input_dim
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.ReLU(inplace=True))  # on the fresh Linear/BatchNorm output
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(Logit(width, output_dim))
        super().__init__(*layers)

    @classmethod
    def from_config(cls, input_dim: int, cfg: DNNConfig) -> MLP:
        return cls(input_dim, cfg.dnn_hidden, 1, cfg.dropout, cfg.batch_norm)


class FirstOrder(nn.Module):
    """Global bias plus one scalar weight per feature (``num_features x 1``).

    A model parameter, not an embedding: it is not counted in the method's parameters.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(num_features, 1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # [B, F] -> [B]
        return gather_rows(self.weight, ids).sum(dim=(1, 2)) + self.bias


def fm_pairwise(emb: torch.Tensor) -> torch.Tensor:
    """Sum over field pairs of ``<e_i, e_j>`` via ``0.5 * ((sum e)^2 - sum e^2)``: [B, F, D] -> [B]."""
    square_of_sum = emb.sum(dim=1).square()
    sum_of_square = emb.square().sum(dim=1)
    return 0.5 * (square_of_sum - sum_of_square).sum(dim=1)


class _ShortSoftmax(torch.autograd.Function):
    """``softmax(x * scale)`` over a short last dimension (bf16/fp16 input: in float32), from a few elementwise
    ops: torch's CPU softmax over a last dimension of 8 (AutoInt's fields) took 2.2 ms forward
    for [1024, 2, 8, 8] against ~0.25 ms for these ops (one thread); its backward as slow."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:  # type: ignore[override]
        x = x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
        y = torch.sub(x, x.amax(-1, keepdim=True)).mul_(scale).exp_()
        y = y.div_(y.sum(-1, keepdim=True))
        ctx.save_for_backward(y)
        ctx.scale = scale
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (y,) = ctx.saved_tensors
        gy = grad.to(y.dtype) * y  # d softmax: y * (grad - sum(grad * y)), times the scale
        return gy.sub_(y * gy.sum(-1, keepdim=True)).mul_(ctx.scale), None


def short_softmax(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``torch.softmax(x * scale, -1)`` in float32 (the same values up to rounding), fast for
    a short last dimension (see ``_ShortSoftmax``)."""
    return _ShortSoftmax.apply(x, scale)


class MultiHeadSelfAttention(nn.Module):
    """AutoInt's interacting layer: self-attention across fields, residual, ReLU.

    On CPU the attention is one fused kernel (``attention_kernel``, float32, either precision).
    Elsewhere, or where the kernel does not serve: in float32 torch's
    ``scaled_dot_product_attention``; under bf16 autocast two batched products (bf16) around a
    float32 ``short_softmax`` (sdpa in bf16 was 1.8x slower than in float32 on CPU)."""

    def __init__(
        self, input_dim: int, attention_dim: int, heads: int, residual: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if attention_dim % heads:
            raise ValueError(
                f"attention_dim ({attention_dim}) must be divisible by attention_heads ({heads})"
            )
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(input_dim, 3 * attention_dim, bias=False)
        self.residual = (
            (nn.Identity() if input_dim == attention_dim else nn.Linear(input_dim, attention_dim, bias=False))
            if residual
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, F, d_in] -> [B, F, attention_dim]
        b, f, _ = x.shape
        qkv = self.qkv(x)
        dropout = self.dropout if self.training else 0.0
        out = None if dropout else fused_attention(qkv, self.heads)
        if out is None:
            out = self._attention(qkv, dropout)
        if self.residual is not None:
            out = out + self.residual(x)  # a fresh tensor: the ReLU may overwrite it
            return torch.relu_(out)
        return torch.relu(out)  # out may be a view of the attention's output

    def _attention(self, qkv: torch.Tensor, dropout: float) -> torch.Tensor:
        """The attention from torch ops (where ``fused_attention`` does not serve)."""
        b, f, _ = qkv.shape
        q, k, v = qkv.view(b, f, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        if torch.is_autocast_enabled(qkv.device.type):
            weights = short_softmax(torch.matmul(q, k.transpose(-2, -1)), q.shape[-1] ** -0.5)
            out = torch.matmul(nn.functional.dropout(weights, dropout) if dropout else weights, v)
        else:
            out = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        return out.transpose(1, 2).reshape(b, f, -1)
