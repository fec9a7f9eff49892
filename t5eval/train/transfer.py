"""The T5 paper's transfer approaches (§3.5.1, Table 10): which parameters train when.

Task-head models (`apply_transfer`: BERT, T5's encoder with --head classify):
    all                 every parameter (BERT's and T5's default)
    frozen              feature-based: the pre-trained body frozen, only the task head trains
    adapters:D          t5's task adapter (`task_adapter.gin`): a residual sublayer x + dropout(dense-ReLU-dense(
                        rms_norm(x))) of inner size D after every block's feed-forward, no biases; only the
                        adapters (their norms included) and the head train (the paper: D in 32, 128, 512, 2048)
    adapters-houlsby:D  t5eval's earlier form: dense-ReLU-dense with biases inside the feed-forward sublayer,
                        Houlsby's near-identity init; adapters, every layer norm and the head train
    gradual-unfreezing  fine-tuning split into L episodes (L = number of blocks); in episode n (1-based) the
                        top n blocks train (the paper: 12 episodes of 2^18/12 steps, "layers 12 - n to 12"
                        in the nth). The head and pooler train throughout; the embeddings, which T5 shares
                        with its output layer and so always trains, join with the bottom block here (BERT's
                        head does not share them).

Text-to-text T5 (`apply_text_transfer`, the paper's own setting; called by `train.loop.finetune`):
    frozen              the decoder's last block, its final layer norm and the LM head train; a tied head
                        (v1.0) is untied first (`untie_head`), so the shared input embedding stays frozen
    adapters:D          the task adapter after every feed-forward of the encoder and the decoder; only the
                        adapters' variables train (`variable_filter = "task_adapter"`: kernels and norm scale)
    adapters-houlsby:D  the earlier form; adapters and every layer norm train ("only the adapter layer and layer
                        normalization parameters are updated", the paper's wording)
    gradual-unfreezing  encoder and decoder unfreeze "in parallel, starting from the top in both cases", one
                        more block per episode; the shared embedding / LM head ("we update them throughout")
                        and the final norms train throughout, the relative position biases join with block 0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from torch import nn

from t5eval.errors import T5evalError
from t5eval.model.adapters import add_adapters
from t5eval.model.heads import HeadModel

KINDS = ("all", "frozen", "adapters:D", "adapters-houlsby:D", "gradual-unfreezing")
ADAPTER_FORMS = {"adapters": "official", "adapters-houlsby": "houlsby"}  # --transfer prefix -> adapter form


@dataclass(frozen=True)
class Transfer:
    """A parsed --transfer value."""

    kind: str  # all | frozen | adapters | gradual-unfreezing
    adapter_dim: int = 0
    adapter_form: str = "official"  # official (task_adapter.gin) | houlsby (t5eval.model.adapters)

    @classmethod
    def parse(cls, text: str) -> Transfer:
        """'all', 'frozen', 'adapters:32', 'adapters-houlsby:32', 'gradual-unfreezing' (one-line error otherwise)."""
        from t5eval.errors import did_you_mean

        kind, _, dim = text.partition(":")
        if kind in ADAPTER_FORMS:
            if not dim.isdigit() or int(dim) < 1:
                raise T5evalError(f"--transfer {text}: the adapter size must be a positive integer, e.g. "
                                  f"{kind}:32 (the paper uses 32, 128, 512, 2048)")
            return cls("adapters", int(dim), ADAPTER_FORMS[kind])
        if dim or kind not in ("all", "frozen", "gradual-unfreezing"):
            raise T5evalError(f"--transfer {text!r} is not one of {', '.join(KINDS)}{did_you_mean(text, KINDS)}")
        return cls(kind)


def _blocks(body: nn.Module) -> nn.ModuleList:
    layers = getattr(body, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise T5evalError(f"--transfer: {type(body).__name__} has no list of blocks to adapt or unfreeze")
    return layers


def unfreeze_episode(step: int, total: int, episodes: int) -> int:
    """The episode (1 … `episodes`) of optimizer step `step` (0-based) of `total`: equal shares of the steps."""
    return min(episodes, step * episodes // max(total, 1) + 1)


def apply_transfer(model: HeadModel, transfer: Transfer, seed: int) -> Callable[[int, int], None] | None:
    """Set which parameters of `model` (a HeadModel: `body`, `out`) train; add adapters when asked.

    Returns, for gradual unfreezing, `at_step(step, total)` to call before each optimizer step; else None.
    """
    body: Any = model.body
    for param in model.parameters():
        param.requires_grad_(True)
    if transfer.kind == "all":
        return None
    if transfer.kind == "frozen":
        body.requires_grad_(False)
        return None
    blocks = _blocks(body)
    if transfer.kind == "adapters":  # official: only the adapters (norms included) and the head; houlsby: + all norms
        add_adapters(list(blocks), model.out.in_features, transfer.adapter_dim, seed, transfer.adapter_form)
        for name, param in body.named_parameters():
            param.requires_grad_(_adapter_trains(name, transfer.adapter_form))
        return None
    bottom = [m for m in (getattr(body, "embeddings", None), getattr(body, "relative_bias", None)) if m is not None]

    def at_step(step: int, total: int) -> None:
        episode = unfreeze_episode(step, total, len(blocks))
        for i, block in enumerate(blocks):
            block.requires_grad_(i >= len(blocks) - episode)
        for module in bottom:  # embeddings (and T5's relative position bias) join with the bottom block
            module.requires_grad_(episode == len(blocks))

    at_step(0, 1)
    return at_step


def _adapter_trains(name: str, form: str) -> bool:
    """Official: the adapter's own variables only (`variable_filter = "task_adapter"`); Houlsby: + every norm."""
    return ".adapter." in name or (form == "houlsby" and "norm" in name)


def trainable_count(model: nn.Module) -> int:
    """Parameters that receive gradients now."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- text-to-text T5 (the paper's own setting: its encoder-decoder, §3.5.1) ---

PAPER = "Raffel et al. 2020 §3.5.1 (Table 10)"


def check_text_transfer(model: nn.Module, text: str, steps: int, finetune: bool, distributed: bool) -> Transfer:
    """--transfer for a text-to-text run, refused (one line, before anything is written) where it means nothing."""
    from t5eval.model import T5

    transfer = Transfer.parse(text)
    if transfer.kind == "all":
        return transfer
    if not finetune:
        raise T5evalError(f"--transfer {text} chooses what fine-tuning trains; drop it (or --no-finetune)")
    if not isinstance(model, T5):
        raise T5evalError(f"--transfer {text} is defined for T5's encoder-decoder and for task heads (--head "
                          f"classify); a text-to-text {type(model).__name__} run trains all parameters: drop --transfer")
    if distributed:
        raise T5evalError(f"--transfer {text} fine-tunes in one process only (frozen parameters and a changing "
                          "set of them are not wired into DDP/FSDP here); run without torchrun")
    episodes = max(len(model.encoder_layers), len(model.decoder_layers))
    if transfer.kind == "gradual-unfreezing" and steps < episodes:
        raise T5evalError(f"--transfer gradual-unfreezing splits fine-tuning into {episodes} episodes (one per "
                          f"block) and needs --steps {episodes} or more, got {steps}")
    return transfer


def apply_text_transfer(model: Any, transfer: Transfer, seed: int, steps: int,
                        ) -> tuple[Callable[[int, int], None] | None, dict[str, Any]]:
    """Set which parameters of a text-to-text `T5` train; (gradual unfreezing's `at_step`, what run.json records).

    frozen: the decoder's last block, its final layer norm and the LM head train (a tied head is untied
    first: `untie_head`). adapters:D: the task adapter after every feed-forward of both stacks; only its
    variables train (adapters-houlsby:D: adapters and every layer norm). gradual-unfreezing: both stacks unfreeze in parallel from the top, one more
    block per episode; the shared embedding / LM head and the final norms train throughout.
    """
    for param in model.parameters():
        param.requires_grad_(True)
    record: dict[str, Any] = {"approach": transfer.kind, "source": PAPER}
    if transfer.kind == "all":
        return None, record | {"trains": "every parameter"}
    model.requires_grad_(False)
    if transfer.kind == "frozen":
        untied = untie_head(model)
        for module in (model.decoder_layers[-1], model.decoder_norm, model.lm_head):
            module.requires_grad_(True)
        last = len(model.decoder_layers) - 1
        return None, record | {"trains": [f"decoder_layers.{last}", "decoder_norm", "lm_head"], "lm_head": (
            "untied for this run: a copy of the shared embedding (v1.0's d_model**-0.5 output rescale folded into "
            "it) trains, so the embedding the encoder and decoder read stays frozen") if untied else "untied already"}
    if transfer.kind == "adapters":
        form = transfer.adapter_form
        add_adapters([*model.encoder_layers, *model.decoder_layers], model.config.d_model, transfer.adapter_dim,
                     seed, form)
        model.config = replace(model.config, adapter_dim=transfer.adapter_dim, adapter_form=form)  # saved with best/
        for name, param in model.named_parameters():
            param.requires_grad_(_adapter_trains(name, form))
        return None, record | {"adapter_dim": transfer.adapter_dim, "adapter_form": form} | ADAPTER_RECORD[form]
    return _gradual_unfreezing(model, steps, record)


ADAPTER_RECORD = {
    "official": {"trains": "only the adapters (their RMS norm included), as task_adapter.gin's variable_filter",
                 "where": "a residual sublayer of its own, x + dropout(wo(dropout(relu(wi(rms_norm(x)))))), after the "
                          "feed-forward sublayer of every encoder and decoder block; no biases (t5eval.model.adapters)"},
    "houlsby": {"trains": "adapters and every layer norm",
                "where": "after the feed-forward sublayer of every encoder and decoder block, before its dropout and "
                         "residual; biases, Houlsby's init (t5eval.model.adapters)"},
}


def _gradual_unfreezing(model: Any, steps: int, record: dict[str, Any]) -> tuple[Callable[[int, int], None], dict]:
    stacks = {"encoder": model.encoder_layers, "decoder": model.decoder_layers}
    episodes = max(len(blocks) for blocks in stacks.values())
    always = (model.shared, model.lm_head, model.encoder_norm, model.decoder_norm)

    def at_step(step: int, total: int) -> None:
        episode = unfreeze_episode(step, total, episodes)
        for blocks in stacks.values():
            for i, block in enumerate(blocks):
                block.requires_grad_(i >= len(blocks) - episode)
        for bias in (model.encoder_bias, model.decoder_bias):  # stored with block 0 in HF's layout
            bias.requires_grad_(episode == episodes)
        for module in always:
            module.requires_grad_(True)

    at_step(0, steps)
    schedule = [{"episode": e, "first_step": -(-(e - 1) * steps // episodes) + 1, "last_step": -(-e * steps // episodes),
                 **{f"{name}_blocks": list(range(max(len(blocks) - e, 0), len(blocks))) for name, blocks in stacks.items()}}
                for e in range(1, episodes + 1)]
    return at_step, record | {
        "episodes": schedule, "throughout": ["shared (the embedding, tied to the LM head in v1.0)", "lm_head",
                                             "encoder_norm", "decoder_norm"],
        "with_the_bottom_block": ["encoder_bias", "decoder_bias"],
        "paper": "12 episodes of 2^18/12 steps; layers 12-n to 12 of encoder and decoder in parallel in the nth"}


def untie_head(model: Any) -> bool:
    """A tied LM head (T5 v1.0) becomes its own parameter, a copy of the shared embedding, with the v1.0 output
    rescale (d_model**-0.5) folded into it so the function is unchanged and the config an ordinary untied one
    (transformers reads it the same way). Returns whether anything was untied."""
    cfg = model.config
    if not cfg.tie_word_embeddings:
        return False
    scale = cfg.d_model ** -0.5 if cfg.scale_decoder_outputs else 1.0
    model.lm_head.weight = nn.Parameter(model.shared.weight.detach() * scale)
    model.config = replace(cfg, tie_word_embeddings=False, scale_decoder_outputs=False)
    return True
